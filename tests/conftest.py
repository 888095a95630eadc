"""Shared fixtures: the committed 2-episode DROID fixture, the full subset (if present), tiny episodes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from persistworld.data.stats import StateStats
from persistworld.data.writer import EpisodeWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
DROID_MINI = Path(__file__).parent / "fixtures" / "droid_mini"
DROID_SUBSET_ENV = "PERSISTWORLD_DROID_SUBSET"


def find_droid_subset() -> Path | None:
    """The full 11-episode DROID subset: $PERSISTWORLD_DROID_SUBSET, else ../shared/data/droid_subset."""
    candidates = [os.environ.get(DROID_SUBSET_ENV), REPO_ROOT.parent / "shared" / "data" / "droid_subset"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "annotation").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def droid_subset() -> Path:
    path = find_droid_subset()
    if path is None:
        pytest.skip(
            f"the full DROID subset was not found: set {DROID_SUBSET_ENV}=/path/to/droid_subset "
            "or place it at ../shared/data/droid_subset next to the repository"
        )
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may look at (screenshots): $PERSISTWORLD_TEST_ARTIFACTS or test-artifacts/."""
    path = Path(os.environ.get("PERSISTWORLD_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def droid_mini() -> Path:
    return DROID_MINI


@pytest.fixture
def droid_mini_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture, for tests that corrupt it."""
    destination = tmp_path / "droid_mini"
    shutil.copytree(DROID_MINI, destination)
    for path in destination.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return destination


def make_episode_arrays(
    num_frames: int, size: tuple[int, int] = (16, 24), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose content encodes (frame, view) so that tests can tell them apart, and smooth states."""
    rng = np.random.default_rng(seed)
    height, width = size
    frames = np.zeros((num_frames, 3, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        for view in range(3):
            frames[t, view, :, :, view] = 40 + 6 * t  # colour channel = view, brightness = time
            frames[t, view, : height // 2, : width // 2, (view + 1) % 3] = 200
    states = np.cumsum(rng.normal(0, 0.01, size=(num_frames, 7)), axis=0) + np.array([0.5, 0, 0.2, 3.0, 0, 0, 0])
    states[:, 6] = np.clip(states[:, 6], 0, 1)
    return frames, states


@pytest.fixture
def episode_factory(tmp_path: Path):
    """Write tiny episodes with real mp4s into a dataset root: factory(n_episodes, n_frames, split)."""
    root = tmp_path / "tiny"

    def factory(
        n_episodes: int = 2, n_frames: int = 12, split: str = "train", size: tuple[int, int] = (16, 24)
    ) -> Path:
        writer = EpisodeWriter(root, split)
        all_states = []
        for episode in range(n_episodes):
            frames, states = make_episode_arrays(n_frames, size, seed=episode)
            writer.write(episode, frames, states, texts=[f"task {episode}"], success=True)
            all_states.append(states)
        StateStats.from_states(all_states).save(root / "stat.json")
        return root

    return factory
