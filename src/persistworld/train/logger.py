"""One sink for training metrics: JSONL (every record), CSV per stream, and TensorBoard.

Records are ``(stream, step, {name: value})``; streams are e.g. ``train`` and ``eval``. On resume the
files are cut back to the checkpoint's step, so a resumed run's logs read like an uninterrupted run's.
"""

from __future__ import annotations

import csv
import io
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
        self._append_csv(stream, {"step": step, **values})
        if self._tensorboard is not None:
            for name, value in values.items():
                if isinstance(value, int | float):
                    self._tensorboard.add_scalar(f"{stream}/{name}", value, step)

    def _append_csv(self, stream: str, row: dict[str, Any]) -> None:
        """Append `row` to ``<stream>.csv``; a name the header lacks widens it (the file is rebuilt).

        Streams do not always log the same names (a probe's first record has no best step yet, a later
        version adds a metric), and a row written under another row's header would shift every column.
        The rebuilt file comes from ``metrics.jsonl``, the record of everything logged (this row
        included), not from the CSV itself: rows of a file written by an older version, which did
        shift columns, are written correctly again instead of being carried over or stopping the run.
        """
        path = self.run_dir / f"{stream}.csv"
        header = []
        if path.exists():
            with path.open(newline="") as handle:
                header = next(csv.reader(handle), [])
        if header and any(name not in header for name in row):
            records = [{k: v for k, v in r.items() if k != "stream"} for r in read_stream(self.run_dir, stream)]
            names = list(dict.fromkeys(header + [name for record in records for name in record]))
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=names, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
            write_text_atomic(path, buffer.getvalue())
            return
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header or list(row), restval="", lineterminator="\n")
            if not header:
                writer.writeheader()
            writer.writerow(row)

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
