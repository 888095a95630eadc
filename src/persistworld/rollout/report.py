"""Per-step metrics of rollouts, and the drift comparison: own-feedback rollout vs teacher-forced 1-step.

A rollout is scored clip by clip against the ground truth, per camera group (external = views 0 + 1,
wrist = view 2). The same trajectory is also predicted with ground-truth histories (each clip a 1-step
prediction) and by copying frames (the copy baseline): if the rollout's error grows much faster than the
1-step error, the model drifts on its own predictions, which is what PersistWorld post-training fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.layout import GROUPS, OBJECT_LABELS, ROBOT_LABEL
from persistworld.metrics.image import psnr, ssim
from persistworld.metrics.regions import dilate, masked_psnr, motion_mask
from persistworld.models.protocol import WorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, RolloutResult, rollout


def group_step_means(scores: np.ndarray, num_future: int, views: tuple[int, ...]) -> np.ndarray:
    """(B, N*F, V) per-frame scores -> (B, N): mean over each step's F frames and the group's views.

    NaN scores (a region metric where the region is not in view) are left out; a step with no
    finite score is NaN.
    """
    rows, frames, _ = scores.shape
    selected = scores[..., list(views)].reshape(rows, frames // num_future, num_future * len(views))
    return finite_mean(selected, axis=2)


def finite_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over `axis` of the finite entries; NaN where there is none (no warning, unlike `np.nanmean`)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    return np.where(count > 0, np.where(finite, values, 0.0).sum(axis=axis) / np.maximum(count, 1), np.nan)


@dataclass
class Regions:
    """Where region metrics look: the ground truth's robot and object masks (B, N*F, V, H, W), dilated."""

    robot: torch.Tensor
    objects: torch.Tensor
    source: str  # "segmentation" (the dataset's labels) or "motion" (where the ground truth moves)

    @classmethod
    def of(cls, truth: torch.Tensor, start_frames: torch.Tensor, labels: torch.Tensor | None) -> Regions:
        """From segmentation labels (B, N*F, V, H, W) when there are any, else from the motion of the truth."""
        if labels is None:
            moving = motion_mask(start_frames[:, None], truth)
            return cls(moving, moving, "motion")
        objects = torch.isin(labels, torch.tensor(OBJECT_LABELS, dtype=labels.dtype))
        return cls(dilate(labels == ROBOT_LABEL), dilate(objects), "segmentation")


def per_step_scores(
    predicted: torch.Tensor, truth: torch.Tensor, num_future: int, regions: Regions | None = None
) -> dict[str, np.ndarray]:
    """SSIM and PSNR per (row, step, camera group), averaged over a step's F frames and the group's views.

    Args:
        predicted: (B, N*F, V, 3, H, W) in [-1, 1].
        truth: Same shape.
        num_future: F, frames per step.
        regions: Also score PSNR inside the robot and the object masks (``robot_psnr``, ``object_psnr``).

    Returns:
        ``{"ssim/external": (B, N), "psnr/external": ..., "ssim/wrist": ..., "psnr/wrist": ...}`` (and the
        region metrics).
    """
    per_view = {"ssim": ssim(predicted, truth).numpy(), "psnr": psnr(predicted, truth).numpy()}  # (B, N*F, V)
    if regions is not None:
        per_view["robot_psnr"] = masked_psnr(predicted, truth, regions.robot).numpy()
        per_view["object_psnr"] = masked_psnr(predicted, truth, regions.objects).numpy()
    return {
        f"{metric}/{group}": group_step_means(values, num_future, views)
        for metric, values in per_view.items()
        for group, views in GROUPS.items()
    }


