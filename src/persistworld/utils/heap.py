"""Deterministic heap contents for code that reads memory it never wrote (glibc's M_PERTURB).

Why: libx264 (through FFmpeg) reads a few bytes it never initialised while it encodes. Which bytes
those are depends on what the process freed before, so the same frames could encode to different
mp4 bytes in a fresh worker and in a long-lived process that had rendered with EGL. While
`deterministic_allocations` is active, glibc fills every new allocation with a fixed pattern, so
such reads see the same bytes in every process. Outside glibc (macOS, musl) it does nothing.
glibc recycles chunks up to ~1 KiB through its per-thread cache without the pattern; the encoder's
buffers are larger. Measured: with it, 0 of 10 runs of the serial-vs-parallel test wrote different
bytes under CPU load; with only the zeroed frame padding, 2 of 12; with neither, 6 of 10.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

_M_PERTURB = -6  # mallopt parameter, glibc >= 2.4


@cache
def _mallopt():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return function


@contextmanager
def deterministic_allocations(pattern: int = 0x5A) -> Iterator[bool]:
    """Within the block, new heap allocations hold a fixed byte pattern. Yields whether that is active."""
    mallopt = _mallopt()
    active = bool(mallopt is not None and mallopt(_M_PERTURB, pattern))
    try:
        yield active
    finally:
        if active:
            mallopt(_M_PERTURB, 0)
