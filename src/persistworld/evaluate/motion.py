"""Does a world model follow the robot? The motion-aware evaluation of one checkpoint.

Full-frame metrics cannot tell a model that moves the arm correctly from one that freezes the scene:
the background dominates them. This evaluation takes the rollout report (`drift_report`) with region
metrics and the swapped-action rollout, and summarises it per episode under five conditions:

- ``freeze``: every frame is the start frame (a world that stands still);
- ``copy``: each step's frames are the step's ground-truth current frame (teacher-forced copying);
- ``teacher-forced``: each step conditioned on ground truth (1-step prediction along the episode);
- ``rollout``: the model on its own predictions with the episode's actions (what is deployed);
- ``rollout, swapped actions``: the same from the same noise, with the next episode's actions.

Per camera group (external, wrist) it reports SSIM and PSNR over the frame, PSNR inside the ground
truth's robot mask and inside its object masks (dilated; from the dataset's segmentation, else
inside the ground truth's motion mask), and the edge energy of the predictions relative to the
truth's (1 = as sharp as the truth). Two numbers summarise it:

- **action sensitivity**: how much closer the rollout's robot region is to the truth with the
  episode's own actions than with swapped ones (dB). A model that ignores its actions scores 0.
- **drift gap**: teacher-forced minus rollout quality, what post-training on own rollouts can close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.layout import GROUPS
from persistworld.metrics.sharpness import edge_energy
from persistworld.models.protocol import WorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack
from persistworld.rollout.report import DriftReport, copy_current_frames, drift_report, finite_mean

#: Condition name -> the rollout report's name for it.
CONDITIONS = {
    "freeze": "copy_start",
    "copy": "copy_current",
    "teacher-forced": "teacher_forced",
    "rollout": "rollout",
    "rollout, swapped actions": "rollout_swapped_actions",
}
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
    # The frames of every condition and the ground truth, (E, N*F, V, 3, H, W), for pictures.
    frames: dict[str, torch.Tensor] | None = None

    def mean(self, condition: str, group: str, metric: str) -> float:
        """Mean over episodes (episodes without the region, e.g. no object in view, left out)."""
        values = np.asarray(self.scores[condition][group][metric], dtype=float)
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def action_sensitivity(self, group: str) -> float:
        """Robot-region PSNR with the episode's own actions minus with swapped ones (dB)."""
        return self.mean("rollout", group, "robot_psnr") - self.mean("rollout, swapped actions", group, "robot_psnr")

    def summary(self) -> dict:
        """Every mean, plus action sensitivity per group (JSON-able)."""
        means = {c: {g: {m: self.mean(c, g, m) for m in METRICS} for g in GROUPS} for c in CONDITIONS}
        return {
            "episodes": self.episode_ids,
            "regions": self.regions,
            "means": means,
            "action_sensitivity_db": {g: self.action_sensitivity(g) for g in GROUPS},
        }


def _frames(report: DriftReport, num_future: int) -> dict[str, torch.Tensor]:
    """The predicted frames of every condition, (E, N*F, V, 3, H, W)."""
    truth = report.own.ground_truth
    return {
        "freeze": report.own.start_frames[:, None].expand_as(truth),
        "copy": copy_current_frames(report.own, num_future),
        "teacher-forced": report.teacher.predicted,
        "rollout": report.own.predicted,
        "rollout, swapped actions": report.swapped_rollout.predicted,
    }


def motion_from_report(report: DriftReport, episode_ids: Sequence[str], num_future: int) -> MotionEvaluation:
    """Per-episode means (over steps) of every condition, group and metric of a report with regions and swaps."""
    if report.swapped is None or report.regions is None:
        raise ValueError("the report needs region metrics and the swapped-action rollout (drift_report options).")
    kinds, frames = report.kinds(), _frames(report, num_future)
    truth = report.own.ground_truth
    scores = {}
    for condition, kind in CONDITIONS.items():
        scores[condition] = {}
        for group, views in GROUPS.items():
            per_episode = {metric: finite_mean(kinds[kind][f"{metric}/{group}"], axis=1) for metric in METRICS[:-1]}
            index = list(views)
            per_episode["edge_ratio"] = np.array(
                [
                    edge_energy(frames[condition][e][:, index]) / max(edge_energy(truth[e][:, index]), 1e-8)
                    for e in range(len(truth))
                ]
            )
            scores[condition][group] = {metric: [float(x) for x in values] for metric, values in per_episode.items()}
    return MotionEvaluation(list(episode_ids), scores, report.regions, frames | {"ground truth": truth})


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
    tracks = [e.track for e in episodes]
    labels = [e.labels for e in episodes] if all(e.labels is not None for e in episodes) else None
    starts = [start] * len(tracks)
    options = {"labels": labels, "regions": True, "swapped_actions": True}
    report = drift_report(model, tracks, starts, clips, sampler, steps, seed=seed, device=device, **options)
    return motion_from_report(report, [t.episode_id for t in tracks], clips.num_future)


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
