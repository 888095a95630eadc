"""EDM preconditioning, training-noise distribution and loss (Karras et al. 2022), in the paper's symbols.

The network ``F`` never sees sigma directly: the denoiser ``D`` wraps it as

    D(x_sigma; sigma) = c_skip(sigma) x_sigma + c_out(sigma) F(c_in(sigma) x_sigma; c_noise(sigma), cond)

so that ``D`` is an x0-predictor (the clean sample) at every noise level. This is the quantity the
PersistWorld x0-NFT loss works with, so `precondition` is differentiable (unlike DIAMOND's no-grad
``wrap_model_output``); quantisation happens only when frames are written to video.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: The network inside the preconditioning: (c_in * x_sigma, c_noise, cond) -> F.
Network = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


@dataclass
class EDMConfig:
    """Noise-level parameters of the diffusion."""

    # Standard deviation of the diffusion target. For a residual target (future minus current frame)
    # this is the std of the frame differences (~0.2 on the simulator at 5 Hz), not of the frames.
    sigma_data: float = 0.5
    # Training sigmas are log-normal: ln(sigma) ~ N(p_mean, p_std^2).
    p_mean: float = -1.2
    p_std: float = 1.2

    def __post_init__(self) -> None:
        if self.sigma_data <= 0:
            raise ValueError(f"`sigma_data` must be > 0. Got {self.sigma_data}.")
        if self.p_std <= 0:
            raise ValueError(f"`p_std` must be > 0. Got {self.p_std}.")


@dataclass
class Conditioners:
    """The four EDM scalings for a batch of sigmas, each shaped (B, 1, ..., 1) to broadcast over a sample."""

    c_in: torch.Tensor
    c_out: torch.Tensor
    c_skip: torch.Tensor
    c_noise: torch.Tensor  # (B,): the network's noise-level input, ln(sigma) / 4


def edm_conditioners(sigma: torch.Tensor, sigma_data: float, sample_ndim: int) -> Conditioners:
    """EDM's c_in, c_out, c_skip, c_noise for per-sample noise levels.

    Args:
        sigma: (B,) noise levels, >= 0.
        sigma_data: Std of the clean data.
        sample_ndim: Number of dims of one sample (the scalings are reshaped to broadcast over them).
    """
    s = sigma.reshape(-1, *([1] * sample_ndim))
    variance = s**2 + sigma_data**2
    return Conditioners(
        c_in=variance.rsqrt(),
        c_out=s * sigma_data * variance.rsqrt(),
        c_skip=sigma_data**2 / variance,
        # sigma = 0 (a clean input) maps to a large negative but finite noise input.
        c_noise=sigma.clamp(min=1e-20).log() / 4,
    )


def precondition(network: Network, x_sigma: torch.Tensor, sigma: torch.Tensor, cond: object, sigma_data: float):
    """The x0-prediction D(x_sigma; sigma, cond), differentiable in the network's parameters.

    Args:
        network: ``F(c_in x, c_noise, cond)``, returning a tensor shaped like ``x_sigma``.
        x_sigma: (B, ...) noisy samples.
        sigma: (B,) their noise levels.
        cond: Whatever the network needs besides the noisy sample.
        sigma_data: Std of the clean data.
    """
    c = edm_conditioners(sigma.to(x_sigma.dtype), sigma_data, x_sigma.ndim - 1)
    return c.c_skip * x_sigma + c.c_out * network(c.c_in * x_sigma, c.c_noise, cond)


def sample_training_sigma(
    batch_size: int, config: EDMConfig, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(B,) log-normal training noise levels."""
    normal = torch.randn(batch_size, generator=generator, device=device)
    return (config.p_mean + config.p_std * normal).exp()


def loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """EDM's lambda(sigma) = 1 / c_out^2, which makes the effective network target unit-variance."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def denoising_loss(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
    sigma_data: float,
    mask: torch.Tensor | None = None,
    *,
    element_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """EDM's weighted x0 regression loss for given sigmas and noise (both explicit: reproducible).

    Args:
        denoise: ``(x_sigma, sigma) -> x0_hat``.
        x0: (B, F, ...) clean targets.
        sigma: (B,) noise levels.
        noise: Standard normal noise shaped like ``x0``.
        sigma_data: Std of the clean data.
        mask: Optional (B, F) weights of the frames (0 for padding frames).
        element_weight: Optional weights of the target's elements, broadcastable to ``x0`` (e.g. more
            weight where the ground truth moves).

    Returns:
        The scalar loss: weighted squared error, averaged over the unmasked elements.
    """
    x_sigma = x0 + sigma.reshape(-1, *([1] * (x0.ndim - 1))) * noise
    squared_error = (denoise(x_sigma, sigma) - x0) ** 2
    if element_weight is not None:
        squared_error = squared_error * element_weight
    per_frame = squared_error.flatten(2).mean(-1)  # (B, F)
    per_frame = per_frame * loss_weight(sigma, sigma_data)[:, None]
    if mask is None:
        return per_frame.mean()
    return (per_frame * mask).sum() / mask.sum().clamp(min=1)


def log_normal_sigma_quantiles(config: EDMConfig, quantiles: tuple[float, ...]) -> list[float]:
    """Sigma values at the given quantiles of the training distribution (for held-out loss probes)."""
    normal = torch.distributions.Normal(0.0, 1.0)
    return [math.exp(config.p_mean + config.p_std * float(normal.icdf(torch.tensor(q)))) for q in quantiles]
