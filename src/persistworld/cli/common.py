"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from persistworld.config import resolve_config
from persistworld.presets import PersistWorldConfig, get_preset

console = Console(stderr=True)

PresetOption = Annotated[str, typer.Option("--preset", "-p", help="Named preset: demo, droid or paper.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML file with config overrides (a subset of the config)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one config value, e.g. --set sim.episodes.train=8 (repeatable)."),
]


def load_config(preset: str, config: Path | None, overrides: list[str] | None) -> PersistWorldConfig:
    """Preset, then YAML file, then ``--set`` overrides."""
    return resolve_config(get_preset(preset), config, overrides or [])


def progress_bar() -> Progress:
    """A rich progress bar with count, elapsed time and ETA, written to stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


def parse_resolution(value: str | None) -> tuple[int, int] | None:
    """Parse ``"48x80"`` (height x width)."""
    if value is None:
        return None
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter(f"resolution must look like 48x80 (height x width), got {value!r}") from exc
    return height, width