@dataclass
class DriftReport:
    """Per-step scores (B, N) of the rollout, the teacher-forced 1-step predictions and two copy baselines.

    With `swapped`, the same rollout (same noise) with each episode given the next episode's actions:
    the robot region's PSNR difference is the model's action sensitivity, 0 for a model that ignores
    its actions.
    """

    rollout: dict[str, np.ndarray]
    teacher_forced: dict[str, np.ndarray]
    copy_start: dict[str, np.ndarray]  # every frame = the start frame (what a frozen world model gives)
    copy_current: dict[str, np.ndarray]  # every clip = its ground-truth current frame (the 1-step copy baseline)
    own: RolloutResult
    teacher: RolloutResult | None = None
    swapped: dict[str, np.ndarray] | None = None
    swapped_rollout: RolloutResult | None = None
    regions: str | None = None  # where region metrics were measured: "segmentation", "motion" or None

    def kinds(self) -> dict[str, dict[str, np.ndarray]]:
        """Every scored prediction by name."""
        kinds = {
            "rollout": self.rollout,
            "teacher_forced": self.teacher_forced,
            "copy_start": self.copy_start,
            "copy_current": self.copy_current,
        }
        return kinds | ({"rollout_swapped_actions": self.swapped} if self.swapped is not None else {})

    def summary(self) -> dict[str, dict[str, list[float]]]:
        """Mean over rows, per step: ``{kind: {metric/group: [step 1, ..., step N]}}`` (NaN rows left out)."""
        return {
            k: {m: finite_mean(v, axis=0).round(5).tolist() for m, v in scores.items()}
            for k, scores in self.kinds().items()
        }

    def action_sensitivity(self) -> dict[str, float]:
        """Per camera group, the rollout's robot-region PSNR with own minus swapped actions (dB, mean over steps)."""
        if self.swapped is None or "robot_psnr/external" not in self.rollout:
            return {}
        return {
            group: float(
                finite_mean(self.rollout[f"robot_psnr/{group}"].ravel(), axis=0)
                - finite_mean(self.swapped[f"robot_psnr/{group}"].ravel(), axis=0)
            )
            for group in GROUPS
        }


def copy_current_frames(result: RolloutResult, num_future: int) -> torch.Tensor:
    """The 1-step copy baseline: each clip's frames are its ground-truth current frame, (B, N*F, V, 3, H, W)."""
    truth, f = result.ground_truth, num_future
    currents = torch.cat(
        [result.start_frames[:, None], truth[:, f - 1 :: f][:, :-1]], dim=1
    )  # GT frame before each clip
    return currents.repeat_interleave(f, dim=1)


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
    labels: list[torch.Tensor] | None = None,
    regions: bool = False,
    swapped_actions: bool = False,
) -> DriftReport:
    """Roll out with own feedback and with ground-truth feedback (same noise), and score both and the copies.

    Args:
        model: The world model.
        tracks: Episodes (ground-truth frames and recorded actions).
        starts: Start frame of each episode.
        clips: History layout and clip length.
        sampler: How each clip is sampled.
        num_steps: Clips per rollout.
        seed: Base seed of the per-row generators (the same for every rollout here).
        device: Where to run.
        labels: Per episode, segmentation labels (T, V, H, W) for the region metrics (all or none).
        regions: Score PSNR inside the robot and object masks: from `labels`, else where the truth moves.
        swapped_actions: Also roll out with each episode given the next episode's actions (needs >= 2
            episodes): the action sensitivity.
    """
    if swapped_actions and len(tracks) < 2:
        raise ValueError("the swapped-action rollout needs at least 2 episodes (each takes the next one's actions).")
    run = dict(clips=clips, sampler=sampler, num_steps=num_steps, seed=seed, device=device)
    own = rollout(model, tracks, starts, **run)
    teacher = rollout(model, tracks, starts, feed="ground_truth", **run)
    truth, f = own.ground_truth, clips.num_future
    copy_start = own.start_frames[:, None].expand_as(truth)
    copy_current = copy_current_frames(own, f)
    masks = None
    if regions or labels is not None:
        window = None
        if labels is not None:
            window = torch.stack(
                [torch.as_tensor(labels[i][s + 1 : s + 1 + num_steps * f]) for i, s in enumerate(starts)]
            )
        masks = Regions.of(truth, own.start_frames, window)
    swapped = swapped_rollout = None
    if swapped_actions:
        others = [replace(t, actions=tracks[(i + 1) % len(tracks)].actions) for i, t in enumerate(tracks)]
        swapped_rollout = rollout(model, others, starts, **run)
        swapped = per_step_scores(swapped_rollout.predicted, truth, f, masks)
    return DriftReport(
        rollout=per_step_scores(own.predicted, truth, f, masks),
        teacher_forced=per_step_scores(teacher.predicted, truth, f, masks),
        copy_start=per_step_scores(copy_start, truth, f, masks),
        copy_current=per_step_scores(copy_current, truth, f, masks),
        own=own,
        teacher=teacher,
        swapped=swapped,
        swapped_rollout=swapped_rollout,
        regions=None if masks is None else masks.source,
    )
