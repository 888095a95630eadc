"""`persistworld pretrain` (teacher-forced training of a world model) and `persistworld posttrain`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config, progress_bar
from persistworld.config import save_config
from persistworld.presets import PersistWorldConfig

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model preset: tiny, demo or large (compact), ctrl_world_tiny or ctrl_world_full (default: the preset's).",
    ),
]


def save_run_config(cfg: PersistWorldConfig, run_dir: Path, resume: bool) -> None:
    """Save the config into the run folder; a resumed run keeps the one it started with and writes its own beside it."""
    save_config(cfg, run_dir / ("config.resumed.yaml" if resume else "config.yaml"))


def pretrain_command(
    run_dir: Annotated[Path | None, typer.Option(help="Output folder; default: the preset's run_dir.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint in the run folder.")] = False,
    model: ModelOption = None,
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Train on ground-truth histories (EDM loss, AdamW, EMA, cosine schedule); atomic checkpoints, --resume."""
    from persistworld.train.pretrain import pretrain

    cfg = load_config(preset, config, set_, model=model)
    run_dir = run_dir or cfg.run_dir
    train = cfg.pretrain
    console.print(
        f"pretraining `{cfg.backend}` `{cfg.architecture.name}` on {cfg.data.root} ({cfg.data.train_split}), probe on "
        f"{cfg.data.val_split}, {train.steps} steps of {train.batch_size} clips -> {run_dir}"
    )
    with progress_bar() as progress:
        task = progress.add_task("pretrain", total=train.steps, status="")

        def on_step(step: int, logs: dict[str, float]) -> None:
            progress.update(task, completed=step, status=f"loss {logs['loss']:.4f} lr {logs['lr']:.1e}")

        final = pretrain(
            run_dir, cfg.data.root, (cfg.data.train_split, cfg.data.val_split), cfg.data.resolution, cfg.clips,
            cfg.architecture, cfg.sampler, train, resume=resume, on_step=on_step,
            on_start=lambda: save_run_config(cfg, run_dir, resume),
        )  # fmt: skip
    console.print(f"model (EMA weights): {final}")
    console.print(f"logs: {run_dir / 'metrics.jsonl'}, curves: {run_dir / 'curves.png'}")
    console.print(f"TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")


def posttrain_command(
    base: Annotated[
        Path | None, typer.Option(help="Teacher-forced checkpoint to post-train; default: the shipped demo baseline.")
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Output folder; default: the preset's posttrain_dir.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in the output folder.")] = False,
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """PersistWorld RL post-training: branching rollouts, multi-view rewards, x0 contrastive loss on LoRA adapters."""
    from persistworld.assets import shipped_baseline
    from persistworld.errors import PersistWorldError

    cfg = load_config(preset, config, set_)
    run_dir = run_dir or cfg.posttrain_dir
    base = base or shipped_baseline()
    if base is None:
        raise PersistWorldError("no --base checkpoint given and this installation ships no demo baseline.")
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun, rank 0 alone speaks and writes
        console.quiet = True
    final = run_posttrain(cfg, base, run_dir, resume)
    console.print(f"model (merged adapters): {final}")
    console.print(f"logs: {run_dir / 'metrics.jsonl'}; compare: persistworld evaluate --checkpoint {base} "
                  f"--checkpoint {final}")  # fmt: skip


def run_posttrain(cfg: PersistWorldConfig, base: Path, run_dir: Path, resume: bool) -> Path:
    """`posttrain` with a progress bar; warns once when candidates barely differ and on every rollback.

    The run's config is saved once its inputs are checked, so that a run that fails on them leaves no folder.
    """
    from persistworld.rl.posttrain import posttrain

    post = cfg.posttrain
    console.print(
        f"post-training {base} on {cfg.data.root} ({cfg.data.train_split}): {post.iterations} steps of "
        f"{post.groups_per_step} groups x {post.branching.candidates} candidates -> {run_dir}"
    )
    warned = False
    with progress_bar() as progress:
        task = progress.add_task("posttrain", total=post.iterations, status="")

        def on_step(step: int, logs: dict[str, float]) -> None:
            nonlocal warned
            status = f"reward {logs['reward_mean']:.4f} spread {logs['spread']:.4f} loss {logs['loss']:.3f}"
            progress.update(task, completed=step, status=status)
            if logs.get("low_spread_warning") and not warned:
                warned = True
                console.print(
                    f"[yellow]step {step}: candidates barely differ (within-group reward std / mean "
                    f"{logs['spread']:.2e} < {post.spread_warning}); later steps: `low_spread_warning` in the logs[/]"
                )
            if logs.get("rolled_back"):
                console.print(f"[yellow]step {step}: the probe degraded; rolled back to the best state[/]")

        return posttrain(
            run_dir, base, cfg.data.root, (cfg.data.train_split, cfg.data.val_split), cfg.data.resolution, cfg.clips,
            cfg.sampler, post, resume=resume, on_step=on_step,
            on_start=lambda: save_run_config(cfg, run_dir, resume),
        )  # fmt: skip
