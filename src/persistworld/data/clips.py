"""Clips: the unit a world model is trained on and rolls out.

A clip at *current* frame ``t`` holds the sparse history frames, the current frame, ``F`` future
frames at ``t + s, ..., t + F s`` (``s`` = frame stride), the state rows of the history frames and
the ``F + 1`` action rows of the current and future frames, for all 3 views. As in Ctrl-World the
action condition of a frame is the normalised 7-D state the robot is at (commanded to) in that frame.

History indices follow Ctrl-World's rollout convention of pinning some slots to the episode start
and spacing the others back from the current frame: a history entry ``h >= 0`` is the absolute frame
``min(h, t)`` (0 = episode start; never later than the current frame), an entry ``h < 0`` is frame
``max(t + h, 0)``. Ctrl-World's replay script uses buffer slots ``[0, 0, -8, -6, -4, -2]`` of a buffer
whose entries are 4 frames apart, which is ``history = (0, 0, -28, -20, -12, -4)`` here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import torch

from persistworld.data.reader import EpisodeDataset


@dataclass
class ClipConfig:
    """Which frames make up a clip."""

    # History frames in 5 Hz frames: >= 0 absolute index from the episode start, < 0 relative to
    # the current frame. Ctrl-World's replay: (0, 0, -28, -20, -12, -4).
    history: tuple[int, ...] = (0, -12, -8, -4)
    # Number of future frames predicted jointly per clip (F).
    num_future: int = 4
    # Spacing of the future frames in 5 Hz frames (Ctrl-World trains with 1 and 2).
    frame_stride: int = 1
    # Allow clips that run past the episode end; padded frames repeat the last frame and are
    # flagged in `future_is_pad`. Off: only clips that fit completely are enumerated.
    allow_padding: bool = False

    def __post_init__(self) -> None:
        self.history = tuple(self.history)
        if self.num_future < 1:
            raise ValueError(f"`num_future` must be >= 1. Got {self.num_future}.")
        if self.frame_stride < 1:
            raise ValueError(f"`frame_stride` must be >= 1. Got {self.frame_stride}.")

    @property
    def span(self) -> int:
        """Frames from the current frame to the last future frame."""
        return self.num_future * self.frame_stride


class ClipId(NamedTuple):
    """Identifies a clip: an episode of a split and its current frame."""

    split: str
    episode_id: str
    start: int


class FrameIndices(NamedTuple):
    """Frame indices of one clip inside its episode."""

    history: np.ndarray  # (len(history),) int
    current: int
    future: np.ndarray  # (F,) int, clamped to the last frame
    future_is_pad: np.ndarray  # (F,) bool, True where the clip ran past the episode end


def clip_frame_indices(config: ClipConfig, current: int, video_length: int) -> FrameIndices:
    """Compute the frame indices of the clip whose current frame is `current` (see module docstring)."""
    if not 0 <= current < video_length:
        raise IndexError(f"current frame {current} is outside the episode (0..{video_length - 1})")
    history = np.array([min(h, current) if h >= 0 else max(current + h, 0) for h in config.history], dtype=np.int64)
    future = current + config.frame_stride * np.arange(1, config.num_future + 1, dtype=np.int64)
    is_pad = future > video_length - 1
    return FrameIndices(history, current, np.minimum(future, video_length - 1), is_pad)


def clip_starts(config: ClipConfig, video_length: int) -> range:
    """Current frames of every clip of an episode: the whole clip fits, or (with padding) one future frame does."""
    last = video_length - 1 - (config.frame_stride if config.allow_padding else config.span)
    return range(0, max(last + 1, 0))


@dataclass
class Clip:
    """One clip. Frames are float32 in [-1, 1], laid out (..., views, 3, H, W); actions normalised."""

    history: torch.Tensor  # (Hn, V, 3, H, W)
    current: torch.Tensor  # (V, 3, H, W)
    future: torch.Tensor  # (F, V, 3, H, W)
    history_actions: torch.Tensor  # (Hn, 7)
    actions: torch.Tensor  # (F + 1, 7): current frame, then the F future frames
    future_is_pad: torch.Tensor  # (F,) bool
    text: str
    clip_id: ClipId


_TENSOR_FIELDS = tuple(f.name for f in fields(Clip) if f.name not in ("text", "clip_id"))


@dataclass
class ClipBatch:
    """A batch of clips: the fields of `Clip` with a leading batch dimension B."""

    history: torch.Tensor  # (B, Hn, V, 3, H, W)
    current: torch.Tensor  # (B, V, 3, H, W)
    future: torch.Tensor  # (B, F, V, 3, H, W)
    history_actions: torch.Tensor  # (B, Hn, 7)
    actions: torch.Tensor  # (B, F + 1, 7)
    future_is_pad: torch.Tensor  # (B, F)
    texts: list[str]
    clip_ids: list[ClipId]

    @classmethod
    def collate(cls, clips: Sequence[Clip]) -> ClipBatch:
        """Stack clips into a batch."""
        tensors = {name: torch.stack([getattr(c, name) for c in clips]) for name in _TENSOR_FIELDS}
        return cls(**tensors, texts=[c.text for c in clips], clip_ids=[c.clip_id for c in clips])

    def to(self, device: torch.device | str) -> ClipBatch:
        """Move every tensor to `device`."""
        moved = {name: getattr(self, name).to(device) for name in _TENSOR_FIELDS}
        return ClipBatch(**moved, texts=self.texts, clip_ids=self.clip_ids)

    def __len__(self) -> int:
        return len(self.clip_ids)


class FrameCache:
    """Least-recently-used in-memory cache of decoded episodes (uint8), bounded in bytes.

    Decoding three mp4s costs tens of milliseconds per episode; a training step needs a few frames
    of many episodes. Keeping decoded uint8 frames in memory makes clip assembly a cheap gather.

    Args:
        max_bytes: Memory budget; 0 disables caching (every request decodes).
    """

    def __init__(self, max_bytes: int = 4 * 1024**3):
        self.max_bytes = max_bytes
        self._episodes: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return sum(a.nbytes for a in self._episodes.values())

    def frames(self, dataset: EpisodeDataset, episode_id: str) -> np.ndarray:
        """Decoded frames (T, V, H, W, 3) of an episode, from the cache when possible."""
        key = (str(dataset.root), dataset.split, episode_id, dataset.resolution)
        if key in self._episodes:
            self.hits += 1
            self._episodes.move_to_end(key)
            return self._episodes[key]
        self.misses += 1
        frames = dataset.load_frames(episode_id)
        if frames.nbytes <= self.max_bytes:
            self._episodes[key] = frames
            while self.nbytes > self.max_bytes:
                self._episodes.popitem(last=False)
        return frames


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) to float32 (..., 3, H, W) in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3)
    return tensor.float().div_(127.5).sub_(1.0)


class ClipSampler:
    """All clips of a dataset split, addressable by index or `ClipId`, with batched sampling.

    Args:
        dataset: The episodes.
        config: Which frames make a clip.
        cache: Decoded-frame cache; by default a fresh 4 GiB one. Pass ``FrameCache(0)`` to decode
            on every request.
    """

    def __init__(self, dataset: EpisodeDataset, config: ClipConfig, cache: FrameCache | None = None):
        self.dataset = dataset
        self.config = config
        self.cache = cache if cache is not None else FrameCache()
        self.clip_ids = [
            ClipId(dataset.split, meta.episode_id, start)
            for meta in dataset.metas()
            for start in clip_starts(config, meta.video_length)
        ]
        if not self.clip_ids:
            longest = max(m.video_length for m in dataset.metas())
            raise ValueError(
                f"{dataset}: no episode is long enough for a clip of {config.span + 1} frames "
                f"(longest episode: {longest} frames). Use fewer or denser future frames, or allow_padding."
            )

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __getitem__(self, index: int) -> Clip:
        return self.get(self.clip_ids[index])

    def get(self, clip_id: ClipId) -> Clip:
        """Assemble one clip."""
        meta = self.dataset.meta(clip_id.episode_id)
        indices = clip_frame_indices(self.config, clip_id.start, meta.video_length)
        frames = self.cache.frames(self.dataset, meta.episode_id)
        states = self.dataset.normalized_states(meta.episode_id)
        action_rows = np.concatenate([[indices.current], indices.future])
        return Clip(
            history=frames_to_tensor(frames[indices.history]),
            current=frames_to_tensor(frames[indices.current]),
            future=frames_to_tensor(frames[indices.future]),
            history_actions=torch.from_numpy(states[indices.history]),
            actions=torch.from_numpy(states[action_rows]),
            future_is_pad=torch.from_numpy(indices.future_is_pad),
            text=meta.text,
            clip_id=clip_id,
        )

    def batch(self, clip_ids: Sequence[ClipId]) -> ClipBatch:
        """Assemble the given clips into a batch."""
        return ClipBatch.collate([self.get(c) for c in clip_ids])

    def sample(self, batch_size: int, generator: np.random.Generator) -> ClipBatch:
        """A batch of clips drawn uniformly with replacement; the randomness comes only from `generator`."""
        picks = generator.integers(0, len(self.clip_ids), size=batch_size)
        return self.batch([self.clip_ids[i] for i in picks])
