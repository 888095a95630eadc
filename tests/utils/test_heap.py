"""deterministic_allocations: fresh heap memory holds a fixed pattern inside the block, as glibc promises."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from persistworld.utils.heap import deterministic_allocations


def test_new_allocations_hold_the_requested_pattern_inside_the_block():
    # 4 KiB: above glibc's per-thread cache (<= 1 KiB chunks are recycled without the pattern), below mmap
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    with deterministic_allocations(0x5A) as active:
        if not active:
            pytest.skip("not glibc: mallopt(M_PERTURB) is unavailable, the helper does nothing")
        inside = [libc.malloc(4096) for _ in range(50)]
        contents = {ctypes.string_at(p, 4096) for p in inside}
    assert contents == {bytes([0x5A ^ 0xFF]) * 4096}  # glibc fills allocations with the complement
    for pointer in inside:
        libc.free(pointer)
    with deterministic_allocations(0x11):
        again = libc.malloc(4096)
        assert ctypes.string_at(again, 4096) == bytes([0x11 ^ 0xFF]) * 4096
        libc.free(again)
