"""Plots of an evaluation: per-step curves with 95% bands, and histograms of paired per-episode deltas."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from persistworld.evaluate.run import Evaluation  # noqa: E402
from persistworld.evaluate.summary import per_episode  # noqa: E402
from persistworld.metrics.suite import metric_info  # noqa: E402
from persistworld.utils.figures import save_figure  # noqa: E402

_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def _arrow(metric: str) -> str:
    return f"{metric} ({'higher' if metric_info(metric).higher_is_better else 'lower'} is better)"


def plot_curves(results: dict, path: Path) -> Path:
    """One panel per (metric, camera group): mean per rollout step over episodes, 95% CI band, one line per model."""
    metrics, groups = list(results["metrics"]), list(results["groups"])
    figure, axes = plt.subplots(
        len(metrics), len(groups), figsize=(4.2 * len(groups), 2.6 * len(metrics)), squeeze=False
    )
    names = [m["name"] for m in results["models"]]
    for row, metric in enumerate(metrics):
        for col, group in enumerate(groups):
            axis = axes[row][col]
            for i, name in enumerate([*names, *results["references"]]):
                curve = results["per_step"][name][group][metric]
                steps = np.arange(1, len(curve["mean"]) + 1)
                reference = name in results["references"]
                colour = "gray" if reference else _COLOURS[i % len(_COLOURS)]
                axis.plot(steps, curve["mean"], "--" if reference else "-", color=colour, label=name)
                if not reference:
                    axis.fill_between(steps, curve["low"], curve["high"], color=colour, alpha=0.15, linewidth=0)
            axis.set_title(f"{group}: {_arrow(metric)}", fontsize=9)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
            if row == len(metrics) - 1:
                axis.set_xlabel("rollout step (one clip)")
    axes[0][0].legend(fontsize=7)
    return save_figure(figure, path, dpi=100)


def plot_deltas(evaluation: Evaluation, results: dict, path: Path) -> Path | None:
    """Histograms of per-episode deltas (B - A, positive = B better) for each comparison, as the paper's Fig. 4."""
    if not results["comparisons"]:
        return None
    metrics, groups = list(results["metrics"]), list(results["groups"])
    by_name = {m.name: m for m in evaluation.models}
    panels = [(c, g) for c in results["comparisons"] for g in groups]
    figure, axes = plt.subplots(
        len(metrics), len(panels), figsize=(3.6 * len(panels), 2.5 * len(metrics)), squeeze=False
    )
    f = evaluation.num_future
    for col, (comparison, group) in enumerate(panels):
        a, b = by_name[comparison["a"]], by_name[comparison["b"]]
        for row, metric in enumerate(metrics):
            sign = 1.0 if metric_info(metric).higher_is_better else -1.0
            deltas = sign * (per_episode(b, metric, group, f) - per_episode(a, metric, group, f))
            stats = comparison["results"][group][metric]
            axis = axes[row][col]
            axis.hist(deltas, bins=max(5, min(20, len(deltas))), color="tab:red" if deltas.mean() < 0 else "tab:green")
            axis.xaxis.set_major_locator(MaxNLocator(4))
            axis.tick_params(labelsize=7)
            axis.axvline(0, color="black", linewidth=0.8)
            axis.axvline(deltas.mean(), color="black", linestyle="--", linewidth=0.8)
            axis.set_title(
                f"{group} {metric}: {b.name} better on {stats['wins']}/{stats['n']}\n"
                f"Wilcoxon p={stats['wilcoxon_p']:.3g}, sign p={stats['sign_test_p']:.3g}",
                fontsize=8,
            )
            if row == len(metrics) - 1:
                axis.set_xlabel(f"per-episode delta ({b.name} - {a.name}, > 0 = {b.name} better)", fontsize=7)
    return save_figure(figure, path, dpi=100)
