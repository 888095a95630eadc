"""`persistworld import-ctrl-world`: SVD / CLIP folders and a Ctrl-World checkpoint -> one persistworld checkpoint.

Why a separate command rather than more options on every other command: once the weights are in
persistworld's own checkpoint format (backend, architecture, data layout, state statistics), the
folders are read once, and `posttrain --base`, `evaluate --checkpoint` and `rollout` take the result
like any other model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config


def import_ctrl_world_command(
    svd_folder: Annotated[
        Path, typer.Option(help="Stable Video Diffusion in diffusers layout (model_index.json, unet/, vae/).")
    ],
    out: Annotated[Path, typer.Option(help="The persistworld checkpoint to write (atomically).")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="A Ctrl-World checkpoint (its saved state_dict), loaded over SVD's weights.")
    ] = None,
    clip_folder: Annotated[
        Path | None,
        typer.Option(help="CLIP in transformers layout (config, weights, vocab.json, merges.txt): text conditioning."),
    ] = None,
    preset: PresetOption = "paper",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Build the Ctrl-World backend from local folders and save it as a checkpoint the other commands read.

    The data config fixes the layout (resolution, history and future frames) and supplies the state
    statistics (`<data.root>/stat.json`) that the actions are normalised with.
    """
    from persistworld.data.layout import STATS_FILE
    from persistworld.data.stats import StateStats
    from persistworld.models.checkpoint import save_checkpoint
    from persistworld.models.ctrl_world.loading import from_local_folders
    from persistworld.train.pretrain import data_layout

    cfg = load_config(preset, config, set_)
    layout = data_layout(cfg.data.resolution, cfg.clips)
    stats = StateStats.load(Path(cfg.data.root) / STATS_FILE)
    console.print(f"building Ctrl-World from {svd_folder} for {layout.describe()}")
    model, report = from_local_folders(svd_folder, layout, checkpoint=checkpoint, clip_folder=clip_folder)
    for prefix, count in report.skipped.items():
        console.print(f"[yellow]skipped {count} tensors under `{prefix}.*` of {checkpoint} (unused by this model)[/]")
    folders = {"svd_folder": svd_folder, "checkpoint": checkpoint, "clip_folder": clip_folder}
    source = {name: None if path is None else str(path) for name, path in folders.items()}
    save_checkpoint(out, model.eval(), stats, source=source)
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    text = "on" if model.text_encoder is not None else "off"
    console.print(f"wrote {out} ({parameters:.1f} M parameters, text conditioning {text})")
    console.print(f"next: persistworld posttrain --preset {preset} --base {out}; "
                  f"persistworld evaluate --preset {preset} --checkpoint {out}")  # fmt: skip
