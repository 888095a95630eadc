"""Post-training curves: the probe (reward and each term), training reward and spread, update size."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from persistworld.rollout.report import GROUPS  # noqa: E402
from persistworld.train.logger import read_stream  # noqa: E402
from persistworld.train.plots import smooth  # noqa: E402
from persistworld.utils.figures import save_figure  # noqa: E402

PROBE_KEYS = {"stream", "step", "reward", "best", "best_step", "rolled_back", "guard_failed", "selection"}


def plot_posttrain(run_dir: str | Path, probe_split: str = "val", path: str | Path | None = None) -> Path:
    """Write ``<run_dir>/curves.png`` from the run's ``metrics.jsonl``.

    Panels: probe reward with the best step and rollbacks marked; each probe term per camera group
    (each term, for runs logged before the groups were) as its change from step 0, so that a term or
    a camera traded for another shows; training reward and within-group spread;
    gradient norm and old-vs-trained adapter divergence. The titles name the probe's split, because a
    probe on training episodes (DROID's subset has no spare validation episodes) is not held out.
    """
    run_dir = Path(run_dir)
    train, probe = read_stream(run_dir, "train"), read_stream(run_dir, "probe")
    figure, axes = plt.subplots(1, 4, figsize=(17, 3.4))
    if probe:
        steps = np.array([r["step"] for r in probe])
        axes[0].plot(steps, [r["reward"] for r in probe], "o-", ms=3, color="tab:red", label="probe reward")
        best = probe[-1].get("best_step")
        if best is not None:
            axes[0].axvline(best, color="tab:green", ls=":", label=f"best (step {best})")
        for r in probe:
            if r.get("rolled_back"):
                axes[0].axvline(r["step"], color="gray", ls="--", lw=0.8)
        terms = [k for k in probe[0] if k not in PROBE_KEYS]
        per_camera = [k for k in terms if k.partition("_")[0] in GROUPS]  # one camera can trade for another
        for term in per_camera or terms:
            values = np.array([r[term] for r in probe])
            axes[1].plot(steps, (values - values[0]) / abs(values[0]) * 100, "o-", ms=3, label=term)
        axes[1].axhline(0, color="gray", lw=0.6)
    axes[0].set_title(f"probe reward ({probe_split} episodes)")
    axes[1].set_title("probe terms: change from step 0 (%)")
    if train:
        steps = np.array([r["step"] for r in train])
        window = max(1, len(train) // 20)
        for axis, key, label in ((axes[2], "reward_mean", "training reward (groups)"),
                                 (axes[3], "grad_norm", "gradient norm")):  # fmt: skip
            values = np.array([r[key] for r in train])
            axis.plot(steps, values, alpha=0.25, lw=0.6, color="tab:blue")
            axis.plot(steps[window - 1 :], smooth(values, window), color="tab:blue", label=label)
        spread = axes[2].twinx()
        spread.plot(steps[window - 1 :], smooth(np.array([r["spread"] for r in train]), window) * 100,
                    color="tab:orange", label="within-group std / mean (%)")  # fmt: skip
        spread.legend(fontsize=7, loc="lower right")
        divergence = axes[3].twinx()
        divergence.plot(steps, [r["old_divergence"] for r in train], color="tab:purple", label="old vs trained (RMS)")
        divergence.legend(fontsize=7, loc="lower right")
    axes[2].set_title("training reward and candidate spread")
    axes[3].set_title("update size")
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # panels without lines yet (first probe) get no empty legend
            axis.legend(fontsize=7, loc="upper left")
    return save_figure(figure, Path(path) if path is not None else run_dir / "curves.png")
