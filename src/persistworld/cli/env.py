"""`persistworld env`: versions and devices, for bug reports."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from rich.table import Table

from persistworld.cli.common import console


def env_command() -> None:
    """Print Python, package versions, the torch device and the rendering backend."""
    import torch

    table = Table("component", "version / value", title="persistworld environment")
    table.add_row("python", platform.python_version())
    for package in ("persistworld", "torch", "torchvision", "numpy", "av", "robosuite", "mujoco", "pyarrow"):
        try:
            table.add_row(package, importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            table.add_row(package, "[dim]not installed[/]")
    table.add_row("cuda available", str(torch.cuda.is_available()))
    if torch.cuda.is_available():
        table.add_row("cuda device", torch.cuda.get_device_name(0))
    table.add_row("torch threads", str(torch.get_num_threads()))
    table.add_row("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl (set by persistworld.sim)"))
    console.print(table)
