"""Does a world model follow the robot? The motion-aware evaluation of one checkpoint.

Full-frame metrics cannot tell a model that moves the arm correctly from one that freezes the scene:
the background dominates them. This evaluation rolls a model out on held-out episodes under five
conditions and scores each where things move:

- ``freeze``: every frame is the start frame (a world that stands still);
- ``copy``: each step's frames are the step's ground-truth current frame (teacher-forced copying);
- ``teacher-forced``: each step conditioned on ground truth (1-step prediction along the episode);
- ``rollout``: the model on its own predictions with the episode's actions (what is deployed);
- ``rollout, swapped actions``: the same from the same noise, with the next episode's actions.

Per camera group (external, wrist) it reports SSIM and PSNR over the frame, PSNR inside the ground
truth's robot mask and inside its object masks (dilated by `DILATION` pixels; from the dataset's
segmentation, else inside the ground truth's motion mask), and the edge energy of the predictions
relative to the truth's (1 = as sharp as the truth). Two numbers summarise it:

- **action sensitivity**: how much closer the rollout's robot region is to the truth with the
  episode's own actions than with swapped ones (dB). A model that ignores its actions scores 0.
- **drift gap**: teacher-forced minus rollout quality, what post-training on own rollouts can close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.layout import GROUPS, OBJECT_LABELS, ROBOT_LABEL
from persistworld.metrics.image import psnr, ssim
from persistworld.metrics.regions import dilate, masked_psnr, motion_mask
from persistworld.metrics.sharpness import edge_energy
from persistworld.models.protocol import WorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout

CONDITIONS = ("freeze", "copy", "teacher-forced", "rollout", "rollout, swapped actions")
METRICS = ("ssim", "psnr", "robot_psnr", "object_psnr", "edge_ratio")


@dataclass
class MotionTrack:
    """An episode for the motion evaluation: frames, actions and (optionally) segmentation labels."""

    track: EpisodeTrack
    labels: torch.Tensor | None  # (T, V, H, W) uint8 `SEGMENT_LABELS`, or None without segmentation


@dataclass
class MotionEvaluation:
    """Scores per condition, camera group and metric: one value per episode."""

    episode_ids: list[str]
    scores: dict[str, dict[str, dict[str, list[float]]]]  # condition -> group -> metric -> (E,)
    regions: str  # "segmentation" or "motion": where robot_psnr / object_psnr were measured

    def mean(self, condition: str, group: str, metric: str) -> float:
        """Mean over episodes (episodes without the region, e.g. no object in view, left out)."""
        values = np.asarray(self.scores[condition][group][metric], dtype=float)
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def action_sensitivity(self, group: str) -> float:
        """Robot-region PSNR with the episode's own actions minus with swapped ones (dB)."""
        return self.mean("rollout", group, "robot_psnr") - self.mean("rollout, swapped actions", group, "robot_psnr")

    def summary(self) -> dict:
        """Every mean, plus action sensitivity per group (JSON-able)."""
        means = {
            c: {g: {m: self.mean(c, g, m) for m in METRICS} for g in GROUPS} for c in CONDITIONS if c in self.scores
        }
        return {
            "episodes": self.episode_ids,
            "regions": self.regions,
            "means": means,
            "action_sensitivity_db": {g: self.action_sensitivity(g) for g in GROUPS},
        }


def _region_masks(labels: torch.Tensor | None, start: torch.Tensor, truth: torch.Tensor):
    """(robot, object) masks (E, T, V, H, W) of the ground truth, dilated."""
    if labels is None:
        moving = motion_mask(start[:, None], truth)
        return moving, moving
    robot = dilate(labels == ROBOT_LABEL)
    objects = dilate(torch.isin(labels, torch.tensor(OBJECT_LABELS, dtype=labels.dtype)))
    return robot, objects


