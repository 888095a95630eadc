"""Lemma 1 / Theorem 1 numerically: minimising the x0 objective gives D_old + (2 / beta) Delta.

Toy problem with a closed-form optimum: the old policy puts mass 1/2 on x0 = -1 and x0 = +1, the
reward's optimality probability is r(-1) = 0.3 and r(+1) = 0.8, and x_sigma = x0 + sigma eps. Given
x_sigma, the posterior weights are p_i ∝ 1/2 N(x_sigma; x_i, sigma^2), so

    D_old = sum_i p_i x_i,   alpha = sum_i p_i r_i,   Delta = alpha (D+ - D_old) = sum_i p_i r_i x_i - alpha D_old.

A small MLP D_theta(x_sigma) is trained with `contrastive_x0_loss` (without the self-normalisation, which
depends on x0 and lies outside the theorem) and compared with D_old + (2 / beta) Delta.
"""

from __future__ import annotations

import pytest
import torch

from persistworld.rl.objective import ObjectiveConfig, contrastive_x0_loss

ATOMS = torch.tensor([-1.0, 1.0])
REWARD = torch.tensor([0.3, 0.8])
SIGMA = 0.8


def posterior(x: torch.Tensor) -> torch.Tensor:
    logits = -((x[:, None] - ATOMS) ** 2) / (2 * SIGMA**2)
    return logits.softmax(-1)


def d_old(x: torch.Tensor) -> torch.Tensor:
    return posterior(x) @ ATOMS


def optimum(x: torch.Tensor, beta: float) -> torch.Tensor:
    p = posterior(x)
    alpha = p @ REWARD
    delta = p @ (REWARD * ATOMS) - alpha * d_old(x)
    return d_old(x) + (2 / beta) * delta


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_the_minimiser_is_d_old_plus_two_over_beta_delta(beta: float):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(1, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                                  torch.nn.Linear(64, 1))  # fmt: skip
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    config = ObjectiveConfig(beta=beta, self_normalize=False, adv_clip=1.0)
    for step in range(1500):
        index = torch.randint(0, 2, (2048,), generator=generator)
        x0 = ATOMS[index]
        x = x0 + SIGMA * torch.randn(2048, generator=generator)
        d_theta = d_old(x) + network(x[:, None]).squeeze(1)  # start at D_old: the old policy
        loss, _ = contrastive_x0_loss(d_theta[:, None], d_old(x)[:, None], x0[:, None], REWARD[index], config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 1000:
            for group in optimizer.param_groups:
                group["lr"] = 5e-4
    grid = torch.linspace(-1.6, 1.6, 33)  # where the noisy samples lie (|x| <= 1 + 2 sigma)
    with torch.no_grad():
        learned = d_old(grid) + network(grid[:, None]).squeeze(1)
    target = optimum(grid, beta)
    assert (learned - target).abs().max() < 0.05, (learned - target).abs().max()
    assert (target - d_old(grid)).abs().max() > 0.15  # the optimum really differs from the old policy
