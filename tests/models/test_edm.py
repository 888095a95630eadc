"""EDM preconditioning identities and the loss."""

from __future__ import annotations

import torch

from persistworld.models.edm import EDMConfig, denoising_loss, edm_conditioners, loss_weight, precondition


def test_preconditioning_at_zero_sigma_returns_the_input():
    c = edm_conditioners(torch.tensor([0.0]), sigma_data=0.5, sample_ndim=0)
    assert float(c.c_skip) == 1.0 and float(c.c_out) == 0.0
    assert torch.isclose(c.c_in, torch.tensor(1 / 0.5)).all()
    x = torch.randn(3, 4, 5)
    network = lambda x_in, c_noise, cond: torch.full_like(x_in, 7.0)  # noqa: E731  (anything at all)
    assert torch.equal(precondition(network, x, torch.zeros(3), None, 0.5), x)


def test_preconditioning_at_large_sigma_trusts_the_network():
    sigma = torch.tensor([1e4])
    c = edm_conditioners(sigma, sigma_data=0.5, sample_ndim=0)
    assert float(c.c_skip) < 1e-8
    assert torch.isclose(c.c_out, torch.tensor(0.5), rtol=1e-6).all()
    assert torch.isclose(c.c_in * sigma, torch.tensor(1.0), rtol=1e-6).all()  # the network input has unit scale
    assert torch.isclose(c.c_noise, sigma.log() / 4).all()


def test_loss_weight_is_the_inverse_squared_c_out():
    sigma = torch.logspace(-3, 2, 11)
    c = edm_conditioners(sigma, sigma_data=0.3, sample_ndim=0)
    torch.testing.assert_close(loss_weight(sigma, 0.3) * c.c_out**2, torch.ones(11))


def test_the_optimal_denoiser_has_the_lowest_loss():
    g = torch.Generator().manual_seed(0)
    std = 0.5
    x0 = torch.randn(256, 2, 3, generator=g) * std
    sigma = torch.full((256,), 0.8)
    noise = torch.randn(x0.shape, generator=g)
    optimal = lambda x, s: std**2 / (std**2 + s[:, None, None] ** 2) * x  # noqa: E731
    biased = lambda x, s: optimal(x, s) + 0.1  # noqa: E731
    assert denoising_loss(optimal, x0, sigma, noise, std) < denoising_loss(biased, x0, sigma, noise, std)
    # the masked-out frame does not count
    mask = torch.tensor([[1.0, 0.0]]).expand(256, 2)
    only_first = lambda x, s: torch.cat([optimal(x, s)[:, :1], optimal(x, s)[:, 1:] + 5.0], dim=1)  # noqa: E731
    torch.testing.assert_close(
        denoising_loss(only_first, x0, sigma, noise, std, mask), denoising_loss(optimal, x0, sigma, noise, std, mask)
    )


def test_config_rejects_nonpositive_sigma_data():
    import pytest

    with pytest.raises(ValueError, match="sigma_data"):
        EDMConfig(sigma_data=0)
