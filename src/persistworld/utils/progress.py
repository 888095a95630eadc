"""The progress bar every long job shows: count, elapsed time, ETA and a status field."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)

LOG_EVERY_SECONDS = 60.0


class LoggedProgress(Progress):
    """A rich progress bar that also writes plain lines when its console is not a terminal.

    Why: rich draws nothing until the end when stderr is a file or a pipe, so a long background run
    (`nohup ... > run.log`) looks hung for its whole length. Off a terminal each task gets one line
    (description, count, elapsed time, status) at most every `log_every` seconds, and one when it
    completes.
    """

    def __init__(self, *columns, log_every: float = LOG_EVERY_SECONDS, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self.log_every = log_every
        self._last_line: dict[TaskID, float] = {}  # when each running task last wrote a line
        self._completed: set[TaskID] = set()  # tasks whose completion line is written

    def update(self, task_id: TaskID, **kwargs) -> None:  # type: ignore[override]
        """`Progress.update`, then a plain line if one is due."""
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        """`Progress.advance`, then a plain line if one is due."""
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id: TaskID) -> None:
        if self.console.is_terminal or task_id in self._completed:
            return
        task = self._tasks[task_id]
        if task.finished:
            self._completed.add(task_id)
        else:
            now = time.monotonic()
            if now - self._last_line.get(task_id, -float("inf")) < self.log_every:
                return
            self._last_line[task_id] = now
        total = f"/{task.total:g}" if task.total is not None else ""
        status = task.fields.get("status", "")
        self.console.print(
            f"{task.description} {task.completed:g}{total} ({task.elapsed or 0:.0f} s) {status}".rstrip(),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def progress_bar(log_every: float = LOG_EVERY_SECONDS) -> Progress:
    """A rich progress bar with count, elapsed time and ETA, written to stderr (plain lines off a terminal)."""
    return LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        log_every=log_every,
    )
