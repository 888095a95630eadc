"""Training curves: train loss, probe loss and the probe's 1-step SSIM / PSNR against the copy baseline."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from persistworld.train.logger import read_stream  # noqa: E402
from persistworld.utils.figures import save_figure  # noqa: E402


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` points (the input itself when shorter)."""
    if len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_training(run_dir: str | Path, probe_split: str = "val", path: str | Path | None = None) -> Path:
    """Write ``<run_dir>/curves.png``; the last fifth of training is shaded (where a plateau must show).

    The probe's curves are labelled with its split: a probe on training episodes is not held out.
    """
    run_dir = Path(run_dir)
    train, probe = read_stream(run_dir, "train"), read_stream(run_dir, "probe")
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    if train:
        steps = np.array([r["step"] for r in train])
        loss = np.array([r["loss"] for r in train])
        window = max(1, len(loss) // 50)
        axes[0].plot(steps, loss, color="tab:blue", alpha=0.25, lw=0.6)
        axes[0].plot(steps[window - 1 :], smooth(loss, window), color="tab:blue", label="train (smoothed)")
    if probe:
        steps = np.array([r["step"] for r in probe])
        axes[0].plot(steps, [r["loss"] for r in probe], "o-", color="tab:orange", ms=3, label=f"probe ({probe_split})")
        for axis, metric in ((axes[1], "ssim"), (axes[2], "psnr")):
            axis.plot(steps, [r[metric] for r in probe], "o-", ms=3, color="tab:red", label="model (EMA), 1-step")
            axis.plot(steps, [r[f"copy_{metric}"] for r in probe], "--", color="gray", label="copy current frame")
            axis.set_title(f"probe ({probe_split}) 1-step {metric.upper()}")
    axes[0].set_yscale("log")
    axes[0].set_title("EDM loss")
    last = max([r["step"] for r in train + probe], default=0)
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if last:
            axis.axvspan(0.8 * last, last, color="gold", alpha=0.15)
        axis.legend(fontsize=7)
    return save_figure(figure, Path(path) if path is not None else run_dir / "curves.png")
