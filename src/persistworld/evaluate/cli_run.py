"""The work behind `persistworld evaluate`: roll out, score, aggregate, plot, write videos and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persistworld.evaluate.html import write_report
from persistworld.evaluate.plots import plot_curves, plot_deltas
from persistworld.evaluate.run import Evaluation, evaluate_models
from persistworld.evaluate.summary import summarize, write_tables
from persistworld.evaluate.videos import write_videos
from persistworld.train.pretrain import data_layout, resolve_device


@dataclass(frozen=True)
class EvaluationOutputs:
    """What an evaluation wrote, and its numbers."""

    results: dict
    report: Path
    out: Path


def evaluate_with_config(cfg: Any, checkpoints: list[Path], names: list[str], out: Path | None) -> Evaluation:
    """Roll out and score `checkpoints` as `cfg.evaluate` says, on `cfg.data` (split: the test split if unset).

    `out` keeps each model's scores in its cache; None writes nothing (analysis scripts).
    """
    evaluation_config = cfg.evaluate
    if evaluation_config.split is None:
        evaluation_config.split = cfg.data.test_split
    return evaluate_models(
        checkpoints, names, Path(cfg.data.root), tuple(cfg.data.resolution), cfg.clips, cfg.sampler,
        evaluation_config, data_layout(cfg.data.resolution, cfg.clips), resolve_device(cfg.pretrain.device), out,
    )  # fmt: skip


def run_evaluation(cfg: Any, checkpoints: list[Path], names: list[str], out: Path) -> EvaluationOutputs:
    """Evaluate `checkpoints` (the first is the reference of the paired comparisons) as `cfg.evaluate` says."""
    evaluation = evaluate_with_config(cfg, checkpoints, names, out)
    results = summarize(evaluation)
    out.mkdir(parents=True, exist_ok=True)
    videos = write_videos(evaluation, out / "videos")
    results["videos"] = [
        {"episode": v.episode_id, "comparison": v.video.relative_to(out).as_posix(),
         "single": {name: path.relative_to(out).as_posix() for name, path in v.single.items()}}
        for v in videos
    ]  # fmt: skip
    tables = write_tables(evaluation, results, out)
    curves = plot_curves(results, out / "curves.png")
    deltas = plot_deltas(evaluation, results, out / "deltas.png")
    report = write_report(results, out, curves, deltas, videos, tables)
    return EvaluationOutputs(results, report, out)
