"""The progress bar writes plain lines off a terminal, so that a background run's log shows it is alive."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import persistworld.utils.progress as progress


def run_three_steps(monkeypatch, terminal: bool, log_every: float) -> list[str]:
    console = Console(file=io.StringIO(), force_terminal=terminal, width=100)
    monkeypatch.setattr(progress, "console", console)
    with progress.progress_bar(log_every=log_every) as bar:
        task = bar.add_task("pretrain", total=3, status="")
        for step in range(1, 4):
            bar.update(task, completed=step, status=f"loss {step / 10:.1f}")
        other = bar.add_task("evaluate", total=2, status="")
        bar.advance(other, 2)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("log_every", [0.0, 3600.0])
def test_off_a_terminal_a_line_at_most_every_interval_and_one_at_completion(monkeypatch, log_every: float):
    plain = [line for line in run_three_steps(monkeypatch, terminal=False, log_every=log_every) if "(" in line]
    pretrain = [line.split(" (")[0] for line in plain if line.startswith("pretrain")]
    # every update when the interval is 0; otherwise the first one and the completion
    assert pretrain == (
        ["pretrain 1/3", "pretrain 2/3", "pretrain 3/3"] if log_every == 0 else ["pretrain 1/3", "pretrain 3/3"]
    )
    assert plain[0].endswith("loss 0.1") and [line.split(" (")[0] for line in plain if line.startswith("evaluate")] == [
        "evaluate 2/2"
    ]


def test_on_a_terminal_only_the_live_bar(monkeypatch):
    lines = run_three_steps(monkeypatch, terminal=True, log_every=0.0)
    assert not any(line.startswith("pretrain 1/3 (") for line in lines)
