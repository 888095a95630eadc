"""The study against an adversarial participant: blinding, ballot stuffing, oversized bodies, CSRF, framing,
locks, exports and creation. Each test is one finding of an outside security probe, and failed before the fix."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import stat
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from persistworld.errors import PersistWorldError
from persistworld.study.app import COOKIE, create_app
from persistworld.study.create import DATABASE_FILE, create_study
from persistworld.study.store import StudyStore
from study.conftest import TOKEN, running_server, synthetic_study


def participant(app) -> TestClient:
    client = TestClient(app)
    assert client.get("/").status_code == 200 and COOKIE in client.cookies
    return client


def left_is_a(study: Path, trial: str) -> bool:
    with sqlite3.connect(study / DATABASE_FILE) as db:
        return bool(db.execute("SELECT left_is_a FROM trials WHERE id = ?", (trial,)).fetchone()[0])


def test_nothing_a_participant_observes_besides_the_pictures_predicts_the_side(video_study: Path):
    """The ETag attack and its relatives: collect every header and size of every video over many trials."""
    app = create_app(video_study)
    observations = []  # (left's observables, right's observables, whether left is model A)
    for _ in range(12):
        client = participant(app)
        for _ in range(2):
            trial = client.get("/api/next").json()["trial"]
            seen = {}
            for side in ("left", "right"):
                response = client.get(f"/media/{trial[side]}")
                assert response.status_code == 200
                headers = {k: v for k, v in response.headers.items() if k != "date"}
                seen[side] = headers | {"name": trial[side].split("/", 1)[1], "bytes": str(len(response.content))}
            observations.append((seen["left"], seen["right"], left_is_a(video_study, trial["id"])))
            assert client.post("/api/vote", json={"trial": trial["id"], "choice": "tie"}).status_code == 200
    sides = [is_a for *_, is_a in observations]
    assert 0 < sum(sides) < len(sides)  # both assignments occurred, so a leak would have shown
    for left, right, _ in observations:
        assert "etag" not in left and "last-modified" not in left
        # Every observable but the name slot is identical on both sides, so no rule on them can beat chance
        # (the name only says "left" or "right", which the participant knows anyway).
        differs = {k for k in left.keys() | right.keys() if left.get(k) != right.get(k)}
        assert differs == {"name"}, differs
    # On disk too: one size and one modification time for the three videos of each pair.
    with sqlite3.connect(video_study / DATABASE_FILE) as db:
        for files in db.execute("SELECT truth, a, b FROM pairs"):
            stats = [(video_study / "media" / f).stat() for f in files]
            assert len({s.st_size for s in stats}) == 1 and len({s.st_mtime for s in stats}) == 1


def test_padded_videos_still_decode_to_the_same_frames(video_study: Path, evaluations):
    from persistworld.data.video import read_video

    results = json.loads((evaluations[0] / "results.json").read_text())
    original = evaluations[0] / results["videos"][0]["single"]["ground truth"]
    with sqlite3.connect(video_study / DATABASE_FILE) as db:
        episode, truth = db.execute("SELECT episode, truth FROM pairs ORDER BY id LIMIT 1").fetchone()
    assert episode == results["videos"][0]["episode"]
    padded = video_study / "media" / truth
    assert padded.stat().st_size > original.stat().st_size
    assert (read_video(padded) == read_video(original)).all()


def test_invitations_stop_scripted_ballot_stuffing(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=3, per_participant=3, admission="invite")
    app = create_app(study)
    for _ in range(20):  # the attack: fresh cookies, as fast as possible
        stranger = TestClient(app)
        assert stranger.get("/").status_code == 403 and COOKIE not in stranger.cookies
        assert stranger.get("/api/next").status_code == 401
        assert stranger.post("/api/vote", json={"trial": "x" * 16, "choice": "right"}).status_code == 401
    codes = StudyStore(study / DATABASE_FILE).add_invites(2)
    voters = []
    for code in codes:
        client = TestClient(app)
        response = client.get(f"/?invite={code}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "./" and COOKIE in client.cookies
        assert client.get("/").status_code == 200  # the cookie now admits them
        trial = client.get("/api/next").json()["trial"]
        assert client.post("/api/vote", json={"trial": trial["id"], "choice": "right"}).status_code == 200
        voters.append(client)
    reused = TestClient(app)
    assert reused.get(f"/?invite={codes[0]}").status_code == 403 and COOKIE not in reused.cookies
    assert TestClient(app).get("/?invite=made-up-code").status_code == 403
    summary = TestClient(app).get(f"/owner/results.json?token={TOKEN}").json()["participants"]
    assert summary["admitted"] == 2 and summary["with_votes"] == 2
    assert (summary["invites_issued"], summary["invites_used"]) == (2, 2)
    assert [row["votes"] for row in summary["votes_per_participant"]] == [1, 1]
    page = TestClient(app).get(f"/owner?token={TOKEN}").text
    assert "2 participants admitted (by invitation, 2 of 2 invitations used), 2 of them voted" in page


def test_open_enrolment_is_rate_limited(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=2, per_participant=2, new_participants_per_minute=5)
    now = [1000.0]
    app = create_app(study, clock=lambda: now[0])
    statuses = [TestClient(app).get("/").status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    assert TestClient(app).get("/").headers["retry-after"] == "60"
    now[0] += 60  # a minute later the bucket is full again
    assert [TestClient(app).get("/").status_code for _ in range(6)] == [200] * 5 + [429]
    assert StudyStore(study / DATABASE_FILE).participant_count() == 10


def test_the_cli_issues_invitations_that_admit_one_participant_each(tmp_path: Path):
    from typer.testing import CliRunner

    from persistworld.cli import app as cli

    study = synthetic_study(tmp_path / "study", pairs=1, per_participant=1, admission="invite")
    result = CliRunner().invoke(cli, ["study", "invite", str(study), "--count", "3", "--url", "https://x.org/s"])
    assert result.exit_code == 0, result.output
    links = result.output.split()
    assert len(links) == 3 and all(link.startswith("https://x.org/s/?invite=") for link in links)
    app = create_app(study)
    for link in links:
        assert TestClient(app).get("/" + link.split("/", 4)[-1], follow_redirects=False).status_code == 303


def test_votes_before_the_minimum_viewing_time_are_refused(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=2, per_participant=2, min_view_seconds=30.0)
    client = participant(create_app(study))
    trial = client.get("/api/next").json()["trial"]
    assert 29 < trial["wait_seconds"] <= 30
    early = client.post("/api/vote", json={"trial": trial["id"], "choice": "left"})
    assert early.status_code == 425 and 29 < early.json()["retry_after"] <= 30 and early.headers["retry-after"] == "30"
    with sqlite3.connect(study / DATABASE_FILE) as db:  # half a minute later
        db.execute("UPDATE trials SET served = ? WHERE id = ?", (time.time() - 31, trial["id"]))
    assert client.get("/api/next").json()["trial"]["wait_seconds"] == 0
    assert client.post("/api/vote", json={"trial": trial["id"], "choice": "left"}).status_code == 200


def test_a_chunked_oversized_body_is_cut_off_without_being_read(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=1, per_participant=1)
    sent = [0]

    def body():  # 200 MB in 64 KB chunks, without a Content-Length (chunked transfer encoding)
        chunk = b"x" * 65536
        for _ in range(3200):
            sent[0] += len(chunk)
            yield chunk

    def peak_resident_mb(pid: int) -> float:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    with running_server(study) as (url, process):
        client = httpx.Client(base_url=url, timeout=30)
        client.get("/")
        before = peak_resident_mb(process.pid)
        try:
            status = client.post("/api/vote", content=body(), headers={"content-type": "application/json"}).status_code
        except httpx.TransportError:  # the server answered 413 and closed while we were still sending
            status = 413
        grown = peak_resident_mb(process.pid) - before
        assert client.get("/api/next").status_code == 200  # and it still serves
    assert status == 413
    assert grown < 20, f"the server's peak memory grew by {grown:.0f} MB"
    assert sent[0] < 64 * 2**20, f"the client sent {sent[0] / 2**20:.0f} MB before being cut off"


def test_writes_need_json_from_the_study_origin(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=2, per_participant=2)
    client = participant(create_app(study))
    trial = client.get("/api/next").json()["trial"]["id"]
    vote = json.dumps({"trial": trial, "choice": "left"})
    as_form = client.post("/api/vote", content=vote, headers={"content-type": "text/plain"})
    assert as_form.status_code == 415  # what a cross-site <form> can send without a preflight
    foreign = client.post(
        "/api/vote", content=vote, headers={"content-type": "application/json", "origin": "http://127.0.0.1:9999"}
    )
    assert foreign.status_code == 403
    cross_site = client.post(
        "/api/vote", content=vote, headers={"content-type": "application/json", "sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403
    own = client.post(
        "/api/vote", content=vote, headers={"content-type": "application/json", "origin": "http://testserver"}
    )
    assert own.status_code == 200


def test_every_response_forbids_framing_and_owner_responses_are_not_stored(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=1, per_participant=1)
    app = create_app(study)
    client = participant(app)
    responses = {
        "page": client.get("/"),
        "api": client.get("/api/next"),
        "missing": client.get("/media/nothing"),
        "owner": client.get(f"/owner?token={TOKEN}"),
        "owner json": client.get("/owner/results.json", headers={"Authorization": f"Bearer {TOKEN}"}),
        "refused": client.get("/owner"),
    }
    with sqlite3.connect(study / DATABASE_FILE) as db:
        db.execute("DROP TABLE votes")  # a vote now fails inside the server: a 500
    failing = TestClient(app, raise_server_exceptions=False, cookies=client.cookies)
    trial = responses["api"].json()["trial"]["id"]
    responses["server error"] = failing.post("/api/vote", json={"trial": trial, "choice": "left"})
    assert responses["server error"].status_code == 500
    for name, response in responses.items():
        assert response.headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        assert response.headers["x-content-type-options"] == "nosniff", name
    for name in ("owner", "owner json", "refused"):
        assert responses[name].headers["cache-control"] == "no-store", name
    # /owner/ is not redirected with the token in Location
    slash = client.get(f"/owner/?token={TOKEN}", follow_redirects=False)
    assert slash.status_code == 404 and TOKEN not in slash.headers.get("location", "")


def test_the_owner_page_export_link_works_with_bearer_auth_and_never_carries_the_token(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=1, per_participant=1)
    app = create_app(study)
    voter = participant(app)
    trial = voter.get("/api/next").json()["trial"]["id"]
    voter.post("/api/vote", json={"trial": trial, "choice": "left"})
    owner = TestClient(app)
    page = owner.get("/owner", headers={"Authorization": f"Bearer {TOKEN}"}).text
    link = page.split('id="export" href="')[1].split('"')[0].replace("&amp;", "&")
    assert TOKEN not in link and "signature=" in link
    export = TestClient(app).get("/" + link)
    assert export.status_code == 200 and len(list(csv.DictReader(io.StringIO(export.text)))) == 1
    assert TestClient(app).get("/" + link.replace("signature=", "signature=0")).status_code == 403
    expired = link.split("expires=")[0] + "expires=1&signature=" + link.split("signature=")[1]
    assert TestClient(app).get("/" + expired).status_code == 403


def test_exports_neutralise_formulas_and_hold_no_live_cookie(tmp_path: Path):
    study = synthetic_study(
        tmp_path / "study",
        pairs=0,
        per_participant=2,
        models={"a": {"name": '=HYPERLINK("http://x")'}, "b": {"name": "+SUM(1)"}},
    )
    StudyStore(study / DATABASE_FILE).add_pairs([("-2+3", "t", "a", "b"), ("@SUM(A1)", "t", "a", "b")])
    app = create_app(study)
    client = participant(app)
    for _ in range(2):
        trial = client.get("/api/next").json()["trial"]["id"]
        client.post("/api/vote", json={"trial": trial, "choice": "left"})
    text = TestClient(app).get(f"/owner/export.csv?token={TOKEN}").text
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert len(rows) == 2
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    assert {row[3] for row in rows} == {"'-2+3", "'@SUM(A1)"}
    cookie = client.cookies[COOKIE]
    assert cookie not in text and len({row[1] for row in rows}) == 1  # a stable keyed hash instead


def test_a_locked_database_gives_503_quickly_and_reads_still_work(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=2, per_participant=2)
    app = create_app(study, busy_timeout=0.2)
    client = participant(app)
    trial = client.get("/api/next").json()["trial"]["id"]
    locker = sqlite3.connect(study / DATABASE_FILE, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        started = time.perf_counter()
        response = client.post("/api/vote", json={"trial": trial, "choice": "left"})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert time.perf_counter() - started < 5
        assert client.get(f"/owner/results.json?token={TOKEN}").status_code == 200  # read-only: no write lock
        assert client.get("/").status_code == 200
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert client.post("/api/vote", json={"trial": trial, "choice": "left"}).status_code == 200


def test_progress_counts_the_pairs_a_participant_can_get(tmp_path: Path):
    client = participant(create_app(synthetic_study(tmp_path / "study", pairs=2, per_participant=10)))
    assert client.get("/api/next").json()["progress"] == {"voted": 0, "total": 2}


def test_create_copies_only_videos_inside_the_evaluation_folder(evaluations, tmp_path: Path):
    a, b = evaluations
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not a video of the study")
    for path in (str(outside), "../secret.mp4"):
        forged = tmp_path / f"forged{len(path)}"
        forged.mkdir()
        results = json.loads((a / "results.json").read_text())
        results["videos"][0]["single"]["ground truth"] = path
        (forged / "results.json").write_text(json.dumps(results))
        with pytest.raises(PersistWorldError, match="points outside the evaluation folder"):
            create_study(forged, b, tmp_path / "study")
        assert not (tmp_path / "study").exists()


def test_the_study_folder_and_database_are_the_owners_alone(video_study: Path):
    assert stat.S_IMODE(video_study.stat().st_mode) == 0o700
    assert stat.S_IMODE((video_study / DATABASE_FILE).stat().st_mode) == 0o600
