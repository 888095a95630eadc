"""Per-step metrics of rollouts, and the drift comparison: own-feedback rollout vs teacher-forced 1-step.

A rollout is scored clip by clip against the ground truth, per camera group (external = views 0 + 1,
wrist = view 2). The same trajectory is also predicted with ground-truth histories (each clip a 1-step
prediction) and by copying frames (the copy baseline): if the rollout's error grows much faster than the
1-step error, the model drifts on its own predictions, which is what PersistWorld post-training fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.layout import GROUPS
from persistworld.metrics.image import psnr, ssim
from persistworld.models.protocol import WorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, RolloutResult, rollout


def group_step_means(scores: np.ndarray, num_future: int, views: tuple[int, ...]) -> np.ndarray:
    """(B, N*F, V) per-frame scores -> (B, N): mean over each step's F frames and the group's views."""
    rows, frames, _ = scores.shape
    selected = scores[..., list(views)]
    return selected.reshape(rows, frames // num_future, num_future, len(views)).mean(axis=(2, 3))


def per_step_scores(predicted: torch.Tensor, truth: torch.Tensor, num_future: int) -> dict[str, np.ndarray]:
    """SSIM and PSNR per (row, step, camera group), averaged over a step's F frames and the group's views.

    Args:
        predicted: (B, N*F, V, 3, H, W) in [-1, 1].
        truth: Same shape.
        num_future: F, frames per step.

    Returns:
        ``{"ssim/external": (B, N), "psnr/external": ..., "ssim/wrist": ..., "psnr/wrist": ...}``.
    """
    per_view = {"ssim": ssim(predicted, truth).numpy(), "psnr": psnr(predicted, truth).numpy()}  # (B, N*F, V)
    return {
        f"{metric}/{group}": group_step_means(values, num_future, views)
        for metric, values in per_view.items()
        for group, views in GROUPS.items()
    }


@dataclass
class DriftReport:
    """Per-step scores (B, N) of the rollout, the teacher-forced 1-step predictions and two copy baselines."""

    rollout: dict[str, np.ndarray]
    teacher_forced: dict[str, np.ndarray]
    copy_start: dict[str, np.ndarray]  # every frame = the start frame (what a frozen world model gives)
    copy_current: dict[str, np.ndarray]  # every clip = its ground-truth current frame (the 1-step copy baseline)
    own: RolloutResult

    def summary(self) -> dict[str, dict[str, list[float]]]:
        """Mean over rows, per step: ``{kind: {metric/group: [step 1, ..., step N]}}``."""
        kinds = {
            "rollout": self.rollout,
            "teacher_forced": self.teacher_forced,
            "copy_start": self.copy_start,
            "copy_current": self.copy_current,
        }
        return {k: {m: v.mean(0).round(5).tolist() for m, v in scores.items()} for k, scores in kinds.items()}


def drift_report(
    model: WorldModel,
    tracks: list[EpisodeTrack],
    starts: list[int],
    clips: ClipConfig,
    sampler: SamplerConfig,
    num_steps: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> DriftReport:
    """Roll out with own feedback and with ground-truth feedback (same noise), and score both and the copies."""
    own = rollout(model, tracks, starts, clips, sampler, num_steps, seed=seed, device=device)
    teacher = rollout(model, tracks, starts, clips, sampler, num_steps, seed=seed, device=device, feed="ground_truth")
    truth, f = own.ground_truth, clips.num_future
    copy_start = own.start_frames[:, None].expand_as(truth)
    currents = torch.cat([own.start_frames[:, None], truth[:, f - 1 :: f][:, :-1]], dim=1)  # GT frame before each clip
    copy_current = currents.repeat_interleave(f, dim=1)
    return DriftReport(
        rollout=per_step_scores(own.predicted, truth, f),
        teacher_forced=per_step_scores(teacher.predicted, truth, f),
        copy_start=per_step_scores(copy_start, truth, f),
        copy_current=per_step_scores(copy_current, truth, f),
        own=own,
    )
