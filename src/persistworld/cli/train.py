"""`persistworld pretrain`: teacher-forced training of the compact world model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config, progress_bar
from persistworld.config import save_config

ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Model size preset: tiny, demo or large (default: the preset's).")
]


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
    save_config(cfg, run_dir / ("config.resumed.yaml" if resume else "config.yaml"))
    train = cfg.pretrain
    console.print(
        f"pretraining `{cfg.model.name}` on {cfg.data.root} ({cfg.data.train_split}), probe on "
        f"{cfg.data.val_split}, {train.steps} steps of {train.batch_size} clips -> {run_dir}"
    )
    with progress_bar() as progress:
        task = progress.add_task("pretrain", total=train.steps, status="")

        def on_step(step: int, logs: dict[str, float]) -> None:
            progress.update(task, completed=step, status=f"loss {logs['loss']:.4f} lr {logs['lr']:.1e}")

        final = pretrain(
            run_dir, cfg.data.root, (cfg.data.train_split, cfg.data.val_split), cfg.data.resolution, cfg.clips,
            cfg.model, cfg.sampler, train, resume=resume, on_step=on_step,
        )  # fmt: skip
    console.print(f"model (EMA weights): {final}")
    console.print(f"logs: {run_dir / 'metrics.jsonl'}, curves: {run_dir / 'curves.png'}")
    console.print(f"TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")
