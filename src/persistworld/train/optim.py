"""Optimizer, learning-rate schedule and EMA: the pieces every trainer shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay."""

    lr: float = 3e-4
    # The cosine schedule decays to this learning rate at the last step.
    min_lr: float = 3e-5
    warmup_steps: int = 200
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    # Clip the global gradient norm to this value (0 = off).
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr. Got min_lr={self.min_lr}, lr={self.lr}.")


def learning_rate(step: int, total_steps: int, config: OptimConfig) -> float:
    """Learning rate at `step` (0-based): linear warmup, then cosine from lr to min_lr (nanoGPT's get_lr)."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(1, total_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    return config.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (config.lr - config.min_lr)


def make_optimizer(parameters, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the given parameters (weight decay on matrices and kernels only, not on norms and biases)."""
    parameters = [p for p in parameters if p.requires_grad]
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


class EMA:
    """Exponential moving average of a model's parameters and buffers (the weights that are evaluated)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1). Got {decay}.")
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        """Shadow <- decay * shadow + (1 - decay) * current.

        With `step` (0-based, the update's index) the decay warms up as ``min(decay, (1 + step) / (10 + step))``
        (TensorFlow's and diffusers' EMA warmup). Why: with a fixed 0.999 the average still holds
        0.999^n of the initial weights after n steps, 37 % at step 1000, so early probes and short runs
        judged weights that were largely untrained (the compact model's zero-initialised output layer
        then shrinks every prediction towards "no change").
        """
        decay = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].lerp_(value.detach(), 1 - decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, loadable into the model."""
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore averaged weights."""
        self.shadow = {k: v.detach().clone() for k, v in state.items()}
