"""One episode's metadata, parsed and validated from its annotation JSON.

Both annotation variants found in the wild are accepted (see ``shared/data/droid_subset/README.md``):
the full one (integer ids, raw 15 Hz ``observation.*`` / ``action.*`` streams) and the slim
``droid_new_setup`` one (string ids, no raw streams, with ``joints``). Only ``video_length`` and
``states`` are required; ``texts`` may be missing or empty and ``videos`` defaults to the layout.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from persistworld.data.layout import (
    NUM_VIEWS,
    SEGMENT_LABELS,
    STATE_DIM,
    STATE_FIELDS,
    VIEW_NAMES,
    relative_video_path,
)
from persistworld.errors import EpisodeDataError


@dataclass(frozen=True)
class EpisodeMeta:
    """Everything about an episode except its pixels.

    Attributes:
        split: Split folder the episode lives in (``train``, ``val``, ...).
        episode_id: The annotation file's stem (ids are strings; numeric ones sort numerically).
        annotation_path: The annotation JSON.
        video_paths: One mp4 per view, in view order (external 1, external 2, wrist).
        video_length: Number of 5 Hz frames.
        states: Raw (un-normalised) 7-D states, (video_length, 7) float32, one per frame.
        text: The language instruction ("" when there is none).
        success: Whether the episode succeeded, if the annotation says.
        joints: (video_length, 8) joint positions + gripper, when the annotation has them.
        extra: Any other small scalar fields of the annotation (e.g. the simulator's task and seed).
        segmentation_path: Per-frame segmentation labels of every view (`SEGMENT_LABELS`), when the
            dataset has them (the simulator's do; DROID's do not).
    """

    split: str
    episode_id: str
    annotation_path: Path
    video_paths: tuple[Path, ...]
    video_length: int
    states: np.ndarray
    text: str = ""
    success: bool | None = None
    joints: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    segmentation_path: Path | None = None


def _numeric_array(path: Path, key: str, value: Any, columns: int, what: str) -> np.ndarray:
    """Validate a (rows, columns) list of finite numbers."""
    if not isinstance(value, list) or not value:
        raise EpisodeDataError(path, f"field `{key}` must be a non-empty list of rows, got {type(value).__name__}.")
    widths = {len(row) if isinstance(row, list) else -1 for row in value}
    if widths != {columns}:
        bad = sorted(w for w in widths if w != columns)
        raise EpisodeDataError(
            path,
            f"field `{key}` has rows with {bad[0] if bad[0] >= 0 else 'non-list'} columns, "
            f"expected {columns} ({what}).",
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EpisodeDataError(path, f"field `{key}` contains non-numeric values ({exc}).") from exc
    if not np.all(np.isfinite(array)):
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise EpisodeDataError(path, f"field `{key}` has a NaN or infinite value in row {row}.")
    return array.astype(np.float32)


def parse_annotation(path: Path, root: Path, split: str) -> EpisodeMeta:
    """Read and validate one annotation file.

    Args:
        path: ``annotation/<split>/<id>.json``.
        root: The dataset root that the annotation's video paths are relative to.
        split: The split folder.

    Raises:
        EpisodeDataError: Naming the file and the field, for any missing or malformed field.
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise EpisodeDataError(path, "annotation file not found.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EpisodeDataError(path, f"not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise EpisodeDataError(path, f"the top level must be an object, got {type(data).__name__}.")

    video_length = data.get("video_length")
    if isinstance(video_length, bool) or not isinstance(video_length, int) or video_length < 1:
        raise EpisodeDataError(path, f"field `video_length` must be a positive integer, got {video_length!r}.")
    if "states" not in data:
        raise EpisodeDataError(path, "field `states` is missing (video_length x 7 end-effector states).")
    states = _numeric_array(path, "states", data["states"], STATE_DIM, f"{', '.join(STATE_FIELDS)}")
    if len(states) != video_length:
        raise EpisodeDataError(
            path,
            f"field `states` has {len(states)} rows but `video_length` is {video_length}; expected one per frame.",
        )

    episode_id = path.stem
    videos = data.get("videos")
    if videos is None:
        relative = [relative_video_path(split, episode_id, v) for v in range(NUM_VIEWS)]
    else:
        if not isinstance(videos, list) or len(videos) != NUM_VIEWS:
            count = len(videos) if isinstance(videos, list) else type(videos).__name__
            raise EpisodeDataError(
                path, f"field `videos` must list {NUM_VIEWS} cameras {list(VIEW_NAMES)}, got {count}."
            )
        relative = []
        for view, entry in enumerate(videos):
            video_path = entry.get("video_path") if isinstance(entry, dict) else None
            if not isinstance(video_path, str):
                raise EpisodeDataError(path, f"field `videos[{view}].video_path` must be a string, got {entry!r}.")
            relative.append(video_path)

    texts = data.get("texts", [])
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise EpisodeDataError(path, f"field `texts` must be a list of strings, got {texts!r}.")

    joints = None
    if "joints" in data:
        joints = _numeric_array(path, "joints", data["joints"], 8, "7 joint positions + gripper")

    segmentation_path = None
    if "segmentation" in data:
        entry = data["segmentation"]
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise EpisodeDataError(
                path, f"field `segmentation` must be {{'path': str, 'labels': [...]}}, got {entry!r}."
            )
        if entry.get("labels") != list(SEGMENT_LABELS):
            raise EpisodeDataError(
                path, f"field `segmentation.labels` must be {list(SEGMENT_LABELS)}, got {entry.get('labels')!r}."
            )
        segmentation_path = root / entry["path"]

    success = data.get("success")
    extra = {
        k: v
        for k, v in data.items()
        if isinstance(v, (str, int, float, bool)) and k not in {"video_length", "success", "episode_id"}
    }
    return EpisodeMeta(
        split=split,
        episode_id=episode_id,
        annotation_path=path,
        video_paths=tuple(root / p for p in relative),
        video_length=video_length,
        states=states,
        text=texts[0] if texts else "",
        success=None if success is None else bool(success),
        joints=joints,
        extra=extra,
        segmentation_path=segmentation_path,
    )


def raw_length_to_video_length(raw_length: int, step: int = 3) -> int:
    """Number of frames kept when subsampling `raw_length` steps every `step` (15 Hz to 5 Hz: step 3)."""
    return math.ceil(raw_length / step)
