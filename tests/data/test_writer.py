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


def test_segmentation_round_trips_and_is_optional(tmp_path: Path):
    frames = np.zeros((4, 3, 16, 24, 3), dtype=np.uint8)
    labels = np.zeros((4, 3, 16, 24), dtype=np.uint8)
    labels[:, 0, 2:5, 3:9] = 1
    labels[2, 2, 10:, :] = 3
    writer = EpisodeWriter(tmp_path, "train")
    writer.write(0, frames, np.zeros((4, 7)), segmentation=labels)
    writer.write(1, frames, np.zeros((4, 7)))
    dataset = EpisodeDataset(tmp_path, "train")
    assert np.array_equal(dataset.load_segmentation("0"), labels) and dataset.has_segmentation("0")
    assert dataset.load_segmentation("1") is None and not dataset.has_segmentation("1")
    with pytest.raises(ValueError, match="segmentation must be uint8"):
        writer.write(2, frames, np.zeros((4, 7)), segmentation=labels[:3])
    with pytest.raises(ValueError, match="labels must be < 4"):
        writer.write(2, frames, np.zeros((4, 7)), segmentation=labels + 4)
    assert not writer.exists(2)


def test_a_broken_segmentation_entry_names_the_file_and_field(tmp_path: Path):
    import json

    from persistworld.errors import EpisodeDataError

    frames = np.zeros((4, 3, 16, 24, 3), dtype=np.uint8)
    writer = EpisodeWriter(tmp_path, "train")
    path = writer.write(0, frames, np.zeros((4, 7)), segmentation=np.zeros((4, 3, 16, 24), dtype=np.uint8))
    annotation = json.loads(path.read_text())
    annotation["segmentation"]["labels"] = ["background", "arm"]
    path.write_text(json.dumps(annotation))
    with pytest.raises(EpisodeDataError, match=r"0\.json.*segmentation\.labels"):
        EpisodeDataset(tmp_path, "train").meta("0")
    annotation["segmentation"]["labels"] = ["background", "robot", "object_1", "object_2"]
    path.write_text(json.dumps(annotation))
    (tmp_path / "videos" / "train" / "0" / "segmentation.npz").write_bytes(b"garbage")
    with pytest.raises(EpisodeDataError, match="segmentation.npz.*cannot read"):
        EpisodeDataset(tmp_path, "train").load_segmentation("0")
