"""Bad input gives one clear error that names the file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.errors import EpisodeDataError


def _edit_annotation(root: Path, split: str, episode: str, **changes) -> Path:
    path = root / "annotation" / split / f"{episode}.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def test_missing_camera_video(droid_mini_copy: Path):
    missing = droid_mini_copy / "videos" / "val" / "199" / "2.mp4"
    missing.unlink()
    with pytest.raises(EpisodeDataError, match="video file not found") as info:
        EpisodeDataset(droid_mini_copy, "val").load_frames("199")
    assert info.value.path == missing


def test_truncated_mp4(droid_mini_copy: Path):
    video = droid_mini_copy / "videos" / "val" / "199" / "1.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    with pytest.raises(EpisodeDataError) as info:
        EpisodeDataset(droid_mini_copy, "val").load_frames("199")
    assert info.value.path == video
    assert "corrupt or truncated" in str(info.value) or "decodable frames" in str(info.value)


def test_garbage_mp4(droid_mini_copy: Path):
    video = droid_mini_copy / "videos" / "val" / "199" / "0.mp4"
    video.write_bytes(b"this is not a video" * 100)
    with pytest.raises(EpisodeDataError, match="corrupt or truncated") as info:
        EpisodeDataset(droid_mini_copy, "val").load_frames("199")
    assert info.value.path == video


def test_state_width_wrong(droid_mini_copy: Path):
    path = droid_mini_copy / "annotation" / "val" / "199.json"
    states = json.loads(path.read_text())["states"]
    path = _edit_annotation(droid_mini_copy, "val", "199", states=[row[:6] for row in states])
    with pytest.raises(EpisodeDataError, match=r"`states` has rows with 6 columns, expected 7") as info:
        EpisodeDataset(droid_mini_copy, "val").meta("199")
    assert info.value.path == path


def test_fewer_frames_than_video_length(droid_mini_copy: Path):
    path = droid_mini_copy / "annotation" / "val" / "199.json"
    data = json.loads(path.read_text())
    data["video_length"] = 40
    data["states"] = data["states"] + data["states"][:7]
    path.write_text(json.dumps(data))
    with pytest.raises(
        EpisodeDataError, match="has 33 decodable frames but the annotation's `video_length` is 40"
    ) as info:
        EpisodeDataset(droid_mini_copy, "val").load_frames("199")
    assert info.value.path.name == "0.mp4"


def test_states_rows_disagree_with_video_length(droid_mini_copy: Path):
    path = _edit_annotation(droid_mini_copy, "val", "199", video_length=20)
    with pytest.raises(EpisodeDataError, match="`states` has 33 rows but `video_length` is 20") as info:
        EpisodeDataset(droid_mini_copy, "val").meta("199")
    assert info.value.path == path


def test_unknown_split_lists_the_available_ones(droid_mini: Path):
    with pytest.raises(EpisodeDataError, match=r"unknown split `test`; this dataset has the splits \['train', 'val'\]"):
        EpisodeDataset(droid_mini, "test")


def test_missing_root(tmp_path: Path):
    with pytest.raises(EpisodeDataError, match="dataset root not found"):
        EpisodeDataset(tmp_path / "nowhere", "train")


def test_invalid_json_and_missing_fields(droid_mini_copy: Path):
    path = droid_mini_copy / "annotation" / "val" / "199.json"
    path.write_text("{not json")
    with pytest.raises(EpisodeDataError, match="not valid JSON"):
        EpisodeDataset(droid_mini_copy, "val").meta("199")
    path.write_text(json.dumps({"video_length": 3}))
    with pytest.raises(EpisodeDataError, match="field `states` is missing"):
        EpisodeDataset(droid_mini_copy, "val").meta("199")


def test_nan_state(droid_mini_copy: Path):
    path = droid_mini_copy / "annotation" / "val" / "199.json"
    text = path.read_text()
    data = json.loads(text)
    data["states"][5][2] = float("nan")
    path.write_text(json.dumps(data))
    with pytest.raises(EpisodeDataError, match="NaN or infinite value in row 5"):
        EpisodeDataset(droid_mini_copy, "val").meta("199")


def test_bad_stats_file(tmp_path: Path):
    path = tmp_path / "stat.json"
    path.write_text(json.dumps({"state_01": [0] * 6, "state_99": [1] * 7}))
    with pytest.raises(EpisodeDataError, match="`state_01` must be 7 finite numbers"):
        StateStats.load(path)
