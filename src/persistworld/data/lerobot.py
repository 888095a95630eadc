"""Convert a LeRobot-format DROID download (v2.x layout, e.g. ``cadene/droid_1.0.1``) to our layout.

What Ctrl-World's ``extract_latent.py`` does, without the VAE: keep every 3rd step (15 Hz to 5 Hz,
frame ``i`` <- raw step ``3 i``), resize the three camera streams to a fixed size and store them as
views 0 / 1 / 2, and build the 7-D state row from the cartesian position and the gripper position at
the same raw step. The raw 15 Hz streams go into the annotation as well, as in the DROID subset.
Episode ``k`` goes to ``val`` when ``k % 100 == 99`` (Ctrl-World's rule), otherwise to ``train``.

LeRobot v2.x layout read here::

    meta/info.json          fps, data_path and video_path templates, chunks_size
    meta/episodes.jsonl     {"episode_index": k, "tasks": [...], "length": n}
    data/chunk-XXX/episode_XXXXXX.parquet
    videos/chunk-XXX/<camera key>/episode_XXXXXX.mp4
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from persistworld.data.episode import raw_length_to_video_length
from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.data.video import read_video
from persistworld.data.writer import EpisodeWriter
from persistworld.errors import EpisodeDataError
from persistworld.utils.deps import require_package


@dataclass
class LeRobotConvertConfig:
    """How a LeRobot DROID dataset maps onto our layout."""

    # Camera streams for views 0, 1, 2 (external 1, external 2, wrist).
    camera_keys: tuple[str, str, str] = (
        "observation.images.exterior_1_left",
        "observation.images.exterior_2_left",
        "observation.images.wrist_left",
    )
    # Parquet columns of the end-effector pose (6: xyz + extrinsic xyz euler) and the gripper (1).
    cartesian_column: str = "observation.state.cartesian_position"
    gripper_column: str = "observation.state.gripper_position"
    # Raw steps per stored frame: 3 turns DROID's 15 Hz into 5 Hz.
    frame_step: int = 3
    # Stored (height, width) per view; Ctrl-World uses 192x320.
    resolution: tuple[int, int] = (192, 320)
    # Episodes with index % val_modulo == val_remainder go to `val` (Ctrl-World: 100, 99).
    val_modulo: int = 100
    val_remainder: int = 99
    # Optional cap on the number of converted episodes (0 = all).
    max_episodes: int = 0


def _read_info(source: Path) -> dict[str, Any]:
    info_path = source / "meta" / "info.json"
    if not info_path.is_file():
        raise EpisodeDataError(info_path, "not found; is this a LeRobot v2.x dataset folder (meta/info.json)?")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise EpisodeDataError(info_path, f"not valid JSON ({exc}).") from exc
    version = str(info.get("codebase_version", "v2"))
    if not version.startswith("v2"):
        raise EpisodeDataError(
            info_path, f"`codebase_version` is {version!r}; only LeRobot v2.x (one file per episode) is supported."
        )
    for key in ("data_path", "video_path"):
        if not isinstance(info.get(key), str):
            raise EpisodeDataError(
                info_path, f"field `{key}` (a path template) is missing; only LeRobot v2.x is supported."
            )
    return info


def _read_episodes(source: Path) -> list[dict[str, Any]]:
    path = source / "meta" / "episodes.jsonl"
    if not path.is_file():
        raise EpisodeDataError(path, "not found (one JSON object per episode with `episode_index`).")
    episodes = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EpisodeDataError(path, f"line {line_number} is not valid JSON ({exc}).") from exc
        if not isinstance(entry.get("episode_index"), int):
            raise EpisodeDataError(path, f"line {line_number}: field `episode_index` must be an integer.")
        episodes.append(entry)
    return episodes


def _column(table: Any, name: str, path: Path) -> np.ndarray:
    if name not in table.column_names:
        raise EpisodeDataError(path, f"column `{name}` is missing; the file has {table.column_names}.")
    values = table.column(name).to_pylist()
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1)


def _raw_streams(table: Any) -> dict[str, list]:
    """The numeric observation.state.* / action.* columns, as DROID-subset annotations carry them."""
    streams = {}
    for name in table.column_names:
        if name.startswith(("observation.state.", "action.")):
            values = np.asarray(table.column(name).to_pylist(), dtype=np.float64)
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]  # DROID stores the gripper as a 1-vector per step
            streams[name] = values.tolist()
    return streams


def convert_lerobot(source: str | Path, destination: str | Path, config: LeRobotConvertConfig) -> Iterator[dict]:
    """Convert every episode, yielding a summary row per episode; finished episodes are skipped.

    When done, ``stat.json`` is written from the train states (1st / 99th percentiles), unless the
    destination already has one (e.g. DROID's published statistics copied there).
    """
    parquet = require_package("pyarrow.parquet", extra="lerobot", pip_name="pyarrow")
    source, destination = Path(source), Path(destination)
    info = _read_info(source)
    chunks_size = int(info.get("chunks_size", 1000))
    episodes = _read_episodes(source)
    if config.max_episodes:
        episodes = episodes[: config.max_episodes]
    for entry in episodes:
        index = entry["episode_index"]
        split = "val" if index % config.val_modulo == config.val_remainder else "train"
        writer = EpisodeWriter(destination, split)
        if writer.exists(index):
            yield {"episode_index": index, "split": split, "skipped": True}
            continue
        chunk = index // chunks_size
        data_path = source / info["data_path"].format(episode_chunk=chunk, episode_index=index)
        if not data_path.is_file():
            raise EpisodeDataError(data_path, f"parquet file of episode {index} not found.")
        table = parquet.read_table(data_path)
        raw_length = table.num_rows
        keep = np.arange(0, raw_length, config.frame_step)
        states = np.concatenate(
            [
                _column(table, config.cartesian_column, data_path),
                _column(table, config.gripper_column, data_path),
            ],
            axis=1,
        )
        if states.shape[1] != 7:
            raise EpisodeDataError(
                data_path,
                f"`{config.cartesian_column}` + `{config.gripper_column}` give {states.shape[1]} values per row, "
                "expected 6 + 1.",
            )
        views = []
        for key in config.camera_keys:
            video_path = source / info["video_path"].format(episode_chunk=chunk, video_key=key, episode_index=index)
            frames = read_video(video_path, config.resolution, expected_frames=int(keep[-1]) + 1)
            views.append(frames[keep])
        tasks = entry.get("tasks") or [""]
        success = entry.get("success", entry.get("is_episode_successful"))
        writer.write(
            index,
            np.stack(views, axis=1),
            states[keep],
            texts=[tasks[0] if isinstance(tasks, list) else str(tasks)],
            success=None if success is None else bool(success),
            extra={"raw_length": raw_length, **_raw_streams(table)},
        )
        assert raw_length_to_video_length(raw_length, config.frame_step) == len(keep)
        yield {"episode_index": index, "split": split, "frames": len(keep), "skipped": False}
    if not (destination / "stat.json").is_file() and (destination / "annotation" / "train").is_dir():
        StateStats.from_states(m.states for m in EpisodeDataset(destination, "train").metas()).save(
            destination / "stat.json"
        )
