"""One supervised training step, shared by pretraining, the RL trainer's controls and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from persistworld.data.clips import ClipBatch
from persistworld.errors import ConfigError
from persistworld.metrics.regions import motion_mask
from persistworld.models.edm import EDMConfig, denoising_loss, sample_training_sigma
from persistworld.models.protocol import Condition, WorldModel
from persistworld.train.optim import OptimConfig


@dataclass
class StepConfig:
    """What a teacher-forced step does besides the plain EDM loss."""

    # Probability of dropping the actions of a sample (trains the unconditional branch of CFG).
    action_dropout: float = 0.05
    # Noise-augmented histories (the control baseline, GameNGen / Diffusion-Forcing style): history and
    # current frames get Gaussian noise of a per-sample std drawn uniformly in [0, history_noise].
    # 0 = the standard objective on clean ground-truth histories.
    history_noise: float = 0.0
    # Extra loss weight on pixels where the ground truth moves (`persistworld.metrics.regions.motion_mask`):
    # a pixel's squared error counts 1 + motion_weight times there. Why: the arm covers a few percent of
    # the pixels, so an unweighted loss is nearly minimised by copying the current frame, and the
    # actions, which only say where the arm goes, barely move it. Pixel-space targets only.
    motion_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.action_dropout < 1:
            raise ValueError(f"`action_dropout` must be in [0, 1). Got {self.action_dropout}.")
        if self.history_noise < 0:
            raise ValueError(f"`history_noise` must be >= 0. Got {self.history_noise}.")
        if self.motion_weight < 0:
            raise ValueError(f"`motion_weight` must be >= 0 (0 = off). Got {self.motion_weight}.")


def teacher_forced_loss(
    model: WorldModel, batch: ClipBatch, edm: EDMConfig, config: StepConfig, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """The EDM denoising loss on ground-truth clips.

    All randomness (sigmas, noise, action dropout, history noise) comes from `generator`, so a resumed
    run draws exactly what the uninterrupted one would have.

    Returns:
        The loss and its logs.
    """
    device = batch.current.device
    cond = Condition.from_batch(batch)
    b = len(batch)
    keep = (torch.rand(b, generator=generator, device=device) >= config.action_dropout).to(cond.action_mask.dtype)
    cond.action_mask = keep
    if config.history_noise > 0:
        level = torch.rand(b, 1, 1, 1, 1, generator=generator, device=device) * config.history_noise
        cond.history = cond.history + level[:, None] * torch.randn(
            cond.history.shape, generator=generator, device=device
        )
        cond.current = cond.current + level * torch.randn(cond.current.shape, generator=generator, device=device)
    x0 = model.encode(batch.future, Condition.from_batch(batch))  # the target is built from the clean frames
    sigma = sample_training_sigma(b, edm, generator, device)
    noise = torch.randn(x0.shape, generator=generator, device=device)
    mask = 1.0 - batch.future_is_pad.to(x0.dtype)
    if x0.shape[1] == mask.shape[1] + 1:  # a target that leads with the current frame (Ctrl-World regenerates it)
        mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
    weight = None
    if config.motion_weight > 0:
        if x0.shape != batch.future.shape:
            raise ConfigError(
                f"pretrain.objective.motion_weight weights pixels, but this model's target has shape "
                f"{tuple(x0.shape)}, not the frames' {tuple(batch.future.shape)}: set it to 0 for latent models."
            )
        moving = motion_mask(batch.current[:, None], batch.future).unsqueeze(-3)
        weight = 1.0 + config.motion_weight * moving.to(x0.dtype)
    loss = denoising_loss(
        lambda x, s: model.denoise(x, s, cond), x0, sigma, noise, edm.sigma_data, mask, element_weight=weight
    )
    return loss, {"loss": float(loss.detach())}


def optimizer_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float, config: OptimConfig
) -> dict[str, float]:
    """Backward, clip, step. Returns the gradient norm (before clipping) and the learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return {"grad_norm": float(grad_norm), "lr": lr}
