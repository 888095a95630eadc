"""From scored frames to the numbers of an evaluation: per camera group, per step, per episode, paired.

Aggregation, in this order: the F frames of a step and the views of a camera group (external =
views 0 + 1, wrist = view 2) are averaged into one score per (episode, step); the steps into one
score per episode; means and 95% CIs are then taken over episodes, the unit of replication. Model
comparisons pair the per-episode scores of each model with the first model's.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from persistworld import __version__
from persistworld.evaluate.run import Evaluation, ModelScores
from persistworld.evaluate.stats import mean_ci, paired_comparison
from persistworld.metrics.suite import metric_info
from persistworld.rollout.report import GROUPS, group_step_means
from persistworld.utils.atomic import write_json_atomic, write_text_atomic


def per_episode(model: ModelScores, metric: str, group: str, num_future: int) -> np.ndarray:
    """(E,) one score per episode: the mean over the rollout's steps."""
    return group_step_means(model.scores[metric], num_future, GROUPS[group]).mean(axis=1)


def summarize(evaluation: Evaluation) -> dict:
    """Every aggregate number of an evaluation as a JSON-ready dict."""
    f = evaluation.num_future
    metrics = list(evaluation.metric_descriptions)
    everyone = [*evaluation.models, *evaluation.references]
    summary, curves = {}, {}
    for model in everyone:
        summary[model.name], curves[model.name] = {}, {}
        for group, views in GROUPS.items():
            summary[model.name][group], curves[model.name][group] = {}, {}
            for metric in metrics:
                steps = group_step_means(model.scores[metric], f, views)  # (E, N)
                summary[model.name][group][metric] = mean_ci(steps.mean(axis=1)).as_dict()
                cis = [mean_ci(steps[:, n]) for n in range(steps.shape[1])]
                curves[model.name][group][metric] = {
                    "mean": [c.mean for c in cis], "low": [c.low for c in cis], "high": [c.high for c in cis],
                }  # fmt: skip
    comparisons = []
    reference = evaluation.models[0]
    for other in evaluation.models[1:]:
        results = {
            group: {
                metric: paired_comparison(
                    per_episode(reference, metric, group, f),
                    per_episode(other, metric, group, f),
                    higher_is_better=metric_info(metric).higher_is_better,
                ).as_dict()
                for metric in metrics
            }
            for group in GROUPS
        }
        comparisons.append({"a": reference.name, "b": other.name, "results": results})
    cfg = evaluation.config
    return {
        "persistworld_version": __version__,
        "split": cfg.split,
        "episode_ids": evaluation.episode_ids,
        "steps": cfg.steps,
        "frames_per_step": f,
        "start": cfg.start,
        "seed": cfg.seed,
        "sampler": evaluation.sampler,
        "metrics": evaluation.metric_descriptions,
        "groups": {group: list(views) for group, views in GROUPS.items()},
        "models": [
            {"name": m.name, "checkpoint": m.checkpoint, "seconds_per_step": round(m.seconds_per_step, 4)}
            for m in evaluation.models
        ],
        "references": [m.name for m in evaluation.references],
        "summary": summary,
        "per_step": curves,
        "comparisons": comparisons,
        "aggregation": "frames of a step and views of a group -> steps -> episodes; 95% Student-t CI over episodes",
    }


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_tables(evaluation: Evaluation, results: dict, out: Path) -> dict[str, Path]:
    """``results.json`` and the CSVs: every frame score, the summary and the comparisons (all atomic)."""
    paths = {name: out / name for name in ("results.json", "frames.csv", "summary.csv", "comparisons.csv")}
    write_json_atomic(paths["results.json"], results)
    f = evaluation.num_future
    frame_rows = [
        [model.name, episode, t // f + 1, t, view, metric, f"{values[e, t, view]:.6g}"]
        for model in [*evaluation.models, *evaluation.references]
        for metric, values in model.scores.items()
        for e, episode in enumerate(evaluation.episode_ids)
        for t in range(values.shape[1])
        for view in range(values.shape[2])
    ]
    write_text_atomic(
        paths["frames.csv"], _csv(["model", "episode", "step", "frame", "view", "metric", "value"], frame_rows)
    )
    summary_rows = [
        [model, group, metric, v["mean"], v["low"], v["high"], v["n"]]
        for model, groups in results["summary"].items()
        for group, metrics in groups.items()
        for metric, v in metrics.items()
    ]
    write_text_atomic(
        paths["summary.csv"], _csv(["model", "group", "metric", "mean", "ci_low", "ci_high", "episodes"], summary_rows)
    )
    comparison_rows = [
        [c["a"], c["b"], group, metric, r["mean_delta"]["mean"], r["mean_delta"]["low"], r["mean_delta"]["high"],
         r["win_rate"], r["wins"], r["losses"], r["ties"], r["sign_test_p"], r["wilcoxon_p"]]
        for c in results["comparisons"]
        for group, metrics in c["results"].items()
        for metric, r in metrics.items()
    ]  # fmt: skip
    header = ["a", "b", "group", "metric", "mean_delta_b_better", "ci_low", "ci_high", "win_rate", "wins", "losses",
              "ties", "sign_test_p", "wilcoxon_p"]  # fmt: skip
    write_text_atomic(paths["comparisons.csv"], _csv(header, comparison_rows))
    return paths
