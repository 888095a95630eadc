"""Writing matplotlib figures: one helper, so that every plot is written the same safe way."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on training machines; set before pyplot is imported anywhere
import matplotlib.pyplot as plt  # noqa: E402

from persistworld.utils.atomic import atomic_path  # noqa: E402


def save_figure(figure: plt.Figure, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write atomically as PNG and close a figure.

    Atomic because plots are redrawn while a run goes on (`curves.png` at every probe): a reader, or a
    kill mid-write, must never see a half-written PNG in place of the last good one. Closed because a
    long run draws hundreds of figures and pyplot keeps every open one alive.
    """
    try:
        figure.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            figure.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(figure)
    return Path(path)
