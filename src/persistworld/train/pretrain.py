"""Teacher-forced pretraining of a world model (`persistworld pretrain`).

The loop is nanoGPT's: sample a batch, compute the loss, step, then log / probe / checkpoint on
their schedules. Everything random comes from two generators whose states are saved in every
checkpoint, so ``--resume`` after a kill continues exactly where the run stopped: the resumed loss
curve is identical to an uninterrupted one (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from persistworld.data.clips import ClipConfig, ClipSampler, FrameCache
from persistworld.data.layout import NUM_VIEWS, STATE_DIM
from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.errors import PersistWorldError
from persistworld.models.checkpoint import (
    ModelConfig,
    WorldModelModule,
    build_world_model,
    check_layout,
    check_model_config,
    checkpoint_layout,
    checkpoint_model_config,
    read_checkpoint,
    save_checkpoint,
)
from persistworld.models.compact import ModelLayout
from persistworld.models.sampler import SamplerConfig
from persistworld.train.logger import MetricLogger
from persistworld.train.optim import EMA, OptimConfig, learning_rate, make_optimizer
from persistworld.train.plots import plot_training
from persistworld.train.probe import HeldOutProbe, ProbeConfig, probe_batches
from persistworld.train.samples import write_sample_video
from persistworld.train.step import StepConfig, optimizer_step, teacher_forced_loss


@dataclass
class PretrainConfig:
    """Teacher-forced training schedule."""

    steps: int = 6000
    batch_size: int = 16
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: StepConfig = field(default_factory=StepConfig)
    ema_decay: float = 0.999
    # Warm the EMA decay up from 0 (`EMA.update`); off = a fixed decay from the first step, as runs made
    # before this switch existed (the shipped `demo` baseline among them).
    ema_warmup: bool = True
    seed: int = 0
    # Schedules, in optimizer steps.
    log_every: int = 10
    probe_every: int = 500
    checkpoint_every: int = 100
    # Step checkpoints kept on disk (the newest ones); `model.pt` (EMA weights) is written at the end.
    keep_checkpoints: int = 2
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # `auto` = CUDA when available, else CPU.
    device: str = "auto"
    # bf16 autocast on CUDA (ignored on CPU).
    bf16: bool = True
    # Decoded episodes kept in memory (GB).
    cache_gb: float = 4.0
    # Start from the weights of this checkpoint (e.g. the shipped baseline's EMA weights) with a fresh
    # optimizer and schedule, instead of random weights; the architecture, data layout and state
    # statistics must match. The probe then also runs at step 0, so the curve shows where it started.
    init_from: Path | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "probe_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1. Got {getattr(self, name)}.")


class TrainingDivergedError(PersistWorldError):
    """The loss became NaN or infinite; the run stopped without saving the bad weights."""


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA if available, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def data_layout(resolution: tuple[int, int], clips: ClipConfig) -> ModelLayout:
    """The model layout a data + clip config implies."""
    return ModelLayout(
        resolution=tuple(resolution),
        num_views=NUM_VIEWS,
        num_history=len(clips.history),
        num_future=clips.num_future,
        action_dim=STATE_DIM,
    )


@dataclass
class TrainState:
    """What a checkpoint restores besides the weights."""

    step: int
    data_rng: np.random.Generator
    torch_rng: torch.Generator


class CheckpointStore:
    """Step checkpoints in ``<run>/checkpoints``, a ``latest`` pointer, and pruning of old ones."""

    def __init__(self, run_dir: Path, keep: int):
        self.dir = run_dir / "checkpoints"
        self.keep = keep

    def path(self, step: int) -> Path:
        """File of the checkpoint at `step`."""
        return self.dir / f"step_{step:07d}.pt"

    def latest(self) -> Path | None:
        """The newest complete checkpoint (files appear only once fully written)."""
        found = sorted(self.dir.glob("step_*.pt"))
        return found[-1] if found else None

    def prune(self) -> None:
        """Delete all but the newest `keep` checkpoints."""
        for old in sorted(self.dir.glob("step_*.pt"))[: -self.keep]:
            old.unlink()


def pretrain(
    run_dir: str | Path,
    dataset_root: str | Path,
    splits: tuple[str, str],
    resolution: tuple[int, int],
    clips: ClipConfig,
    model_config: ModelConfig,
    sampler: SamplerConfig,
    config: PretrainConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> Path:
    """Train a compact world model with the teacher-forced EDM objective.

    Args:
        run_dir: Output folder (checkpoints, logs, TensorBoard, ``model.pt``).
        dataset_root: Dataset in the Ctrl-World layout.
        splits: (train split, held-out split for the probe).
        resolution: (H, W) per view.
        clips: Clip layout (history, number of future frames).
        model_config: Architecture.
        sampler: Sampler of the held-out probe.
        config: Schedule.
        resume: Continue from the newest checkpoint in ``run_dir`` (error if there is none).
        on_step: Called after every step with (step, logs), e.g. to drive a progress bar.
        on_start: Called once every input (data, resume checkpoint, ``init_from``) has been checked and
            before anything is written, e.g. to save the run's config: a run that fails on its inputs
            leaves no folder behind.

    Returns:
        The path of the final EMA model, ``<run_dir>/model.pt``.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    layout = data_layout(resolution, clips)
    train_set = EpisodeDataset(dataset_root, splits[0], resolution=resolution)
    held_out = EpisodeDataset(dataset_root, splits[1], resolution=resolution, stats_path=train_set.stats_path)
    cache = FrameCache(int(config.cache_gb * 1024**3))
    train_clips = ClipSampler(train_set, clips, cache)
    if len(train_clips) == 0:
        raise PersistWorldError(f"{dataset_root}: split `{splits[0]}` has no complete clips for {clips}.")
    probe = HeldOutProbe(ClipSampler(held_out, clips, cache), config.probe, device)

    torch.manual_seed(config.seed)  # initial weights
    model = build_world_model(model_config, layout).to(device)
    ema = EMA(model, config.ema_decay)
    optimizer = make_optimizer(model.parameters(), config.optim)
    state = TrainState(0, np.random.default_rng(config.seed), torch.Generator(device).manual_seed(config.seed))
    store = CheckpointStore(run_dir, config.keep_checkpoints)
    latest = store.latest()
    payload = None
    if resume:
        if latest is None:
            raise PersistWorldError(f"{run_dir}: --resume given, but there is no checkpoint in {store.dir}.")
        payload = read_checkpoint(latest)
        check_model_config(latest, checkpoint_model_config(latest, payload), model_config)
        check_layout(latest, checkpoint_layout(payload), layout)
    elif latest is not None:
        raise PersistWorldError(
            f"{run_dir} already holds checkpoints ({latest.name}). Pass --resume to continue it, "
            "or choose a new --run-dir."
        )
    elif config.init_from is not None:
        _load_initial_weights(Path(config.init_from), model, model_config, layout, train_set.stats)
    # Every input is checked; only now does the run write anything.
    if on_start is not None:
        on_start()
    logger = MetricLogger(run_dir)

    if payload is not None:
        model.load_state_dict(payload["model"])
        ema.load_state_dict(payload["ema"])
        optimizer.load_state_dict(payload["optimizer"])
        state.step = payload["step"]
        state.data_rng.bit_generator.state = payload["rng"]["numpy"]
        state.torch_rng.set_state(payload["rng"]["torch"])
        logger.truncate_after(state.step)
    elif config.init_from is not None:
        ema = EMA(model, config.ema_decay)
        ema_model = _ema_copy(model, ema)
        logger.log("probe", 0, probe(ema_model, sampler, model_config.edm))

    def checkpoint() -> Path:
        path = store.path(state.step)
        save_checkpoint(
            path, model, train_set.stats,
            ema=ema.state_dict(),
            optimizer=optimizer.state_dict(),
            step=state.step,
            rng={"numpy": state.data_rng.bit_generator.state, "torch": state.torch_rng.get_state()},
            train_config=asdict(config),
            data={"root": str(dataset_root), "splits": list(splits)},
        )  # fmt: skip
        store.prune()
        return path

    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and config.bf16)
    model.train()
    started = time.perf_counter()
    while state.step < config.steps:
        batch = train_clips.sample(config.batch_size, state.data_rng).to(device)
        with autocast:
            loss, logs = teacher_forced_loss(model, batch, model_config.edm, config.objective, state.torch_rng)
        if not math.isfinite(logs["loss"]):
            last_good = store.latest()
            where = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
            raise TrainingDivergedError(
                f"{run_dir}: the loss became {logs['loss']} at step {state.step + 1}; stopped without saving "
                f"these weights; {where}. Lower optim.lr or raise optim.warmup_steps."
            )
        lr = learning_rate(state.step, config.steps, config.optim)
        logs |= optimizer_step(model, optimizer, loss, lr, config.optim)
        ema.update(model, state.step if config.ema_warmup else None)
        state.step += 1

        if state.step % config.log_every == 0 or state.step == config.steps:
            logger.log("train", state.step, logs | {"seconds": time.perf_counter() - started})
        if state.step % config.probe_every == 0 or state.step == config.steps:
            ema_model = _ema_copy(model, ema)
            logger.log("probe", state.step, probe(ema_model, sampler, model_config.edm))
            plot_training(run_dir, probe_split=splits[1])
            samples = run_dir / "samples" / f"step_{state.step:07d}.mp4"
            write_sample_video(ema_model, probe_batches(probe)[0], sampler, samples)
        if state.step % config.checkpoint_every == 0 or state.step == config.steps:
            checkpoint()
        if on_step is not None:
            on_step(state.step, logs)

    final = run_dir / "model.pt"
    save_checkpoint(
        final, _ema_copy(model, ema), train_set.stats,
        step=state.step, train_config=asdict(config), data={"root": str(dataset_root), "splits": list(splits)},
    )  # fmt: skip
    logger.close()
    return final


def _load_initial_weights(
    path: Path, model: WorldModelModule, model_config: ModelConfig, layout: ModelLayout, stats: StateStats
) -> None:
    """Load `path`'s weights into `model` after checking that architecture, layout and statistics match."""
    payload = read_checkpoint(path)
    check_model_config(path, checkpoint_model_config(path, payload), model_config)
    check_layout(path, checkpoint_layout(payload), layout)
    trained_stats = payload["stats"]
    if not (np.allclose(trained_stats["low"], stats.low) and np.allclose(trained_stats["high"], stats.high)):
        raise PersistWorldError(
            f"{path}: pretrain.init_from was trained with other state statistics (stat.json) than this dataset's, "
            "so its actions would mean something else here. Use the dataset it was trained on."
        )
    model.load_state_dict(payload["model"])


def _ema_copy(model: WorldModelModule, ema: EMA) -> WorldModelModule:
    copy = build_world_model(model.config, model.layout).to(next(model.parameters()).device)
    copy.load_state_dict(ema.state_dict())
    return copy.eval()
