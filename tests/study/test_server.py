"""The study server under real HTTP on 127.0.0.1: concurrent votes, a kill mid-voting, and the pages in Chromium."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from pathlib import Path

import httpx

from persistworld.study.app import COOKIE
from study.conftest import TOKEN, running_server, synthetic_study

PARTICIPANTS, VOTES_EACH = 20, 10


def vote_all(url: str, acknowledged: list[str], errors: list[str], stop: threading.Event | None = None) -> None:
    """One participant: open the page, then vote on every pair served (bounded: VOTES_EACH + 1 requests)."""
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/")
            for _ in range(VOTES_EACH):
                if stop is not None and stop.is_set():
                    return
                data = client.get("/api/next").json()
                if data["done"]:
                    return
                response = client.post("/api/vote", json={"trial": data["trial"]["id"], "choice": "left"})
                if response.status_code == 200:
                    acknowledged.append(data["trial"]["id"])
                else:
                    errors.append(f"{response.status_code} {response.text}")
    except (httpx.TransportError, ValueError) as error:  # the server was killed under us
        errors.append(type(error).__name__)


def run_participants(url: str, stop: threading.Event | None = None) -> tuple[list[str], list[str]]:
    acknowledged: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=vote_all, args=(url, acknowledged, errors, stop)) for _ in range(PARTICIPANTS)]
    for thread in threads:
        thread.start()
    return acknowledged, errors, threads  # type: ignore[return-value]


def test_200_concurrent_votes_from_20_participants_lose_none_and_count_none_twice(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=VOTES_EACH, per_participant=VOTES_EACH)
    with running_server(study) as (url, _):
        acknowledged, errors, threads = run_participants(url)
        for thread in threads:
            thread.join(timeout=120)
        results = httpx.get(f"{url}/owner/results.json?token={TOKEN}").json()
    assert errors == [] and len(acknowledged) == PARTICIPANTS * VOTES_EACH == 200
    assert results["overall"]["votes"] == 200
    with sqlite3.connect(study / "study.sqlite") as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT trial) FROM votes").fetchone() == (200, 200)
        per_participant = db.execute("SELECT COUNT(DISTINCT pair) FROM trials GROUP BY participant").fetchall()
        assert per_participant == [(VOTES_EACH,)] * PARTICIPANTS  # nobody saw a pair twice
        assert sorted(set(a for a in acknowledged)) == sorted(t for (t,) in db.execute("SELECT trial FROM votes"))


def test_the_database_survives_a_kill_during_voting(tmp_path: Path):
    study = synthetic_study(tmp_path / "study", pairs=VOTES_EACH, per_participant=VOTES_EACH)
    stop = threading.Event()
    with running_server(study) as (url, process):
        acknowledged, _, threads = run_participants(url, stop)
        while len(acknowledged) < 60:  # kill while votes are in flight
            threads[0].join(timeout=0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    with sqlite3.connect(study / "study.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {t for (t,) in db.execute("SELECT trial FROM votes")}
        assert set(acknowledged) <= stored  # every vote the server confirmed is there
        orphans = db.execute("SELECT COUNT(*) FROM votes v LEFT JOIN trials t ON t.id = v.trial WHERE t.id IS NULL")
        assert orphans.fetchone() == (0,)
    with running_server(study) as (url, _):  # and the study goes on after a restart
        client = httpx.Client(base_url=url)
        client.get("/")
        trial = client.get("/api/next").json()["trial"]
        assert client.post("/api/vote", json={"trial": trial["id"], "choice": "right"}).status_code == 200
        assert httpx.get(f"{url}/owner/results.json?token={TOKEN}").json()["overall"]["votes"] == len(stored) + 1
        assert COOKIE in client.cookies


def test_participant_votes_with_mouse_and_keyboard_and_the_owner_sees_it(video_study: Path, artifacts_dir: Path):
    from helpers.browser import chromium_page

    with running_server(video_study) as (url, _):
        for label, (width, height) in {"laptop": (1280, 800), "phone": (390, 844)}.items():
            with chromium_page(width, height) as page:
                page.goto(url + "/")
                page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)",
                                       timeout=15000)  # fmt: skip
                page.wait_for_timeout(1200)  # the three videos play, in sync with the ground truth
                clocks = page.evaluate("[...document.querySelectorAll('video')].map(v => [v.paused, v.currentTime])")
                assert not any(paused for paused, _ in clocks) and clocks[0][1] > 0.2, clocks
                assert max(t for _, t in clocks) - min(t for _, t in clocks) < 0.35, clocks
                left, right = page.locator("#left").bounding_box(), page.locator("#right").bounding_box()
                if label == "laptop":
                    assert abs(left["y"] - right["y"]) < 2 and left["x"] + left["width"] <= right["x"]  # side by side
                else:
                    assert left["y"] + left["height"] <= right["y"] and right["x"] + right["width"] <= width + 1
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
                page.screenshot(path=str(artifacts_dir / f"study_participant_{label}.png"), full_page=True)
                if label == "laptop":
                    page.click("#vote-left")  # mouse
                    page.wait_for_function("document.getElementById('progress').textContent.startsWith('1 of')")
                    page.wait_for_function("!document.getElementById('vote-right').disabled")
                    page.keyboard.press("ArrowRight")  # keyboard
                    page.wait_for_selector("#done", state="visible")
                    page.screenshot(path=str(artifacts_dir / "study_participant_done.png"))
        for label, (width, height) in {"laptop": (1280, 800), "phone": (390, 844)}.items():
            with chromium_page(width, height) as page:
                page.goto(f"{url}/owner?token={TOKEN}")
                overall = page.locator("#overall").inner_text()
                assert "baseline" in overall and "perturbed" in overall and "all episodes\t2\t" in overall
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # tables scroll inside
                page.screenshot(path=str(artifacts_dir / f"study_owner_{label}.png"), full_page=True)


def test_a_held_key_votes_once_and_a_failed_vote_recovers(video_study: Path):
    from helpers.browser import chromium_page

    def votes() -> int:
        with sqlite3.connect(video_study / "study.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    with running_server(video_study) as (url, _), chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_function("!document.getElementById('vote-left').disabled", timeout=15000)
        page.route("**/api/vote", lambda route: route.abort())  # the network fails once
        page.click("#vote-left")
        page.wait_for_function("document.getElementById('status').textContent.includes('not recorded')")
        page.wait_for_function("!document.getElementById('vote-left').disabled")  # and voting is open again
        assert votes() == 0
        page.unroute("**/api/vote")
        page.keyboard.down("ArrowLeft")  # the first keydown votes ...
        for _ in range(15):  # ... the auto-repeats of a held key must not vote through the next trial
            page.keyboard.down("ArrowLeft")
            page.wait_for_timeout(60)
        page.keyboard.up("ArrowLeft")
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('1 of')")
        page.wait_for_timeout(500)
        assert votes() == 1
        assert page.evaluate("document.getElementById('done').hidden")


def test_voting_opens_only_after_the_minimum_viewing_time(video_study: Path):
    from helpers.browser import chromium_page

    study = json.loads((video_study / "study.json").read_text())
    (video_study / "study.json").write_text(json.dumps(study | {"min_view_seconds": 2.0}))
    with running_server(video_study) as (url, _), chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)", timeout=15000)
        assert page.evaluate("document.getElementById('vote-left').disabled")
        assert "voting opens in" in page.locator("#countdown").inner_text()
        page.keyboard.press("ArrowLeft")  # refused by the page while disabled
        page.wait_for_function("!document.getElementById('vote-left').disabled", timeout=5000)
        with sqlite3.connect(video_study / "study.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 0
