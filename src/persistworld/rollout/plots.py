"""Per-step curves of a drift report (matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from persistworld.utils.figures import save_figure  # noqa: E402

_STYLES = {
    "rollout": ("rollout (own frames fed back)", "-", "tab:red"),
    "teacher_forced": ("teacher-forced 1-step", "-", "tab:blue"),
    "copy_current": ("copy current GT frame", "--", "tab:gray"),
    "copy_start": ("copy start frame", ":", "black"),
    "rollout_swapped_actions": ("rollout, another episode's actions", "-.", "tab:orange"),
}


def plot_drift(per_step: dict[str, dict[str, list[float]]], path: str | Path, title: str = "") -> Path:
    """One panel per metric and camera group (4 to a row); x = rollout step (clip), one line per kind."""
    metrics = list(next(iter(per_step.values())))
    columns = min(4, len(metrics))
    rows = -(-len(metrics) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat[len(metrics) :]:
        axis.set_visible(False)
    for axis, metric in zip(axes.flat, metrics, strict=False):
        for kind, (label, style, colour) in _STYLES.items():
            if kind in per_step:
                values = per_step[kind][metric]
                axis.plot(range(1, len(values) + 1), values, style, color=colour, label=label)
        axis.set_title(metric)
        axis.set_xlabel("rollout step (one clip)")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
