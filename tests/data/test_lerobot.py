"""`convert-lerobot` on a tiny LeRobot v2.x DROID-style dataset that the test writes itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from persistworld.data.lerobot import LeRobotConvertConfig, convert_lerobot
from persistworld.data.reader import EpisodeDataset
from persistworld.data.video import write_video
from persistworld.errors import EpisodeDataError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

CAMERAS = LeRobotConvertConfig().camera_keys
RAW_STEPS = {0: 14, 99: 9}  # episode 99 goes to val by Ctrl-World's rule (index % 100 == 99)


def _raw_frame(step: int, camera: int) -> np.ndarray:
    frame = np.zeros((32, 48, 3), dtype=np.uint8)
    frame[..., camera] = 10 + 15 * step  # the camera's channel encodes the raw step
    return frame


def _raw_state(episode: int, step: int) -> tuple[list[float], float]:
    return [0.4 + 0.01 * step, 0.1 * episode, 0.3, 3.1, 0.0, 0.01 * step], min(step / 10, 1.0)


@pytest.fixture
def lerobot_root(tmp_path: Path) -> Path:
    root = tmp_path / "droid_lerobot"
    (root / "meta").mkdir(parents=True)
    info = {
        "codebase_version": "v2.1",
        "fps": 15,
        "chunks_size": 1000,
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    }
    (root / "meta" / "info.json").write_text(json.dumps(info))
    lines = [json.dumps({"episode_index": k, "tasks": [f"task {k}"], "length": n}) for k, n in RAW_STEPS.items()]
    (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    for episode, steps in RAW_STEPS.items():
        rows = [_raw_state(episode, s) for s in range(steps)]
        table = pa.table(
            {
                "observation.state.cartesian_position": [r[0] for r in rows],
                "observation.state.gripper_position": [[r[1]] for r in rows],
                "observation.state.joint_position": [[0.1 * j for j in range(7)] for _ in rows],
                "action.gripper_position": [[r[1]] for r in rows],
                "frame_index": list(range(steps)),
            }
        )
        data_path = root / info["data_path"].format(episode_chunk=0, episode_index=episode)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, data_path)
        for camera, key in enumerate(CAMERAS):
            video_path = root / info["video_path"].format(episode_chunk=0, video_key=key, episode_index=episode)
            video_path.parent.mkdir(parents=True, exist_ok=True)
            write_video(video_path, np.stack([_raw_frame(s, camera) for s in range(steps)]), fps=15, crf=0)
    return root


def test_convert_round_trip(lerobot_root: Path, tmp_path: Path):
    out = tmp_path / "converted"
    config = LeRobotConvertConfig(resolution=(16, 24))
    rows = list(convert_lerobot(lerobot_root, out, config))
    assert [(r["episode_index"], r["split"], r["frames"]) for r in rows] == [(0, "train", 5), (99, "val", 3)]

    dataset = EpisodeDataset(out, "train")
    meta = dataset.meta("0")
    assert meta.video_length == 5 and meta.text == "task 0"  # ceil(14 / 3)
    expected = np.array([_raw_state(0, s)[0] + [_raw_state(0, s)[1]] for s in range(0, 14, 3)])
    np.testing.assert_allclose(meta.states, expected, atol=1e-6)
    frames = dataset.load_frames("0").astype(int)
    assert frames.shape == (5, 3, 16, 24, 3)
    for i, step in enumerate(range(0, 14, 3)):  # frame i <- raw step 3 i, camera k -> view k
        for view in range(3):
            assert abs(frames[i, view, 8, 12, view] - (10 + 15 * step)) <= 8  # steps are 45 levels apart
    assert meta.extra["raw_length"] == 14
    annotation = json.loads(meta.annotation_path.read_text())
    assert len(annotation["observation.state.cartesian_position"]) == 14
    assert annotation["observation.state.gripper_position"][3] == pytest.approx(0.3)
    assert EpisodeDataset(out, "val").meta("99").video_length == 3
    assert (out / "stat.json").is_file()

    # a second run skips what is done
    assert all(r["skipped"] for r in convert_lerobot(lerobot_root, out, config))


def test_missing_column_names_file_and_column(lerobot_root: Path, tmp_path: Path):
    config = LeRobotConvertConfig(gripper_column="observation.state.gripper")
    with pytest.raises(EpisodeDataError, match="column `observation.state.gripper` is missing") as info:
        list(convert_lerobot(lerobot_root, tmp_path / "out", config))
    assert info.value.path.suffix == ".parquet"


def test_not_a_lerobot_folder(tmp_path: Path):
    with pytest.raises(EpisodeDataError, match="meta/info.json"):
        list(convert_lerobot(tmp_path, tmp_path / "out", LeRobotConvertConfig()))


def test_lerobot_v3_is_refused_clearly(lerobot_root: Path, tmp_path: Path):
    info_path = lerobot_root / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["codebase_version"] = "v3.0"
    info_path.write_text(json.dumps(info))
    with pytest.raises(EpisodeDataError, match="only LeRobot v2.x") as error:
        list(convert_lerobot(lerobot_root, tmp_path / "out", LeRobotConvertConfig()))
    assert error.value.path == info_path
