"""Checkpoints for tests: a perturbed copy of the shipped baseline (a second, slightly different model)."""

from __future__ import annotations

from pathlib import Path

import torch

from persistworld.assets import BASELINE_DEMO


def perturbed_copy(path: Path, scale: float = 0.05) -> Path:
    """The shipped baseline with seeded noise on its weights, saved at `path`."""
    checkpoint = torch.load(BASELINE_DEMO, map_location="cpu", weights_only=False)
    generator = torch.Generator().manual_seed(0)
    for key, value in checkpoint["model"].items():
        if value.is_floating_point() and value.dim() > 1:
            checkpoint["model"][key] = value + scale * value.std() * torch.randn(value.shape, generator=generator)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
