"""Lazy reading of episodes: annotations are parsed on first use, videos decoded on request."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from persistworld.data.episode import EpisodeMeta, parse_annotation
from persistworld.data.layout import NUM_VIEWS, STATS_FILE, annotation_dir, available_splits, episode_sort_key
from persistworld.data.stats import StateStats
from persistworld.data.video import read_video
from persistworld.errors import EpisodeDataError


class EpisodeDataset:
    """The episodes of one split of a dataset in the Ctrl-World layout.

    Only finished episodes are listed: an episode exists once its annotation file exists, and
    writers write the annotation last (see `EpisodeWriter`).

    Args:
        root: Dataset root (holds ``annotation/``, ``videos/`` and ``stat.json``).
        split: Split folder name, e.g. ``"train"``.
        resolution: (height, width) per view that frames are resized to on load; ``None`` keeps
            the stored size.
        stats_path: Normalisation statistics; defaults to ``<root>/stat.json``.
        stats: Normalisation statistics given directly (e.g. a model's, from its checkpoint); overrides
            `stats_path`.

    Raises:
        EpisodeDataError: If the root or the split does not exist (the message lists the splits
            that do), or the split has no episodes.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        resolution: tuple[int, int] | None = None,
        stats_path: str | Path | None = None,
        stats: StateStats | None = None,
    ):
        self.root = Path(root)
        self.split = split
        self.resolution = tuple(resolution) if resolution is not None else None
        self.stats_path = Path(stats_path) if stats_path is not None else self.root / STATS_FILE
        if not self.root.is_dir():
            raise EpisodeDataError(self.root, "dataset root not found.")
        folder = annotation_dir(self.root, split)
        if not folder.is_dir():
            raise EpisodeDataError(
                folder, f"unknown split `{split}`; this dataset has the splits {available_splits(self.root)}."
            )
        self.episode_ids = sorted((p.stem for p in folder.glob("*.json")), key=episode_sort_key)
        if not self.episode_ids:
            raise EpisodeDataError(folder, f"split `{split}` has no episodes (no annotation *.json files).")
        self._metas: dict[str, EpisodeMeta] = {}
        if stats is not None:
            self.__dict__["stats"] = stats  # fills the cached property
        self._normalized: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.episode_ids)

    def __repr__(self) -> str:
        return f"EpisodeDataset(root={str(self.root)!r}, split={self.split!r}, episodes={len(self)})"

    @cached_property
    def stats(self) -> StateStats:
        """The normalisation statistics (loaded on first use)."""
        return StateStats.load(self.stats_path)

    def meta(self, episode_id: str | int) -> EpisodeMeta:
        """Parsed annotation of one episode (cached)."""
        episode_id = str(episode_id)
        if episode_id not in self._metas:
            if episode_id not in self.episode_ids:
                raise EpisodeDataError(
                    annotation_dir(self.root, self.split) / f"{episode_id}.json",
                    f"episode `{episode_id}` is not in split `{self.split}`.",
                )
            path = annotation_dir(self.root, self.split) / f"{episode_id}.json"
            self._metas[episode_id] = parse_annotation(path, self.root, self.split)
        return self._metas[episode_id]

    def metas(self) -> list[EpisodeMeta]:
        """Parsed annotations of every episode, in id order."""
        return [self.meta(i) for i in self.episode_ids]

    def load_frames(self, episode_id: str | int) -> np.ndarray:
        """Decode all frames of all views of one episode.

        Returns:
            uint8 array (video_length, views, H, W, 3), views in order (external 1, external 2, wrist).
        """
        meta = self.meta(episode_id)
        views = [read_video(p, self.resolution, expected_frames=meta.video_length) for p in meta.video_paths]
        shapes = {v.shape[1:3] for v in views}
        if len(shapes) != 1:
            raise EpisodeDataError(
                meta.video_paths[0].parent,
                f"the camera videos have different frame sizes {[v.shape[1:3] for v in views]}; "
                "give a `resolution` to resize them to one size.",
            )
        return np.stack(views, axis=1)

    def has_segmentation(self, episode_id: str | int) -> bool:
        """Whether the episode comes with segmentation labels (`load_segmentation`)."""
        return self.meta(episode_id).segmentation_path is not None

    def load_segmentation(self, episode_id: str | int) -> np.ndarray | None:
        """Per-pixel labels of `SEGMENT_LABELS`, uint8 (video_length, views, H, W), or None without any.

        Resized to the dataset's resolution by nearest neighbour, so that labels stay labels.
        """
        meta = self.meta(episode_id)
        if meta.segmentation_path is None:
            return None
        try:
            with np.load(meta.segmentation_path) as archive:
                labels = archive["labels"]
        except (OSError, KeyError, ValueError) as exc:
            raise EpisodeDataError(meta.segmentation_path, f"cannot read the segmentation labels ({exc}).") from exc
        if labels.ndim != 4 or labels.shape[:2] != (meta.video_length, NUM_VIEWS) or labels.dtype != np.uint8:
            raise EpisodeDataError(
                meta.segmentation_path,
                f"`labels` must be uint8 ({meta.video_length}, {NUM_VIEWS}, H, W), got {labels.dtype} {labels.shape}.",
            )
        if self.resolution is not None and labels.shape[2:] != self.resolution:
            h, w = labels.shape[2:]
            rows = (np.arange(self.resolution[0]) * h // self.resolution[0]).clip(0, h - 1)
            cols = (np.arange(self.resolution[1]) * w // self.resolution[1]).clip(0, w - 1)
            labels = labels[:, :, rows][:, :, :, cols]
        return labels

    def normalized_states(self, episode_id: str | int) -> np.ndarray:
        """States of one episode normalised to [-1, 1] with the dataset's statistics, (T, 7) float32.

        Cached per episode: the clip sampler asks for them on every clip.
        """
        episode_id = str(episode_id)
        if episode_id not in self._normalized:
            self._normalized[episode_id] = self.stats.normalize(self.meta(episode_id).states)
        return self._normalized[episode_id]
