"""`persistworld rollout`: replay held-out episodes through a trained model and show the drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config


def rollout_command(
    checkpoint: Annotated[Path | None, typer.Option(help="Model file; default: <run_dir>/model.pt.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to replay; default: the preset's test split.")] = None,
    episodes: Annotated[int, typer.Option(help="Number of episodes (the split's first ones).")] = 4,
    steps: Annotated[int, typer.Option(help="Autoregressive steps (clips) per rollout.")] = 14,
    start: Annotated[int, typer.Option(help="Start frame (ground truth up to it).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the sampler noise.")] = 0,
    videos: Annotated[int, typer.Option(help="Write comparison videos of this many episodes.")] = 2,
    out: Annotated[Path | None, typer.Option(help="Output folder; default: <run_dir>/rollout.")] = None,
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Roll out recorded actions from a ground-truth start; write per-step metrics, curves and videos."""
    from persistworld.rollout.cli_run import run_rollout

    cfg = load_config(preset, config, set_)
    summary = run_rollout(
        cfg, checkpoint or cfg.run_dir / "model.pt", split or cfg.data.test_split, episodes, steps, start, seed,
        videos, out or cfg.run_dir / "rollout",
    )  # fmt: skip
    print_drift_table(summary)


def print_drift_table(summary: dict) -> None:
    """Per-step external-camera SSIM / PSNR of the rollout next to its teacher-forced twin and the copies."""
    table = Table(title=f"mean over {summary['episodes']} episodes ({summary['split']}), SSIM ext / PSNR ext")
    for column in ("step", "rollout", "teacher-forced 1-step", "copy start frame", "copy current frame"):
        table.add_column(column)
    curves = summary["per_step"]
    for i in range(summary["steps"]):
        cells = [
            f"{curves[k]['ssim/external'][i]:.3f} / {curves[k]['psnr/external'][i]:.2f}"
            for k in ("rollout", "teacher_forced", "copy_start", "copy_current")
        ]
        table.add_row(str(i + 1), *cells)
    console.print(table)
    means = Table(title=f"mean over the {summary['steps']} steps")
    metrics = list(summary["mean_over_steps"]["rollout"])
    for column in ("", *metrics):
        means.add_column(column)
    for kind, values in summary["mean_over_steps"].items():
        means.add_row(kind, *(f"{values[m]:.4f}" for m in metrics))
    console.print(means)
    if summary.get("action_sensitivity_db"):
        where = "segmentation" if summary["regions"] == "segmentation" else "where the ground truth moves"
        values = ", ".join(f"{group} {value:+.2f} dB" for group, value in summary["action_sensitivity_db"].items())
        console.print(
            f"action sensitivity (robot-region PSNR with own minus another episode's actions; regions from {where}): "
            f"{values}"
        )
    console.print(f"results: {summary['out']}")
