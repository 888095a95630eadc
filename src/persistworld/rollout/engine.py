"""The rollout engine: replay an episode's actions through the world model, clip after clip.

Each step samples one clip (F future frames of all views) conditioned on the sparse history, the
current frame and the actions, then writes the F predicted frames into a per-row frame buffer, so
the next step's current frame and history come from the model's own predictions (the closed loop
whose drift PersistWorld fixes). Frames up to the start frame are ground truth; nothing after it is
ever read from the ground truth when ``feed="own"`` (tested).

Rows are (episode, candidate) pairs: several episodes and K branch candidates per episode roll out
in one batch, each row with its own random generator seeded from (seed, episode, start, candidate),
so a row's result does not depend on what else is in the batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from persistworld.data.clips import ClipConfig, clip_frame_indices, frames_to_tensor
from persistworld.data.reader import EpisodeDataset
from persistworld.models.protocol import Condition, WorldModel
from persistworld.models.sampler import SamplerConfig, sample

FEEDS = ("own", "ground_truth")

#: A policy in the loop: (current predicted views (B, V, 3, H, W), step index) -> the next F actions (B, F, 7),
#: normalised like the dataset's states.
Policy = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass
class EpisodeTrack:
    """The ground truth one episode contributes to a rollout."""

    episode_id: str
    frames: torch.Tensor  # (T, V, 3, H, W) in [-1, 1]
    actions: torch.Tensor  # (T, 7) normalised states
    text: str = ""

    @classmethod
    def load(cls, dataset: EpisodeDataset, episode_id: str) -> EpisodeTrack:
        """Read an episode (frames at the dataset's resolution, normalised actions)."""
        frames = frames_to_tensor(dataset.load_frames(episode_id))
        actions = torch.from_numpy(dataset.normalized_states(episode_id))
        return cls(str(episode_id), frames, actions, dataset.meta(episode_id).text)


@dataclass
class RolloutStep:
    """One autoregressive step of every row."""

    current_frames: torch.Tensor  # (B,) frame index each row's clip starts from
    frames: torch.Tensor  # (B, F, V, 3, H, W) predicted frames
    x0: torch.Tensor  # (B, F, ...) the sampler's final x0 in the model's target space
    cond: Condition | None  # what the model was conditioned on (None unless keep_conditions)
    seconds: float


@dataclass
class RolloutResult:
    """All rows of a rollout. Row r is episode ``r // candidates``, candidate ``r % candidates``."""

    predicted: torch.Tensor  # (B, N*F, V, 3, H, W) the predicted frames after the start frame
    ground_truth: torch.Tensor | None  # same shape, or None when an episode is too short (policy rollouts)
    start_frames: torch.Tensor  # (B, V, 3, H, W) the ground-truth frame the rollout started from
    steps: list[RolloutStep] = field(default_factory=list)
    candidates: int = 1

    @property
    def seconds_per_step(self) -> float:
        """Mean wall-clock seconds of one autoregressive step (all rows together)."""
        return float(np.mean([s.seconds for s in self.steps])) if self.steps else 0.0


def row_seed(seed: int, episode_id: str, start: int, candidate: int) -> int:
    """A stable 63-bit seed for one (episode, start, candidate) row."""
    digest = hashlib.sha256(f"{seed}/{episode_id}/{start}/{candidate}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@torch.no_grad()
def rollout(
    model: WorldModel,
    tracks: Sequence[EpisodeTrack],
    starts: Sequence[int],
    clips: ClipConfig,
    sampler: SamplerConfig,
    num_steps: int,
    *,
    candidates: int = 1,
    seed: int = 0,
    feed: str = "own",
    policy: Policy | None = None,
    keep_conditions: bool = False,
    device: torch.device | str = "cpu",
) -> RolloutResult:
    """Roll `model` out for `num_steps` clips from each episode's start frame.

    Args:
        model: The world model.
        tracks: Episodes (ground-truth frames and recorded actions).
        starts: Start frame of each episode (frames up to it are ground-truth context).
        clips: History layout and clip length F (frame_stride must be 1).
        sampler: How each clip is sampled.
        num_steps: Clips per rollout (N); the rollout covers N*F frames after the start.
        candidates: Rows per episode (K branch candidates with independent noise).
        seed: Base seed of the per-row generators.
        feed: ``own`` appends the predictions to the history (the real rollout); ``ground_truth``
            conditions every step on ground truth (teacher-forced 1-step predictions along the same
            trajectory, for comparison).
        policy: Optional policy in the loop; without it the recorded actions are replayed.
        keep_conditions: Keep every step's condition in the result (memory: all history frames).
        device: Where to run.

    Returns:
        The predicted (and, where available, ground-truth) frames and every step.
    """
    if feed not in FEEDS:
        raise ValueError(f"`feed` must be one of {FEEDS}. Got `{feed}`.")
    if clips.frame_stride != 1:
        raise ValueError(
            f"rollouts need clips.frame_stride = 1 (each step predicts consecutive frames). Got {clips.frame_stride}."
        )
    if feed == "ground_truth" and policy is not None:
        raise ValueError("a policy produces new actions, so there is no ground truth to feed: use feed='own'.")
    if len(tracks) != len(starts):
        raise ValueError(f"got {len(tracks)} episodes and {len(starts)} start frames.")
    future = clips.num_future
    horizon = num_steps * future
    for track, start in zip(tracks, starts, strict=True):
        needed = start + horizon + 1
        if policy is None and track.frames.shape[0] < needed:
            raise ValueError(
                f"episode {track.episode_id} has {track.frames.shape[0]} frames; replaying {num_steps} steps of "
                f"{future} frames from frame {start} needs {needed}. Use fewer steps or an earlier start."
            )

    rows = [(track, start, k) for track, start in zip(tracks, starts, strict=True) for k in range(candidates)]
    length = max(start for _, start, _ in rows) + horizon + 1
    _, views, channels, height, width = tracks[0].frames.shape
    frames = torch.zeros(len(rows), length, views, channels, height, width)
    actions = torch.zeros(len(rows), length, tracks[0].actions.shape[-1])
    truth = torch.zeros_like(frames) if policy is None else None
    for r, (track, start, _) in enumerate(rows):
        frames[r, : start + 1] = track.frames[: start + 1]  # ground-truth context, never beyond the start
        available = min(track.frames.shape[0], start + horizon + 1)
        actions[r, :available] = track.actions[:available]
        if truth is not None:
            truth[r, : start + horizon + 1] = track.frames[: start + horizon + 1]
    generators = [torch.Generator(device).manual_seed(row_seed(seed, t.episode_id, s, k)) for t, s, k in rows]
    row_index = torch.arange(len(rows))
    start_index = torch.tensor([s for _, s, _ in rows])
    texts = [t.text for t, _, _ in rows]

    steps: list[RolloutStep] = []
    for step in range(num_steps):
        began = time.perf_counter()
        current = start_index + step * future
        source = truth if feed == "ground_truth" else frames
        history_index = torch.stack(
            [torch.from_numpy(clip_frame_indices(clips, int(c), length).history) for c in current]
        )
        if policy is not None:
            proposed = policy(frames[row_index, current].to(device), step).cpu()
            for offset in range(future):
                actions[row_index, current + 1 + offset] = proposed[:, offset]
        action_index = current[:, None] + torch.arange(future + 1)
        cond = Condition(
            history=source[row_index[:, None], history_index].to(device),
            current=source[row_index, current].to(device),
            history_actions=actions[row_index[:, None], history_index].to(device),
            actions=actions[row_index[:, None], action_index].to(device),
            action_mask=torch.ones(len(rows), device=device),
            texts=texts,
        )
        x0 = sample(model, cond, sampler, generator=generators).x0
        predicted = model.decode(x0, cond).cpu()
        frames[row_index[:, None], current[:, None] + 1 + torch.arange(future)] = predicted
        steps.append(
            RolloutStep(current.clone(), predicted, x0.cpu(), cond.to("cpu") if keep_conditions else None,
                        time.perf_counter() - began)
        )  # fmt: skip

    window = start_index[:, None] + 1 + torch.arange(horizon)
    return RolloutResult(
        predicted=frames[row_index[:, None], window],
        ground_truth=None if truth is None else truth[row_index[:, None], window],
        start_frames=frames[row_index, start_index],
        steps=steps,
        candidates=candidates,
    )
