"""`persistworld demo` end to end at toy size: simulator data -> shipped baseline -> post-training -> report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persistworld.assets import shipped_baseline
from persistworld.cli import app
from persistworld.models.checkpoint import read_checkpoint

TOY = [
    "sim.episodes.train=2", "sim.episodes.val=1", "sim.episodes.test=2", "sampler.draws=2",
    "posttrain.iterations=2", "posttrain.probe_every=2", "posttrain.checkpoint_every=1",
    "posttrain.probe_episodes=1", "posttrain.probe_steps=1", "posttrain.branching.candidates=2",
    "posttrain.branching.max_prefix=0", "evaluate.episodes=2", "evaluate.steps=2", "evaluate.videos=1",
]  # fmt: skip


@pytest.mark.skipif(shipped_baseline() is None, reason="this installation ships no demo baseline")
def test_demo_post_trains_the_baseline_and_reports_both_models(tmp_path: Path):
    args = ["demo", "--out", str(tmp_path / "demo"), *[a for value in TOY for a in ("--set", value)]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    demo = tmp_path / "demo"
    assert read_checkpoint(demo / "posttrain" / "model.pt")["step"] == 2
    results = json.loads((demo / "evaluate" / "results.json").read_text())
    assert [m["name"] for m in results["models"]] == ["teacher-forced baseline", "PersistWorld"]
    assert results["comparisons"][0]["b"] == "PersistWorld" and results["steps"] == 2
    report = demo / "evaluate" / "report.html"
    assert f"report: {report}" in " ".join(result.output.split())
    again = CliRunner().invoke(app, args)  # a re-run reuses the finished post-training
    assert again.exit_code == 0 and "already post-trained for 2 steps" in again.output
