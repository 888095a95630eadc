"""Branching rollouts: a self-generated prefix, then K candidate continuations from the same state.

One group (method_spec.md section 3.3, steps 1-5):

1. pick a training episode and a start frame; the frames up to it are ground truth;
2. roll out a prefix of p clips with the old policy (p variable, may be 0), one noise stream; the
   prefix is then frozen: it is the shared history of every candidate;
3. branch K candidates from the end of the prefix, same recorded actions, independent noise, and
   roll each out for L clips (L variable);
4. score every candidate's L clips against the ground-truth frames at the same times.

The training samples are the candidates' first clips (the spec's SWITCH-A): all K share one
condition exactly (the frozen prefix), so they form a proper group for the contrastive objective.
`train_clips = "all"` (SWITCH-B) also trains on the later clips, whose histories are each
candidate's own earlier clips.
The reward covers all L clips, so it sees how a clip affects the clips after it (L >= 2 kept the toy
run from trading long-horizon PSNR for SSIM).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.metrics.reward import Reward, RewardResult
from persistworld.models.protocol import Condition, WorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout


@dataclass
class BranchingConfig:
    """How each group is collected."""

    candidates: int = 16  # K
    max_prefix: int = 3  # prefix length p ~ U{min_prefix, ..., max_prefix} clips
    min_prefix: int = 0  # 0: some groups branch at a ground-truth state; = max_prefix: a fixed prefix
    min_continuation: int = 2  # continuation length L ~ U{min, ..., max} clips
    max_continuation: int = 2
    # The collection sampler. A single 1-step draw (no averaging) keeps candidates diverse; EDM churn
    # (s_churn > 0) with more steps is the other option.
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(num_steps=1, draws=1))
    # Which clips the update trains on (method_spec.md section 3.3, step 7). "first" (SWITCH-A, the
    # spec's default): the candidates' first clips, which share one condition exactly. "all" (SWITCH-B):
    # every clip of every continuation, each with its own self-generated history, all weighted by the
    # candidate's reward r^k.
    train_clips: str = "first"

    def __post_init__(self) -> None:
        if self.train_clips not in ("first", "all"):
            raise ValueError(f"`train_clips` must be 'first' (SWITCH-A) or 'all' (SWITCH-B). Got {self.train_clips!r}.")
        if self.candidates < 2:
            raise ValueError(f"`candidates` must be >= 2 (a group needs a spread). Got {self.candidates}.")
        if not 1 <= self.min_continuation <= self.max_continuation:
            raise ValueError(
                f"need 1 <= min_continuation <= max_continuation. Got {self.min_continuation}, {self.max_continuation}."
            )
        if not 0 <= self.min_prefix <= self.max_prefix:
            raise ValueError(f"need 0 <= min_prefix <= max_prefix. Got {self.min_prefix}, {self.max_prefix}.")


@dataclass
class Group:
    """K candidates branched from one frozen state, with their rewards."""

    episode_id: str
    start: int  # ground-truth frames up to here
    prefix: int  # clips rolled out before the branch
    continuation: int  # clips per candidate
    cond: Condition  # (K) the first clip's condition, identical for every candidate
    x0: torch.Tensor  # (K, ...) the first clip of every candidate, in the model's target space
    predicted: torch.Tensor  # (K, L*F, V, 3, H, W)
    truth: torch.Tensor  # (L*F, V, 3, H, W)
    reward: RewardResult  # total (K,), per clip (K, L), terms {name: (K, L)}
    rollout_seconds: float = 0.0  # prefix and candidates
    reward_seconds: float = 0.0
    # With train_clips = "all": the (K) conditions and x0 of clips 2..L, each candidate on its own history.
    later: list[tuple[Condition, torch.Tensor]] = field(default_factory=list)

    def training_clips(self) -> list[tuple[Condition, torch.Tensor]]:
        """(condition, x0) of each clip the update trains on: the first clip, then the later ones if kept."""
        return [(self.cond, self.x0), *self.later]


def branch_track(track: EpisodeTrack, start: int, prefix_frames: torch.Tensor) -> EpisodeTrack:
    """The episode as the candidates see it: ground truth up to `start`, the frozen prefix, then ground truth.

    The rollout engine reads context only up to its start frame, so the ground truth after the prefix
    is used as the reward's reference and never as input (tests/rollout: no leak after step 0).
    """
    end = start + 1 + prefix_frames.shape[0]
    frames = torch.cat([track.frames[: start + 1], prefix_frames, track.frames[end:]])
    return EpisodeTrack(track.episode_id, frames, track.actions, track.text)


@torch.no_grad()
def collect_group(
    old_policy: WorldModel,
    track: EpisodeTrack,
    clips: ClipConfig,
    config: BranchingConfig,
    reward: Reward,
    seed: int,
    device: torch.device | str = "cpu",
) -> Group:
    """Collect one group on `track` with the old policy (no gradients anywhere).

    `seed` alone decides the group (prefix and continuation lengths, start frame, every noise), so
    a group is the same whichever process collects it (`persistworld.utils.distributed`).
    """
    rng = np.random.default_rng(seed)
    future = clips.num_future
    prefix = int(rng.integers(config.min_prefix, config.max_prefix + 1))
    continuation = int(rng.integers(config.min_continuation, config.max_continuation + 1))
    last_start = track.frames.shape[0] - 1 - (prefix + continuation) * future
    if last_start < 0:
        raise ValueError(
            f"episode {track.episode_id} has {track.frames.shape[0]} frames, too few for {prefix} prefix and "
            f"{continuation} continuation clips of {future} frames."
        )
    start = int(rng.integers(0, last_start + 1))
    began = time.perf_counter()
    branched = track
    if prefix:
        head = rollout(old_policy, [track], [start], clips, config.sampler, prefix, seed=seed, device=device)
        branched = branch_track(track, start, head.predicted[0])
    branch_start = start + prefix * future
    result = rollout(
        old_policy, [branched], [branch_start], clips, config.sampler, continuation, candidates=config.candidates,
        seed=seed + 1, keep_conditions=True, device=device,
    )  # fmt: skip
    k = config.candidates
    predicted, truth = result.predicted, result.ground_truth[0]
    views = predicted.shape[2:]
    scored = time.perf_counter()
    scores = reward(predicted.reshape(k, continuation, future, *views), truth.reshape(continuation, future, *views))
    first = result.steps[0]
    later = [(step.cond, step.x0) for step in result.steps[1:]] if config.train_clips == "all" else []
    return Group(
        episode_id=track.episode_id, start=start, prefix=prefix, continuation=continuation, cond=first.cond,
        x0=first.x0, predicted=predicted, truth=truth, reward=scores, rollout_seconds=scored - began,
        reward_seconds=time.perf_counter() - scored, later=later,
    )  # fmt: skip
