"""benchmarks/ctrl_world.py on the tiny preset: the numbers that docs/benchmarks.md will quote for a GPU.

The FLOP count is what the TFLOP/s and the share of the bf16 peak rest on, so it must count the
U-Net's work (and scale with the batch), not the cached VAE encode or nothing at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import ctrl_world as benchmark  # noqa: E402

OPTIONS = {"preset": "tiny", "device": "cpu", "resolution": (32, 48), "precision": "fp32", "compile": False,
           "micro_batch": 0, "checkpointing": False, "repeats": 1}  # fmt: skip


def test_unet_flops_scale_with_the_rows_and_do_not_depend_on_the_precision():
    one, two = benchmark.unet_forward(OPTIONS, 1), benchmark.unet_forward(OPTIONS, 2)
    assert two["flops"] == 2 * one["flops"] > 1e8  # the tiny U-Net on 11 frames: about 0.9 GFLOP per row
    assert benchmark.unet_forward({**OPTIONS, "precision": "bf16"}, 1)["flops"] == one["flops"]
    assert one["seconds"] > 0 and one["tflops"] == pytest.approx(one["flops"] / one["seconds"] / 1e12)


def test_rollout_step_and_rl_iteration_report_time_and_memory():
    step = benchmark.rollout_step(OPTIONS, 2)
    assert step["seconds"] > 0 and step["peak_mb"] >= 0
    iteration = benchmark.rl_iteration({**OPTIONS, "checkpointing": True, "micro_batch": 1}, 2)
    stages = [iteration[f"{name} (s)"] for name in benchmark.STAGES]
    assert all(s > 0 for s in stages) and iteration["seconds"] == pytest.approx(sum(stages))


def test_bf16_peak_lookup():
    assert benchmark.bf16_peak("cpu", None) is None
    assert benchmark.bf16_peak("cpu", 100.0) == 100.0
