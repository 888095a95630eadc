"""The EMA of the weights, with and without its warmup."""

from __future__ import annotations

import pytest
import torch

from persistworld.train.optim import EMA


def test_the_warmup_forgets_the_initial_weights_and_the_fixed_decay_does_not():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)  # initial weights 0, trained weights 1
    warm, fixed = EMA(model, 0.999), EMA(model, 0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for step in range(1000):
        warm.update(model, step)
        fixed.update(model)
    # the fixed decay still holds 0.999^1000 = 37 % of the initial weights
    assert fixed.state_dict()["weight"].item() == pytest.approx(1 - 0.999**1000, rel=1e-3)
    initial_share = 1.0
    for step in range(1000):
        initial_share *= min(0.999, (1 + step) / (10 + step))
    assert warm.state_dict()["weight"].item() == pytest.approx(1 - initial_share, rel=1e-4)
    assert initial_share < 1e-3
