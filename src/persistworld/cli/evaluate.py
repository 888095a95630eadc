"""`persistworld evaluate`: one or more checkpoints on the same held-out rollouts, with paired statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config


def evaluate_command(
    checkpoint: Annotated[
        list[Path], typer.Option("--checkpoint", help="Model file (repeat for several; the first is the reference).")
    ],
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Display name per checkpoint (default: the file's folder).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Split to replay; default: the preset's test split.")] = None,
    episodes: Annotated[int | None, typer.Option(help="Number of episodes (the split's first ones; 0 = all).")] = None,
    steps: Annotated[int | None, typer.Option(help="Autoregressive steps (clips) per rollout (default 14).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sampler noise (the same for every model).")] = None,
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metrics, e.g. ssim,psnr,ms_ssim,haarpsi,lpips_alex.")
    ] = None,
    lpips_weights: Annotated[
        Path | None, typer.Option(help="LPIPS backbone checkpoint (file, or folder with torchvision's file name).")
    ] = None,
    videos: Annotated[int | None, typer.Option(help="Side-by-side videos of this many episodes.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder; default: <run_dir>/../evaluate.")] = None,
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Roll every checkpoint out on the same held-out episodes and seeds; write JSON, CSV, plots, videos, report."""
    from persistworld.evaluate.cli_run import run_evaluation

    cfg = load_config(preset, config, set_)
    options = {"split": split, "episodes": episodes, "steps": steps, "seed": seed, "videos": videos,
               "lpips_weights": lpips_weights}  # fmt: skip
    for key, value in options.items():
        if value is not None:
            setattr(cfg.evaluate, key, value)
    if metrics is not None:
        cfg.evaluate.metrics = tuple(m.strip() for m in metrics.split(",") if m.strip())
    names = name or [path.parent.name or path.stem for path in checkpoint]
    if len(set(names)) != len(names):  # same folder names: fall back to the file stems, then to indices
        names = [f"{i}:{path.parent.name}/{path.stem}" for i, path in enumerate(checkpoint)]
    outputs = run_evaluation(cfg, list(checkpoint), list(names), out or cfg.run_dir.parent / "evaluate")
    print_evaluation(outputs.results)
    console.print(f"report: {outputs.report}")


def print_evaluation(results: dict) -> None:
    """Scores per model and camera group, and the paired comparisons, as tables."""
    metrics = list(results["metrics"])
    for group in results["groups"]:
        table = Table(title=f"{group} cameras: mean over {len(results['episode_ids'])} episodes ± 95% CI half-width")
        table.add_column("model")
        for metric in metrics:
            table.add_column(metric)
        for model, groups in results["summary"].items():
            table.add_row(model, *(_mean_pm(groups[group][m]) for m in metrics))
        console.print(table)
    for comparison in results["comparisons"]:
        table = Table(title=f"{comparison['b']} vs {comparison['a']} (delta > 0: {comparison['b']} better)")
        for column in ("group", "metric", "mean delta", "win rate", "Wilcoxon p", "sign p"):
            table.add_column(column)
        for group, values in comparison["results"].items():
            for metric, r in values.items():
                table.add_row(group, metric, f"{r['mean_delta']['mean']:+.4f}", f"{r['win_rate']:.2f}",
                              f"{r['wilcoxon_p']:.3g}", f"{r['sign_test_p']:.3g}")  # fmt: skip
        console.print(table)


def _mean_pm(stats: dict) -> str:
    half = (stats["high"] - stats["low"]) / 2
    return f"{stats['mean']:.4f}" + ("" if half != half else f" ± {half:.4f}")  # NaN half-width: one episode
