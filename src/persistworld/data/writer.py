"""The one writer of episodes, used by every generator and converter.

An episode is complete exactly when its annotation file exists. The writer encodes the camera
videos into a temporary folder, renames the folder into place, and only then writes the
annotation (itself atomically). A run killed at any point therefore leaves either a complete
episode or one that readers do not list and that the next run rewrites.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from persistworld.data.layout import (
    FPS,
    NUM_VIEWS,
    SEGMENT_LABELS,
    SEGMENTATION_FILE,
    STATE_DIM,
    annotation_path,
    relative_video_path,
    video_dir,
)
from persistworld.data.video import write_video
from persistworld.utils.atomic import atomic_directory, write_json_atomic


class EpisodeWriter:
    """Writes episodes of one split into a dataset root.

    Args:
        root: Dataset root.
        split: Split folder, e.g. ``"train"``.
        crf: x264 quality of the videos (lower is better; 15 is visually near-lossless).
    """

    def __init__(self, root: str | Path, split: str, crf: int = 15):
        self.root = Path(root)
        self.split = split
        self.crf = crf

    def exists(self, episode_id: str | int) -> bool:
        """Whether the episode was completely written (its annotation exists)."""
        return annotation_path(self.root, self.split, str(episode_id)).is_file()

    def write(
        self,
        episode_id: str | int,
        frames: np.ndarray,
        states: np.ndarray,
        texts: Sequence[str] = ("",),
        success: bool | None = None,
        extra: dict[str, Any] | None = None,
        segmentation: np.ndarray | None = None,
    ) -> Path:
        """Write one episode.

        Args:
            episode_id: Id (file stem) of the episode.
            frames: uint8 (T, views, H, W, 3), views in order (external 1, external 2, wrist).
            states: Raw 7-D states (T, 7), one per frame.
            texts: Language instructions (Ctrl-World stores a list with one string).
            success: Whether the episode succeeded.
            extra: More JSON-able annotation fields (e.g. raw 15 Hz streams, task name, seed).
            segmentation: Optional uint8 labels (T, views, H, W) of `SEGMENT_LABELS`, stored compressed
                next to the videos and written in the same atomic step.

        Returns:
            The annotation path.
        """
        frames = np.asarray(frames)
        states = np.asarray(states, dtype=np.float64)
        if frames.ndim != 5 or frames.shape[1] != NUM_VIEWS or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (T, {NUM_VIEWS}, H, W, 3), got {frames.dtype} {frames.shape}")
        if states.shape != (len(frames), STATE_DIM):
            raise ValueError(f"states must be ({len(frames)}, {STATE_DIM}), got {states.shape}")
        if not np.all(np.isfinite(states)):
            raise ValueError("states contain NaN or infinite values")
        if segmentation is not None:
            segmentation = np.asarray(segmentation)
            expected = (*frames.shape[:4],)
            if segmentation.shape != expected or segmentation.dtype != np.uint8:
                raise ValueError(
                    f"segmentation must be uint8 {expected} (frames, views, H, W), "
                    f"got {segmentation.dtype} {segmentation.shape}"
                )
            if segmentation.max(initial=0) >= len(SEGMENT_LABELS):
                raise ValueError(f"segmentation labels must be < {len(SEGMENT_LABELS)} ({SEGMENT_LABELS}).")
        episode_id = str(episode_id)
        with atomic_directory(video_dir(self.root, self.split, episode_id)) as tmp_dir:
            for view in range(NUM_VIEWS):
                write_video(tmp_dir / f"{view}.mp4", frames[:, view], fps=FPS, crf=self.crf)
            if segmentation is not None:
                np.savez_compressed(tmp_dir / SEGMENTATION_FILE, labels=segmentation)
        annotation = {
            "texts": list(texts),
            "episode_id": int(episode_id) if episode_id.isdigit() else episode_id,
            "success": None if success is None else int(success),
            "video_length": len(frames),
            "state_length": len(states),
            "videos": [{"video_path": relative_video_path(self.split, episode_id, v)} for v in range(NUM_VIEWS)],
            "states": states.tolist(),
            **(extra or {}),
        }
        if segmentation is not None:
            annotation["segmentation"] = {
                "path": f"{relative_video_path(self.split, episode_id, 0).rsplit('/', 1)[0]}/{SEGMENTATION_FILE}",
                "labels": list(SEGMENT_LABELS),
            }
        path = annotation_path(self.root, self.split, episode_id)
        write_json_atomic(path, annotation)
        return path
