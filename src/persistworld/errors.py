"""Exceptions that the CLI turns into one clear line instead of a traceback.

Every error a user can cause by giving us bad input derives from `PersistWorldError`; its message
names the file, the field, what was expected, what was found and, where there is one, the fix.
Internal invariants use `assert` instead.
"""

from __future__ import annotations

from pathlib import Path


class PersistWorldError(Exception):
    """Base class of all user-facing errors of persistworld."""


class ConfigError(PersistWorldError):
    """A configuration file, preset or override is invalid."""


class MissingDependencyError(PersistWorldError):
    """An optional dependency (an extra of the package) is not installed."""


class EpisodeDataError(PersistWorldError):
    """An episode on disk is missing, incomplete or malformed.

    Args:
        path: The file (annotation or video) that is wrong.
        problem: What is wrong with it, including the field name where there is one.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
