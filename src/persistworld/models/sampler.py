"""EDM sampling: Euler or Heun over a Karras sigma grid, optional churn and classifier-free guidance.

Randomness is an argument: pass the initial ``noise`` or a ``generator`` (one per sample, so that
each branch candidate has its own reproducible stream, as diffusers' ``randn_tensor`` does).
The sampler returns the x0-prediction of every step, which the RL post-training and the
diagnostics use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from persistworld.models.protocol import Condition, WorldModel


@dataclass
class SamplerConfig:
    """How a clip is sampled."""

    # Denoiser evaluations per clip are num_steps (Euler) or ~2 num_steps - 1 (Heun).
    num_steps: int = 10
    # 1 = Euler, 2 = Heun (second order; the last step is Euler, as in EDM).
    order: int = 1
    # The Karras grid, in units of the target (set sigma_max a few times the target's sigma_data).
    sigma_min: float = 0.002
    sigma_max: float = 5.0
    rho: float = 7.0
    # EDM stochastic churn (0 = deterministic ODE sampler). Adds fresh noise in [s_tmin, s_tmax].
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = float("inf")
    s_noise: float = 1.0
    # Classifier-free guidance on the action condition: D_u + scale (D_c - D_u); 1 = off.
    cfg_scale: float = 1.0
    # Guidance of the first predicted frame; the scale then ramps linearly to `cfg_scale` at the last
    # frame (Ctrl-World: 1.0 -> 2.0 over its 5 frames). None = `cfg_scale` on every frame.
    cfg_scale_first: float | None = None
    # Guidance's conditional and unconditional branches in one model call of twice the rows, as
    # diffusers' pipelines do (fewer, larger kernels on a GPU); False = two calls, half the activations.
    batch_guidance: bool = True
    # Independent samples per condition whose final x0 are averaged (1 = an ordinary sample). With the
    # 1-step sampler, n > 1 estimates the posterior mean E[x0 | condition], the MSE-optimal prediction:
    # a single draw of a model trained mostly at low noise still carries grain from its input noise
    # (docs/baseline.md). Costs n model evaluations per step.
    draws: int = 1
    # Rows (conditions x candidates) per model call (twice that with `batch_guidance`); 0 = the whole
    # batch in one call. Bounds the memory of big models (the K = 16 candidates of a group on the full
    # Ctrl-World); the samples are the same up to float summation order.
    max_batch: int = 0

    def __post_init__(self) -> None:
        if self.max_batch < 0:
            raise ValueError(f"`max_batch` must be >= 0 (0 = no limit). Got {self.max_batch}.")
        if self.num_steps < 1:
            raise ValueError(f"`num_steps` must be >= 1. Got {self.num_steps}.")
        if self.order not in (1, 2):
            raise ValueError(f"`order` must be 1 (Euler) or 2 (Heun). Got {self.order}.")
        if self.draws < 1:
            raise ValueError(f"`draws` must be >= 1. Got {self.draws}.")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max. Got {self.sigma_min}, {self.sigma_max}.")


@dataclass
class SampleResult:
    """A sampled batch."""

    x0: torch.Tensor  # (B, ...) the final sample, in the model's target space
    x0_per_step: list[torch.Tensor]  # the denoiser's x0-prediction at every step


def karras_sigmas(
    num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The Karras et al. (2022) grid: ``num_steps`` decreasing sigmas from sigma_max to sigma_min, then 0."""
    ramp = torch.linspace(0, 1, num_steps, device=device, dtype=torch.float64)
    if num_steps == 1:
        ramp = torch.zeros(1, device=device, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + ramp * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def randn(
    shape: Sequence[int],
    generator: torch.Generator | Sequence[torch.Generator] | None,
    device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise; with a list of generators, sample i comes from generator i only."""
    if isinstance(generator, Sequence):
        if len(generator) != shape[0]:
            raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}.")
        return torch.stack([torch.randn(tuple(shape[1:]), generator=g, device=device, dtype=dtype) for g in generator])
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)


def guidance_scale(config: SamplerConfig, x: torch.Tensor) -> torch.Tensor | float:
    """The guidance weight: `cfg_scale`, or a per-frame ramp shaped to broadcast over x (B, F, ...)."""
    if config.cfg_scale_first is None:
        return config.cfg_scale
    ramp = torch.linspace(config.cfg_scale_first, config.cfg_scale, x.shape[1], device=x.device, dtype=x.dtype)
    return ramp.view(1, -1, *[1] * (x.dim() - 2))


def uses_guidance(config: SamplerConfig) -> bool:
    """Whether the sampler needs the unconditional branch."""
    return config.cfg_scale_first is not None or config.cfg_scale != 1.0


def guided_denoise(
    model: WorldModel, x: torch.Tensor, sigma: torch.Tensor, cond: Condition, config: SamplerConfig,
    both: Condition | None = None,
) -> torch.Tensor:  # fmt: skip
    """The (optionally classifier-free guided) x0-prediction.

    `both` is ``Condition.concat([cond, cond.unconditional()])``, built once by the caller (so that a
    backend's per-condition caches keep hitting): with it and `config.batch_guidance`, the two branches
    are one model call.
    """
    if not uses_guidance(config):
        return model.denoise(x, sigma, cond)
    if config.batch_guidance:
        both = both if both is not None else Condition.concat([cond, cond.unconditional()])
        conditional, unconditional = model.denoise(torch.cat([x, x]), torch.cat([sigma, sigma]), both).chunk(2)
    else:
        conditional = model.denoise(x, sigma, cond)
        unconditional = model.denoise(x, sigma, cond.unconditional())
    return unconditional + guidance_scale(config, x) * (conditional - unconditional)


@torch.no_grad()
def sample(
    model: WorldModel,
    cond: Condition,
    config: SamplerConfig,
    *,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> SampleResult:
    """Sample the diffusion target of one clip per condition.

    Args:
        model: The world model.
        cond: (B) conditions.
        config: Grid, order, churn and guidance.
        noise: Optional standard normal noise of the target's shape; scaled by sigma_max here.
        generator: Generator(s) for the initial noise (if ``noise`` is None) and for churn.

    Returns:
        The final x0 and the x0-prediction of every step, in the model's target space
        (``model.decode`` turns them into frames).
    """
    device = cond.current.device
    shape = model.target_shape(cond)
    if noise is not None and tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)}, the model's target has {tuple(shape)}.")
    denoiser = RowChunkedDenoiser(model, cond, config)
    if config.draws == 1:
        return _sample_once(
            denoiser, config, noise if noise is not None else randn(shape, generator, device), generator
        )
    if noise is not None:
        raise ValueError(f"explicit `noise` gives one draw; this sampler averages {config.draws}: pass a generator.")
    draws = [_sample_once(denoiser, config, randn(shape, generator, device), generator) for _ in range(config.draws)]
    return SampleResult(
        x0=torch.stack([d.x0 for d in draws]).mean(0),
        x0_per_step=[torch.stack(step).mean(0) for step in zip(*(d.x0_per_step for d in draws), strict=True)],
    )


class RowChunkedDenoiser:
    """The guided denoiser of a batch of conditions, called on at most `config.max_batch` rows at a time.

    The conditions of the chunks are cut once, here, and reused at every sampler step, so that a
    backend's per-condition caches (Ctrl-World's conditioning latents) keep hitting.
    """

    def __init__(self, model: WorldModel, cond: Condition, config: SamplerConfig):
        rows = len(cond)
        size = config.max_batch or rows
        self.model, self.config, self.device = model, config, cond.current.device
        self.chunks = [(start, min(start + size, rows)) for start in range(0, rows, size)]
        self.conds = [cond] if len(self.chunks) == 1 else [cond.select(list(range(a, b))) for a, b in self.chunks]
        batched = uses_guidance(config) and config.batch_guidance
        self.both = [Condition.concat([c, c.unconditional()]) if batched else None for c in self.conds]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """(B, ...) x0-predictions at (B,) noise levels."""
        parts = [
            guided_denoise(self.model, x[a:b], sigma[a:b], cond, self.config, both)
            for (a, b), cond, both in zip(self.chunks, self.conds, self.both, strict=True)
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _sample_once(
    denoiser: RowChunkedDenoiser,
    config: SamplerConfig,
    noise: torch.Tensor,
    generator: torch.Generator | Sequence[torch.Generator] | None,
) -> SampleResult:
    """One draw: integrate from ``noise * sigma_max`` down the Karras grid."""
    device = denoiser.device
    shape = noise.shape
    sigmas = karras_sigmas(config.num_steps, config.sigma_min, config.sigma_max, config.rho, device)
    x = noise.to(device) * sigmas[0]
    batch = shape[0]
    gamma_max = min(config.s_churn / config.num_steps, 2**0.5 - 1)
    x0_per_step: list[torch.Tensor] = []
    for i in range(config.num_steps):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        if config.s_churn > 0 and config.s_tmin <= sigma <= config.s_tmax:
            sigma_hat = sigma * (1 + gamma_max)
            x = x + (sigma_hat**2 - sigma**2).sqrt() * config.s_noise * randn(shape, generator, device)
            sigma = sigma_hat
        x0 = denoiser(x, sigma.expand(batch))
        x0_per_step.append(x0)
        derivative = (x - x0) / sigma
        x_next = x + (sigma_next - sigma) * derivative
        if config.order == 2 and sigma_next > 0:  # Heun correction
            x0_next = denoiser(x_next, sigma_next.expand(batch))
            derivative = 0.5 * (derivative + (x_next - x0_next) / sigma_next)
            x_next = x + (sigma_next - sigma) * derivative
        x = x_next
    return SampleResult(x0=x, x0_per_step=x0_per_step)
