r"""Zoom into a pretraining run's held-out probe: SSIM, PSNR and loss over a window of steps, last fifth shaded.

    python scripts/plot_probe_window.py runs/baseline/pretrain --from-step 2250 \
        --out docs/images/baseline_plateau.png --note "..."

`curves.png` of a run spans all of training, where early changes dwarf the last fifth; this shows
whether the last fifth is flat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from persistworld.train.logger import read_stream  # noqa: E402
from persistworld.utils.figures import save_figure  # noqa: E402


def main() -> None:
    """Parse the arguments, plot, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--from-step", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    rows = [r for r in read_stream(args.run_dir, "probe") if r["step"] >= args.from_step]
    last = max(r["step"] for r in read_stream(args.run_dir, "probe"))
    steps = [r["step"] for r in rows]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for axis, (key, copy_key, title) in zip(
        axes,
        [("ssim", "copy_ssim", "held-out 1-step SSIM"), ("psnr", "copy_psnr", "held-out 1-step PSNR (dB)"),
         ("loss", None, "held-out EDM loss")],
        strict=True,
    ):  # fmt: skip
        axis.plot(steps, [r[key] for r in rows], "o-", color="tab:red", label="model (EMA)")
        if copy_key:
            axis.plot(steps, [r[copy_key] for r in rows], "--", color="gray", label="copy current frame")
        axis.axvspan(0.8 * last, last, color="gold", alpha=0.2, label="last fifth")
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if args.note:
        figure.suptitle(args.note, fontsize=9)
    save_figure(figure, args.out, dpi=100)
    for r in rows:
        cells = [
            f"{r['ssim']:.4f}",
            f"{r['copy_ssim']:.4f}",
            f"{r['psnr']:.2f}",
            f"{r['copy_psnr']:.2f}",
            f"{r['loss']:.4f}",
        ]
        print(f"| {r['step']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
