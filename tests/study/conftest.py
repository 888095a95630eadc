"""Studies for the tests: one from two real evaluation runs (with videos), one synthetic with many pairs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from helpers.checkpoints import perturbed_copy
from persistworld.assets import BASELINE_DEMO
from persistworld.cli import app
from persistworld.study.create import DATABASE_FILE, MEDIA_DIR, STUDY_FILE, create_study, hash_token
from persistworld.study.store import StudyStore

SIM_HELDOUT = Path(__file__).parents[1] / "fixtures" / "sim_heldout"
TOKEN = "owner-token-for-tests"


def evaluate(checkpoint: Path, name: str, out: Path) -> Path:
    result = CliRunner().invoke(app, [
        "evaluate", "--checkpoint", str(checkpoint), "--name", name, "--episodes", "2", "--steps", "2",
        "--videos", "2", "--out", str(out), "--set", f"data.root={SIM_HELDOUT}", "--set", "sampler.draws=1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluations")
    perturbed = perturbed_copy(root / "perturbed.pt")
    return evaluate(BASELINE_DEMO, "baseline", root / "a"), evaluate(perturbed, "perturbed", root / "b")


@pytest.fixture
def video_study(evaluations: tuple[Path, Path], tmp_path: Path) -> Path:
    """Open enrolment and no minimum viewing time: the flow tests vote at once (both are tested apart)."""
    return create_study(*evaluations, tmp_path / "study", owner_token=TOKEN, admission="open", min_view_seconds=0).path


def synthetic_study(path: Path, pairs: int, per_participant: int, **settings) -> Path:
    """A study folder with `pairs` pairs whose media are placeholders (for API and load tests)."""
    (path / MEDIA_DIR).mkdir(parents=True)
    StudyStore(path / DATABASE_FILE).add_pairs([(str(i), "t.mp4", "a.mp4", "b.mp4") for i in range(pairs)])
    study = {
        "title": "test",
        "models": {"a": {"name": "A"}, "b": {"name": "B"}},
        "episodes": [str(i) for i in range(pairs)],
        "per_participant": per_participant,
        "owner_token_sha256": hash_token(TOKEN),
        "admission": "open",
        "min_view_seconds": 0.0,
        "new_participants_per_minute": 1000,
    }
    (path / STUDY_FILE).write_text(json.dumps(study | settings))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(study: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`persistworld study serve` in a subprocess on 127.0.0.1; yields (base URL, process)."""
    port = free_port()
    code = "import sys; from pathlib import Path; from persistworld.study.app import serve_study; " \
           "serve_study(Path(sys.argv[1]), port=int(sys.argv[2]))"  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code, str(study), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/owner", timeout=1).status_code == 403:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the study server did not start")
        yield url, process
    finally:
        process.kill()
        process.wait()
