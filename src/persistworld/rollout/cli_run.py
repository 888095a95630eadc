"""The work behind `persistworld rollout`: load, replay, score, plot, write (kept out of the CLI module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from persistworld.data.reader import EpisodeDataset
from persistworld.models.checkpoint import load_world_model
from persistworld.rollout.engine import EpisodeTrack
from persistworld.rollout.plots import plot_drift
from persistworld.rollout.report import drift_report, finite_mean
from persistworld.rollout.video import to_uint8, write_comparison_video
from persistworld.train.pretrain import data_layout, resolve_device
from persistworld.utils.atomic import write_json_atomic


def run_rollout(
    cfg: Any,
    checkpoint: Path,
    split: str,
    episodes: int,
    steps: int,
    start: int,
    seed: int,
    videos: int,
    out: Path,
    *,
    swapped_actions: bool = True,
) -> dict:
    """Replay `episodes` episodes of `split` for `steps` clips; write ``drift.json``, ``drift.png`` and videos.

    Region metrics (PSNR in the robot and object masks) come from the dataset's segmentation when every
    episode has it, else from where the ground truth moves. With `swapped_actions` (and >= 2 episodes)
    the episodes are also rolled out with each other's actions: the action sensitivity.
    """
    device = resolve_device(cfg.pretrain.device)
    layout = data_layout(cfg.data.resolution, cfg.clips)
    model, stats, _ = load_world_model(checkpoint, expected_layout=layout, device=device)
    # actions are normalised with the model's own statistics, exactly as in training
    dataset = EpisodeDataset(cfg.data.root, split, resolution=cfg.data.resolution, stats=stats)
    ids = dataset.episode_ids[:episodes]
    tracks = [EpisodeTrack.load(dataset, i) for i in ids]
    labels = [dataset.load_segmentation(i) for i in ids]
    options = {
        "labels": None if any(label is None for label in labels) else labels,
        "regions": True,
        "swapped_actions": swapped_actions and len(tracks) >= 2,
    }
    report = drift_report(
        model, tracks, [start] * len(tracks), cfg.clips, cfg.sampler, steps, seed=seed, device=device, **options
    )
    summary = {
        "checkpoint": str(checkpoint),
        "split": split,
        "episodes": len(ids),
        "episode_ids": ids,
        "steps": steps,
        "start": start,
        "seed": seed,
        "sampler": vars(cfg.sampler),
        "per_step": report.summary(),
        "mean_over_steps": {
            kind: {metric: round(float(finite_mean(np.asarray(curve), axis=0)), 5) for metric, curve in curves.items()}
            for kind, curves in report.summary().items()
        },
        "regions": report.regions,
        "action_sensitivity_db": {group: round(value, 4) for group, value in report.action_sensitivity().items()},
        "out": str(out),
    }
    write_json_atomic(out / "drift.json", summary)
    plot_drift(summary["per_step"], out / "drift.png", title=f"{checkpoint} on {split} ({len(ids)} episodes)")
    truth, predicted = report.own.ground_truth, report.own.predicted
    for row, episode_id in enumerate(ids[:videos]):
        write_comparison_video(
            {"ground truth": to_uint8(truth[row]), "rollout": to_uint8(predicted[row])},
            out / f"{split}_{episode_id}.mp4",
        )
    return summary
