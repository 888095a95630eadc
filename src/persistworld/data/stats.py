"""State normalisation exactly as Ctrl-World does it: percentiles to [-1, 1], then clip.

``normalised = clip(2 (s - p01) / (p99 - p01 + 1e-8) - 1, -1, 1)`` per dimension, with the 1st and
99th percentiles from ``stat.json``. Values outside [p01, p99] are clipped, so the round trip
``denormalize(normalize(s))`` returns ``s`` only inside that range, and the percentile bound outside.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from persistworld.data.layout import STATE_DIM, STATE_FIELDS
from persistworld.errors import EpisodeDataError
from persistworld.utils.atomic import write_json_atomic

_EPS = 1e-8  # Ctrl-World's epsilon in the denominator


@dataclass(frozen=True)
class StateStats:
    """Per-dimension normalisation bounds of the 7-D state.

    Attributes:
        low: 1st percentile of each state dimension, shape (7,).
        high: 99th percentile of each state dimension, shape (7,).
    """

    low: np.ndarray
    high: np.ndarray

    def normalize(self, states: np.ndarray, clip: bool = True) -> np.ndarray:
        """Map raw states (..., 7) to [-1, 1] (clipped, as Ctrl-World) in float32."""
        out = 2.0 * (np.asarray(states, dtype=np.float64) - self.low) / (self.high - self.low + _EPS) - 1.0
        if clip:
            out = np.clip(out, -1.0, 1.0)
        return out.astype(np.float32)

    def denormalize(self, normalized: np.ndarray) -> np.ndarray:
        """Inverse of `normalize` (exact for states inside [low, high])."""
        x = np.asarray(normalized, dtype=np.float64)
        return ((x + 1.0) / 2.0 * (self.high - self.low + _EPS) + self.low).astype(np.float32)

    @classmethod
    def load(cls, path: str | Path) -> StateStats:
        """Read ``stat.json`` (keys ``state_01`` and ``state_99``, 7 floats each)."""
        path = Path(path)
        if not path.is_file():
            raise EpisodeDataError(
                path,
                "normalisation statistics not found (expected a stat.json with `state_01` and `state_99`).",
            )
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise EpisodeDataError(path, f"not valid JSON ({exc}).") from exc
        bounds = []
        for key in ("state_01", "state_99"):
            value = data.get(key) if isinstance(data, dict) else None
            if value is None:
                raise EpisodeDataError(path, f"field `{key}` is missing.")
            array = np.asarray(value, dtype=np.float64)
            if array.shape != (STATE_DIM,) or not np.all(np.isfinite(array)):
                raise EpisodeDataError(
                    path,
                    f"field `{key}` must be {STATE_DIM} finite numbers {list(STATE_FIELDS)}, got {value!r}.",
                )
            bounds.append(array)
        if np.any(bounds[1] < bounds[0]):
            raise EpisodeDataError(path, "`state_99` is below `state_01` in some dimension.")
        return cls(low=bounds[0], high=bounds[1])

    def save(self, path: str | Path) -> None:
        """Write ``stat.json`` atomically in Ctrl-World's format."""
        write_json_atomic(path, {"state_01": self.low.tolist(), "state_99": self.high.tolist()}, indent=None)

    @classmethod
    def from_states(cls, states: Iterable[np.ndarray]) -> StateStats:
        """Compute the 1st / 99th percentiles over the rows of several (T, 7) state arrays."""
        rows = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1, STATE_DIM) for s in states])
        return cls(low=np.percentile(rows, 1, axis=0), high=np.percentile(rows, 99, axis=0))
