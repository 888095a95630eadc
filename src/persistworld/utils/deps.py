"""One gate for optional dependencies, so that a missing extra says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from persistworld.errors import MissingDependencyError


def require_package(module: str, extra: str, pip_name: str | None = None) -> ModuleType:
    """Import `module` or explain which extra of persistworld provides it.

    Args:
        module: Importable module name, e.g. ``"robosuite"``.
        extra: The persistworld extra that installs it, e.g. ``"sim"``.
        pip_name: The distribution name if it differs from `module`.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: If the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"`{module}` is needed here but could not be imported ({exc}). "
            f"Install it with: pip install 'persistworld[{extra}]' (or pip install {pip_name or module})."
        ) from exc
