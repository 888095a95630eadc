"""One sink for training metrics: JSONL (every record), CSV per stream, and TensorBoard.

Records are ``(stream, step, {name: value})``; streams are e.g. ``train`` and ``eval``. On resume the
files are cut back to the checkpoint's step, so a resumed run's logs read like an uninterrupted run's.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from persistworld.utils.atomic import write_text_atomic


class MetricLogger:
    """Append-only metric files under ``run_dir``.

    Args:
        run_dir: The run directory; files go to ``metrics.jsonl``, ``<stream>.csv`` and ``tensorboard/``.
        tensorboard: Also write TensorBoard event files (needs the ``tensorboard`` package).
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self._tensorboard = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))

    def log(self, stream: str, step: int, values: dict[str, Any]) -> None:
        """Record `values` of `stream` at `step`."""
        record = {"stream": stream, "step": step, **values}
        with self.jsonl.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        csv_path = self.run_dir / f"{stream}.csv"
        new_file = not csv_path.exists()
        with csv_path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", *values], extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({"step": step, **values})
        if self._tensorboard is not None:
            for name, value in values.items():
                if isinstance(value, int | float):
                    self._tensorboard.add_scalar(f"{stream}/{name}", value, step)

    def truncate_after(self, step: int) -> None:
        """Drop every record after `step` (called when resuming from a checkpoint at `step`)."""
        if self.jsonl.exists():
            kept = [line for line in self.jsonl.read_text().splitlines() if json.loads(line)["step"] <= step]
            write_text_atomic(self.jsonl, "".join(line + "\n" for line in kept))
        for csv_path in self.run_dir.glob("*.csv"):
            lines = csv_path.read_text().splitlines()
            kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= step]
            write_text_atomic(csv_path, "".join(line + "\n" for line in kept))

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_stream(run_dir: str | Path, stream: str) -> list[dict[str, Any]]:
    """All records of one stream from ``metrics.jsonl``, in order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    records = (json.loads(line) for line in path.read_text().splitlines() if line)
    return [r for r in records if r["stream"] == stream]
