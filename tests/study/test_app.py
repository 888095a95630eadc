"""The study app through its HTTP API: the voting flow, refusals, security and the owner's results."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from persistworld.cli import app as cli
from persistworld.errors import PersistWorldError
from persistworld.study.app import COOKIE, create_app
from persistworld.study.create import create_study
from persistworld.study.store import StudyStore
from study.conftest import TOKEN, synthetic_study


def participant(app) -> TestClient:
    client = TestClient(app)
    assert client.get("/").status_code == 200 and COOKIE in client.cookies
    return client


def test_create_copies_videos_under_opaque_names_and_keeps_only_the_token_hash(video_study: Path):
    study = json.loads((video_study / "study.json").read_text())
    assert study["models"]["a"]["name"] == "baseline" and study["models"]["b"]["name"] == "perturbed"
    assert study["episodes"] == ["200000", "200001"] and TOKEN not in (video_study / "study.json").read_text()
    media = sorted(p.name for p in (video_study / "media").iterdir())
    assert len(media) == 6 and all(len(name) == 36 and name.endswith(".mp4") for name in media)


def test_a_participant_votes_on_every_pair_once_then_is_done(video_study: Path):
    client = participant(create_app(video_study))
    seen = set()
    for choice in ("left", "tie"):
        data = client.get("/api/next").json()
        assert not data["done"] and data["trial"]["truth"] != data["trial"]["left"] != data["trial"]["right"]
        assert client.get("/api/next").json()["trial"] == data["trial"]  # an open trial is served again, not a new one
        seen.add(data["trial"]["id"])
        assert client.get(f"/media/{data['trial']['left']}").headers["content-type"] == "video/mp4"
        assert client.post("/api/vote", json={"trial": data["trial"]["id"], "choice": choice}).status_code == 200
    final = client.get("/api/next").json()
    assert final["done"] and final["progress"] == {"voted": 2, "total": 2} and len(seen) == 2


def test_votes_that_must_be_refused_are_refused(video_study: Path):
    app = create_app(video_study)
    alice, bob = participant(app), participant(app)
    trial = alice.get("/api/next").json()["trial"]["id"]
    assert TestClient(app).post("/api/vote", json={"trial": trial, "choice": "left"}).status_code == 401
    assert bob.post("/api/vote", json={"trial": trial, "choice": "left"}).status_code == 403  # served to alice
    assert alice.post("/api/vote", json={"trial": "made-up", "choice": "left"}).status_code == 403
    assert alice.post("/api/vote", json={"trial": trial, "choice": "left"}).status_code == 200
    assert alice.post("/api/vote", json={"trial": trial, "choice": "right"}).status_code == 409  # no double count
    owner = TestClient(app).get(f"/owner/results.json?token={TOKEN}").json()
    assert owner["overall"]["votes"] == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b"{", b'{"trial": 5, "choice": "left"}', b'{"trial": "x", "choice": "up"}',
     b'{"trial": "' + b"x" * 100 + b'", "choice": "left"}', "{\"trial\": \"\u00e9\"}".encode(), b"\xff\xfe\x00",
     b'{"trial": "x", "choice": "left", "extra": ' + b"1" * 5000 + b"}"],
)  # fmt: skip
def test_malformed_and_oversized_requests_get_4xx_never_500(video_study: Path, body: bytes):
    client = participant(create_app(video_study))
    status = client.post("/api/vote", content=body, headers={"content-type": "application/json"}).status_code
    assert 400 <= status < 500, (body[:40], status)
    assert status == (413 if len(body) > 4096 else 422)


def test_no_path_traversal_through_media_urls(video_study: Path):
    client = TestClient(create_app(video_study))
    for name in ["../study.json", "..%2Fstudy.json", "%2e%2e%2fstudy.sqlite", "....//study.json", "study.json",
                 "0" * 32 + ".mp4", "/etc/passwd", "..\\study.json", "media"]:  # fmt: skip
        response = client.get(f"/media/{name}")
        assert response.status_code == 404, name
        assert b"owner_token" not in response.content and b"SQLite" not in response.content
    assert client.get("/media/../study.json").status_code == 404
    assert client.get("/study.json").status_code == 404


def test_owner_pages_need_the_token_and_show_correct_counts(video_study: Path):
    app = create_app(video_study)
    for path in ("/owner", "/owner/export.csv", "/owner/results.json"):
        assert TestClient(app).get(path).status_code == 403
        assert TestClient(app).get(f"{path}?token=wrong-token-123").status_code == 403
    choices = {}
    for choice in ("left", "right"):
        client = participant(app)
        for _ in range(2):
            trial = client.get("/api/next").json()["trial"]
            client.post("/api/vote", json={"trial": trial["id"], "choice": choice})
            choices[trial["id"]] = choice
    owner = TestClient(app)
    page = owner.get("/owner", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and "baseline" in page.text and "perturbed" in page.text
    rows = list(csv.DictReader(io.StringIO(owner.get(f"/owner/export.csv?token={TOKEN}").text)))
    assert len(rows) == 4 and {r["trial"] for r in rows} == set(choices)
    for row in rows:  # the hidden assignment decodes the vote: preferred = the model shown on the chosen side
        other = "perturbed" if row["left_model"] == "baseline" else "baseline"
        assert row["preferred"] == (row["left_model"] if row["choice"] == "left" else other)
    results = owner.get(f"/owner/results.json?token={TOKEN}").json()
    prefer_b = sum(r["preferred"] == "perturbed" for r in rows)
    assert (results["overall"]["prefer_b"], results["overall"]["prefer_a"]) == (prefer_b, 4 - prefer_b)


def test_pairs_are_balanced_over_participants(tmp_path: Path):
    app = create_app(synthetic_study(tmp_path / "study", pairs=4, per_participant=2))
    counts: dict[str, int] = {}
    for _ in range(6):  # 6 participants x 2 pairs = 12 trials over 4 pairs: 3 each
        client = participant(app)
        for _ in range(2):
            trial = client.get("/api/next").json()["trial"]
            client.post("/api/vote", json={"trial": trial["id"], "choice": "tie"})
        assert client.get("/api/next").json()["done"]
    with StudyStore(tmp_path / "study" / "study.sqlite").transaction() as db:
        for pair, n in db.execute("SELECT pair, COUNT(*) FROM trials GROUP BY pair"):
            counts[pair] = n
    assert sorted(counts.values()) == [3, 3, 3, 3]


def test_create_refuses_mismatched_evaluations_and_cli_prints_the_token(evaluations, tmp_path: Path):
    a, b = evaluations
    with pytest.raises(PersistWorldError, match="no model named `nope`"):
        create_study(a, b, tmp_path / "x", model_a="nope")
    results = json.loads((b / "results.json").read_text())
    results["seed"] = 7
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps(results))
    with pytest.raises(PersistWorldError, match="differ in `seed`"):
        create_study(a, other, tmp_path / "y")
    assert not (tmp_path / "y").exists()
    result = CliRunner().invoke(cli, ["study", "create", "--a", str(a), "--b", str(b), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "owner token" in result.output and (tmp_path / "s" / "study.sqlite").is_file()
