"""`persistworld pretrain` then `persistworld rollout`, through the CLI, on tiny episodes and a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persistworld.cli import app
from persistworld.data.reader import EpisodeDataset


@pytest.fixture
def tiny_root(episode_factory) -> Path:
    episode_factory(n_episodes=2, n_frames=14, split="val")
    episode_factory(n_episodes=2, n_frames=14, split="test")
    return episode_factory(n_episodes=3, n_frames=14, split="train")


def overrides(root: Path, run_dir: Path) -> list[str]:
    values = [
        f"data.root={root}", "data.resolution=[16,24]", f"run_dir={run_dir}", "pretrain.steps=4",
        "pretrain.batch_size=2", "pretrain.probe_every=4", "pretrain.checkpoint_every=2", "pretrain.device=cpu",
        "pretrain.probe.num_clips=2", "pretrain.cache_gb=0.1", "sampler.num_steps=2",
    ]  # fmt: skip
    return [arg for value in values for arg in ("--set", value)]


def test_a_pretrain_run_that_fails_on_its_inputs_leaves_no_folder(tiny_root: Path, tmp_path: Path):
    runner = CliRunner()
    missing_data = runner.invoke(app, ["pretrain", *overrides(tmp_path / "nowhere", tmp_path / "a")])
    assert missing_data.exit_code != 0 and "dataset root not found" in str(missing_data.exception)
    no_checkpoint = runner.invoke(app, ["pretrain", "--resume", *overrides(tiny_root, tmp_path / "b")])
    assert no_checkpoint.exit_code != 0 and "no checkpoint" in str(no_checkpoint.exception)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_pretrain_then_rollout_write_a_model_curves_and_a_drift_report(tiny_root: Path, tmp_path: Path):
    runner = CliRunner()
    run_dir = tmp_path / "run"
    args = overrides(tiny_root, run_dir)
    trained = runner.invoke(app, ["pretrain", "--model", "tiny", *args])
    assert trained.exit_code == 0, trained.output
    assert (run_dir / "model.pt").is_file() and (run_dir / "curves.png").is_file()
    assert (run_dir / "config.yaml").is_file() and "model (EMA weights)" in trained.output

    rolled = runner.invoke(app, ["rollout", "--episodes", "2", "--steps", "3", "--videos", "1", *args])
    assert rolled.exit_code == 0, rolled.output
    out = run_dir / "rollout"
    summary = json.loads((out / "drift.json").read_text())
    assert summary["episode_ids"] == EpisodeDataset(tiny_root, "test").episode_ids
    for kind in ("rollout", "teacher_forced", "copy_start", "copy_current"):
        assert len(summary["per_step"][kind]["ssim/external"]) == 3
    assert summary["mean_over_steps"]["rollout"]["psnr/wrist"] == pytest.approx(
        sum(summary["per_step"]["rollout"]["psnr/wrist"]) / 3, abs=1e-4
    )
    assert (out / "drift.png").stat().st_size > 1000
    assert sorted(p.name for p in out.glob("*.mp4")) == ["test_0.mp4"]
    assert "SSIM ext / PSNR ext" in rolled.output and "results:" in rolled.output
    # region metrics (no segmentation here: where the truth moves) and the swapped-action rollout
    assert summary["regions"] == "motion" and "robot_psnr/external" in summary["per_step"]["rollout"]
    assert len(summary["per_step"]["rollout_swapped_actions"]["robot_psnr/wrist"]) == 3
    assert set(summary["action_sensitivity_db"]) == {"external", "wrist"} and "action sensitivity" in rolled.output


def test_rollout_without_a_model_says_which_file_is_missing(tiny_root: Path, tmp_path: Path):
    result = CliRunner().invoke(app, ["rollout", *overrides(tiny_root, tmp_path / "nothing")])
    assert result.exit_code != 0
    assert "model.pt" in str(result.exception) + result.output
