"""Teacher-forced pretraining: a run end to end, exact resume after SIGKILL, NaN stop, mismatch errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.video import read_video
from persistworld.errors import PersistWorldError
from persistworld.models.checkpoint import CheckpointError, load_world_model
from persistworld.models.compact import COMPACT_PRESETS
from persistworld.models.sampler import SamplerConfig
from persistworld.train import pretrain as pretrain_module
from persistworld.train.logger import read_stream
from persistworld.train.pretrain import PretrainConfig, TrainingDivergedError, data_layout, pretrain
from persistworld.train.probe import ProbeConfig

RESOLUTION = (16, 24)
CLIPS = ClipConfig()


@pytest.fixture
def tiny_data(episode_factory) -> Path:
    episode_factory(n_episodes=2, n_frames=12, split="val")
    return episode_factory(n_episodes=3, n_frames=12, split="train")


def train_config(steps: int, **overrides) -> PretrainConfig:
    values = dict(
        steps=steps, batch_size=4, log_every=1, probe_every=steps, checkpoint_every=2, device="cpu",
        probe=ProbeConfig(num_clips=4), cache_gb=0.1,
    )  # fmt: skip
    return PretrainConfig(**{**values, **overrides})


def run_pretrain(run_dir: Path, data: Path, config: PretrainConfig, model: str = "tiny", **kwargs) -> Path:
    return pretrain(
        run_dir, data, ("train", "val"), RESOLUTION, CLIPS, COMPACT_PRESETS[model](), SamplerConfig(num_steps=2),
        config, **kwargs,
    )  # fmt: skip


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_stream(run_dir, "train")]


def test_a_run_trains_logs_probes_and_writes_a_loadable_model(tmp_path: Path, tiny_data: Path):
    final = run_pretrain(tmp_path / "run", tiny_data, train_config(6))
    model, stats, payload = load_world_model(final, expected_layout=data_layout(RESOLUTION, CLIPS))
    assert payload["step"] == 6 and stats.low.shape == (7,)
    assert [s for s, _ in losses(tmp_path / "run")] == list(range(1, 7))
    probe = read_stream(tmp_path / "run", "probe")
    assert len(probe) == 1 and {"ssim", "psnr", "copy_ssim", "copy_psnr", "loss"} <= set(probe[0])
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["step_0000004.pt", "step_0000006.pt"]
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    assert (tmp_path / "run" / "curves.png").is_file()
    sample_video = read_video(tmp_path / "run" / "samples" / "step_0000006.mp4")
    assert sample_video.shape[0] == 1 + CLIPS.num_future  # current frame, then the future frames
    # weights moved away from the zero-initialised output layer
    assert model.network.conv_out.weight.abs().sum() > 0


def test_resume_after_sigkill_gives_the_same_loss_curve(tmp_path: Path, tiny_data: Path):
    steps = 60
    reference = tmp_path / "reference"
    run_pretrain(reference, tiny_data, train_config(steps))

    killed = tmp_path / "killed"
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r});"
        "from train.test_pretrain import run_pretrain, train_config;"
        "from pathlib import Path;"
        f"run_pretrain(Path({str(killed)!r}), Path({str(tiny_data)!r}), train_config({steps}))"
    )
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": "0"})
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step_*.pt")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "model.pt").exists(), "the run finished before it could be killed"
    stopped_at = json.loads((killed / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    assert stopped_at < steps

    run_pretrain(killed, tiny_data, train_config(steps), resume=True)
    assert losses(killed) == losses(reference)
    assert [s for s, _ in losses(killed)] == list(range(1, steps + 1))


def test_nan_loss_stops_and_points_to_the_last_good_checkpoint(tmp_path: Path, tiny_data: Path, monkeypatch):
    real_loss = pretrain_module.teacher_forced_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, logs = real_loss(*args, **kwargs)
        if calls["n"] == 5:
            return loss * float("nan"), {"loss": float("nan")}
        return loss, logs

    monkeypatch.setattr(pretrain_module, "teacher_forced_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"at step 5.*last good checkpoint is .*step_0000004\.pt"):
        run_pretrain(tmp_path / "run", tiny_data, train_config(8))
    good = load_world_model(tmp_path / "run" / "checkpoints" / "step_0000004.pt", weights="model")[0]
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert not (tmp_path / "run" / "checkpoints" / "step_0000006.pt").exists()


def test_resume_refuses_a_checkpoint_of_another_model_preset(tmp_path: Path, tiny_data: Path):
    run_pretrain(tmp_path / "run", tiny_data, train_config(2))
    with pytest.raises(CheckpointError, match=r"a `tiny` model and the config asks for `demo`"):
        run_pretrain(tmp_path / "run", tiny_data, train_config(4), model="demo", resume=True)
    with pytest.raises(PersistWorldError, match="Pass --resume"):
        run_pretrain(tmp_path / "run", tiny_data, train_config(4))


def test_a_model_refuses_data_of_another_resolution_or_history(tmp_path: Path, tiny_data: Path):
    final = run_pretrain(tmp_path / "run", tiny_data, train_config(2))
    with pytest.raises(CheckpointError, match=r"asks for .*resolution: checkpoint \(16, 24\), config \(32, 48\)"):
        load_world_model(final, expected_layout=data_layout((32, 48), CLIPS))
    with pytest.raises(CheckpointError, match=r"num_history: checkpoint 4, config 6"):
        load_world_model(final, expected_layout=data_layout(RESOLUTION, ClipConfig(history=(0, 0, -28, -20, -12, -4))))


def test_init_from_starts_at_the_given_weights_and_probes_step_zero(tmp_path: Path, tiny_data: Path):
    first = run_pretrain(tmp_path / "first", tiny_data, train_config(4))
    second = tmp_path / "second"
    run_pretrain(second, tiny_data, train_config(2, init_from=first, probe_every=2))
    probes = read_stream(second, "probe")
    assert [p["step"] for p in probes] == [0, 2]
    start = load_world_model(first)[0].state_dict()
    before_training = read_stream(tmp_path / "first", "probe")[-1]
    assert probes[0]["ssim"] == pytest.approx(before_training["ssim"], abs=1e-6)  # the same weights, same probe
    assert start.keys() == load_world_model(second / "model.pt")[0].state_dict().keys()
    with pytest.raises(Exception, match="architecture|model_config|channels"):
        run_pretrain(tmp_path / "third", tiny_data, train_config(2, init_from=first), model="demo")
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    stats = json.loads((other / "stat.json").read_text())
    stats = {key: [v + 0.5 for v in values] if isinstance(values, list) else values for key, values in stats.items()}
    (other / "stat.json").write_text(json.dumps(stats))  # the same episodes, other action normalisation
    with pytest.raises(Exception, match="state statistics"):
        run_pretrain(tmp_path / "fourth", other, train_config(2, init_from=first))
