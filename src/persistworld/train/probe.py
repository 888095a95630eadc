"""A fixed held-out probe, evaluated during training: is the model still improving, and does it beat copying?

The probe holds a fixed set of validation clips, fixed sampler noise and fixed (sigma, noise) pairs,
so its numbers move only when the model does. It reports the 1-step (teacher-forced) sampled SSIM and
PSNR of the model, the same for the copy-the-current-frame baseline, and the held-out EDM loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from persistworld.data.clips import ClipBatch, ClipSampler
from persistworld.metrics.image import psnr, ssim
from persistworld.models.edm import EDMConfig, denoising_loss, log_normal_sigma_quantiles
from persistworld.models.protocol import Condition, WorldModel
from persistworld.models.sampler import SamplerConfig, sample


@dataclass
class ProbeConfig:
    """Size and seed of the held-out probe."""

    num_clips: int = 64
    # Clips are scored in chunks of this many (bounds memory).
    chunk_size: int = 16
    seed: int = 0


class HeldOutProbe:
    """Fixed validation clips and noise; call it with a model to get held-out metrics."""

    def __init__(self, sampler: ClipSampler, config: ProbeConfig, device: torch.device | str = "cpu"):
        if len(sampler) == 0:
            raise ValueError("the validation split has no clips to probe.")
        rng = np.random.default_rng(config.seed)
        count = min(config.num_clips, len(sampler))
        picks = rng.choice(len(sampler), size=count, replace=False)
        self.chunks = [
            sampler.batch([sampler.clip_ids[i] for i in picks[start : start + config.chunk_size]]).to(device)
            for start in range(0, count, config.chunk_size)
        ]
        self.config = config

    @torch.no_grad()
    def __call__(self, model: WorldModel, sampler_config: SamplerConfig, edm: EDMConfig) -> dict[str, float]:
        """Held-out metrics of `model` (which is left in the mode it came in)."""
        was_training = getattr(model, "training", False)
        if was_training:
            model.eval()
        totals: dict[str, list[torch.Tensor]] = {k: [] for k in ("ssim", "psnr", "copy_ssim", "copy_psnr", "loss")}
        quantile_sigmas = log_normal_sigma_quantiles(edm, (0.1, 0.3, 0.5, 0.7, 0.9))
        generator = torch.Generator(device=self.chunks[0].current.device).manual_seed(self.config.seed)
        for batch in self.chunks:
            cond = Condition.from_batch(batch)
            x0 = sample(model, cond, sampler_config, generator=generator).x0
            frames = model.decode(x0, cond)
            copy = batch.current[:, None].expand_as(batch.future)
            totals["ssim"].append(ssim(frames, batch.future).flatten(1).mean(1))
            totals["psnr"].append(psnr(frames, batch.future).flatten(1).mean(1))
            totals["copy_ssim"].append(ssim(copy, batch.future).flatten(1).mean(1))
            totals["copy_psnr"].append(psnr(copy, batch.future).flatten(1).mean(1))
            target = model.encode(batch.future, cond)
            for sigma_value in quantile_sigmas:
                sigma = torch.full((len(batch),), sigma_value, device=target.device)
                noise = torch.randn(target.shape, generator=generator, device=target.device)
                loss = denoising_loss(partial(model.denoise, cond=cond), target, sigma, noise, edm.sigma_data)
                totals["loss"].append(loss[None])
        if was_training:
            model.train()
        return {k: float(torch.cat(v).mean()) for k, v in totals.items()}


def probe_batches(probe: HeldOutProbe) -> list[ClipBatch]:
    """The probe's fixed clips (for pictures of what the model predicts)."""
    return probe.chunks
