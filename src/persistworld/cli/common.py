"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persistworld.config import resolve_config
from persistworld.errors import ConfigError
from persistworld.models.compact import COMPACT_PRESETS
from persistworld.models.ctrl_world.config import CTRL_WORLD_PRESETS
from persistworld.presets import PersistWorldConfig, get_preset
from persistworld.utils.progress import console, progress_bar  # noqa: F401  (re-exported for the commands)

PresetOption = Annotated[str, typer.Option("--preset", "-p", help="Named preset: demo, droid or paper.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML file with config overrides (a subset of the config)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one config value, e.g. --set sim.episodes.train=8 (repeatable)."),
]


def load_config(
    preset: str, config: Path | None, overrides: list[str] | None, model: str | None = None
) -> PersistWorldConfig:
    """Preset, then the model preset (if given), then YAML file, then ``--set`` overrides.

    Model presets are the compact sizes (`tiny`, `demo`, `large`) and the Ctrl-World ones
    (`ctrl_world_tiny`, `ctrl_world_full`), which also switch `backend`.
    """
    base = get_preset(preset)
    ctrl_world = {f"ctrl_world_{name}": make for name, make in CTRL_WORLD_PRESETS.items()}
    if model in COMPACT_PRESETS:
        base.backend, base.model = "compact", COMPACT_PRESETS[model]()
    elif model in ctrl_world:
        base.backend, base.ctrl_world = "ctrl_world", ctrl_world[model]()
    elif model is not None:
        raise ConfigError(f"unknown model preset `{model}`. Available: {[*COMPACT_PRESETS, *ctrl_world]}.")
    return resolve_config(base, config, overrides or [])


def parse_resolution(value: str | None) -> tuple[int, int] | None:
    """Parse ``"48x80"`` (height x width)."""
    if value is None:
        return None
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter(f"resolution must look like 48x80 (height x width), got {value!r}") from exc
    return height, width
