"""The repo's `scripts/` are files, not a package: tests load them as modules by path."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py` as a module, without running its `main`."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *arguments: str) -> str:
    """Run `scripts/<name>.py` with `arguments` in a fresh interpreter; its stdout (stderr shown on failure)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *arguments], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
