"""The episode writer: round trip, atomicity (a crash leaves nothing a reader would list), resumability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from persistworld.data import video as video_module
from persistworld.data.reader import EpisodeDataset
from persistworld.data.writer import EpisodeWriter


def test_written_episode_reads_back(episode_factory):
    root = episode_factory(n_episodes=2, n_frames=12)
    dataset = EpisodeDataset(root, "train")
    assert dataset.episode_ids == ["0", "1"]
    meta = dataset.meta("1")
    assert meta.video_length == 12 and meta.text == "task 1" and meta.success is True
    frames = dataset.load_frames("1")
    assert frames.shape == (12, 3, 16, 24, 3)
    # lossy h264, but colour channel = view and brightness = time survive
    assert np.argmax(frames[5, 2, -1, -1]) == 2
    assert abs(int(frames[5, 0, -1, -1, 0]) - (40 + 6 * 5)) <= 4


def test_crash_mid_write_leaves_no_listed_episode(tmp_path: Path, monkeypatch):
    frames = np.zeros((4, 3, 16, 24, 3), dtype=np.uint8)
    states = np.zeros((4, 7))
    writer = EpisodeWriter(tmp_path, "train")
    writer.write(0, frames, states)

    calls = {"n": 0}
    real_write = video_module.write_video

    def failing_write(path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed while writing the wrist video")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr("persistworld.data.writer.write_video", failing_write)
    with pytest.raises(KeyboardInterrupt):
        writer.write(1, frames, states)
    assert not writer.exists(1)
    assert EpisodeDataset(tmp_path, "train").episode_ids == ["0"]
    assert not list((tmp_path / "videos" / "train").glob(".*tmp"))  # temporary folder cleaned up
    monkeypatch.undo()
    writer.write(1, frames, states)  # the next run rewrites it
    assert EpisodeDataset(tmp_path, "train").episode_ids == ["0", "1"]


def test_writer_rejects_malformed_arrays(tmp_path: Path):
    writer = EpisodeWriter(tmp_path, "train")
    with pytest.raises(ValueError, match="uint8"):
        writer.write(0, np.zeros((4, 2, 16, 24, 3), dtype=np.uint8), np.zeros((4, 7)))
    with pytest.raises(ValueError, match=r"states must be \(4, 7\)"):
        writer.write(0, np.zeros((4, 3, 16, 24, 3), dtype=np.uint8), np.zeros((4, 6)))
    with pytest.raises(ValueError, match="NaN"):
        writer.write(0, np.zeros((4, 3, 16, 24, 3), dtype=np.uint8), np.full((4, 7), np.nan))