def _score(predicted: torch.Tensor, truth: torch.Tensor, robot: torch.Tensor, objects: torch.Tensor) -> dict:
    """Per episode and group, the mean of every metric over frames and views -> {group: {metric: (E,)}}."""
    per_frame = {
        "ssim": ssim(predicted, truth),
        "psnr": psnr(predicted, truth),
        "robot_psnr": masked_psnr(predicted, truth, robot),
        "object_psnr": masked_psnr(predicted, truth, objects),
    }  # each (E, T, V)
    result = {}
    for group, views in GROUPS.items():
        index = list(views)
        scores = {name: values[:, :, index].flatten(1).nanmean(1).tolist() for name, values in per_frame.items()}
        scores["edge_ratio"] = [
            edge_energy(predicted[e, :, index]) / max(edge_energy(truth[e, :, index]), 1e-8)
            for e in range(len(predicted))
        ]
        result[group] = scores
    return result


@torch.no_grad()
def evaluate_motion(
    model: WorldModel,
    episodes: Sequence[MotionTrack],
    clips: ClipConfig,
    sampler: SamplerConfig,
    steps: int,
    *,
    start: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> MotionEvaluation:
    """Score `model` on `episodes` under every condition (module docstring).

    Swapped actions follow a fixed pairing: episode i gets the actions of episode i + 1 (the last, the
    first's), from its own start frame; its frames and history stay its own.
    """
    if len(episodes) < 2:
        raise ValueError("the swapped-action condition needs at least 2 episodes.")
    tracks = [e.track for e in episodes]
    horizon = steps * clips.num_future
    truth = torch.stack([t.frames[start + 1 : start + 1 + horizon] for t in tracks])
    start_frames = torch.stack([t.frames[start] for t in tracks])
    with_labels = all(e.labels is not None for e in episodes)
    labels = torch.stack([e.labels[start + 1 : start + 1 + horizon] for e in episodes]) if with_labels else None
    robot, objects = _region_masks(labels, start_frames, truth)
    starts = [start] * len(tracks)
    run = dict(clips=clips, sampler=sampler, num_steps=steps, seed=seed, device=device)
    current = torch.tensor([start + (i // clips.num_future) * clips.num_future for i in range(horizon)])
    swapped = [replace(t, actions=tracks[(i + 1) % len(tracks)].actions) for i, t in enumerate(tracks)]
    for track, other in zip(tracks, swapped, strict=True):
        if other.actions.shape[0] < start + horizon + 1:
            raise ValueError(f"episode {track.episode_id}: its swapped actions are too short for {steps} steps.")
    predictions = {
        "freeze": start_frames[:, None].expand_as(truth),
        "copy": torch.stack([t.frames[current] for t in tracks]),
        "teacher-forced": rollout(model, tracks, starts, feed="ground_truth", **run).predicted,
        "rollout": rollout(model, tracks, starts, **run).predicted,
        "rollout, swapped actions": rollout(model, swapped, starts, **run).predicted,
    }
    scores = {name: _score(frames, truth, robot, objects) for name, frames in predictions.items()}
    regions = "segmentation" if with_labels else "motion"
    return MotionEvaluation([t.episode_id for t in tracks], scores, regions)


def markdown_table(evaluation: MotionEvaluation) -> str:
    """One row per condition and camera group; region PSNRs inside the robot and object masks."""
    header = (
        "| condition | group | SSIM | PSNR (dB) | robot PSNR (dB) | object PSNR (dB) | edge energy / truth |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = []
    for condition in CONDITIONS:
        for group in GROUPS:
            m = {metric: evaluation.mean(condition, group, metric) for metric in METRICS}
            rows.append(
                f"| {condition} | {group} | {m['ssim']:.4f} | {m['psnr']:.2f} | {m['robot_psnr']:.2f} | "
                f"{m['object_psnr']:.2f} | {m['edge_ratio']:.2f} |"
            )
    sensitivity = ", ".join(f"{g} {evaluation.action_sensitivity(g):+.2f} dB" for g in GROUPS)
    return "\n".join([header, *rows, "", f"Action sensitivity (robot region, own - swapped actions): {sensitivity}."])
