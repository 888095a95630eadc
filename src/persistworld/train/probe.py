"""A fixed held-out probe, evaluated during training: is the model still improving, and does it beat copying?

The probe holds a fixed set of validation clips, fixed sampler noise and fixed (sigma, noise) pairs,
so its numbers move only when the model does. It reports the 1-step (teacher-forced) sampled SSIM and
PSNR of the model, the same for the copy-the-current-frame baseline, and the held-out EDM loss.

It also tracks whether the model follows its actions, from step 0: ``motion_psnr`` is the PSNR inside
the pixels that move in the ground truth (`persistworld.metrics.regions.motion_mask`), and
``motion_psnr_swapped`` the same when every clip gets the actions of the next clip in its chunk,
with the same sampler noise. ``action_gain_db``, their difference, is zero for a model that ignores
its actions and grows as the actions come to place the arm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from persistworld.data.clips import ClipBatch, ClipSampler
from persistworld.metrics.image import psnr, ssim
from persistworld.metrics.regions import masked_psnr, motion_mask
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
        keys = (
            "ssim",
            "psnr",
            "copy_ssim",
            "copy_psnr",
            "loss",
            "motion_psnr",
            "motion_psnr_swapped",
            "copy_motion_psnr",
        )
        totals: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        quantile_sigmas = log_normal_sigma_quantiles(edm, (0.1, 0.3, 0.5, 0.7, 0.9))
        generator = torch.Generator(device=self.chunks[0].current.device).manual_seed(self.config.seed)
        for batch in self.chunks:
            cond = Condition.from_batch(batch)
            sensitivity = action_sensitivity(model, batch, sampler_config, generator)
            frames = sensitivity.frames
            copy = batch.current[:, None].expand_as(batch.future)
            totals["ssim"].append(ssim(frames, batch.future).flatten(1).mean(1))
            totals["psnr"].append(psnr(frames, batch.future).flatten(1).mean(1))
            totals["copy_ssim"].append(ssim(copy, batch.future).flatten(1).mean(1))
            totals["copy_psnr"].append(psnr(copy, batch.future).flatten(1).mean(1))
            totals["motion_psnr"].append(sensitivity.own)
            totals["motion_psnr_swapped"].append(sensitivity.swapped)
            moving = motion_mask(batch.current[:, None], batch.future)
            totals["copy_motion_psnr"].append(masked_psnr(copy, batch.future, moving).flatten(1).nanmean(1))
            target = model.encode(batch.future, cond)
            for sigma_value in quantile_sigmas:
                sigma = torch.full((len(batch),), sigma_value, device=target.device)
                noise = torch.randn(target.shape, generator=generator, device=target.device)
                loss = denoising_loss(partial(model.denoise, cond=cond), target, sigma, noise, edm.sigma_data)
                totals["loss"].append(loss[None])
        if was_training:
            model.train()
        results = {k: float(torch.cat(v).nanmean()) for k, v in totals.items()}
        results["action_gain_db"] = results["motion_psnr"] - results["motion_psnr_swapped"]
        return results


@dataclass
class ActionSensitivity:
    """One batch sampled with its own actions and with swapped ones, scored where the ground truth moves."""

    frames: torch.Tensor  # (B, F, V, 3, H, W) the sample with the clips' own actions
    own: torch.Tensor  # (B,) PSNR inside the motion mask, own actions (NaN for a clip without motion)
    swapped: torch.Tensor  # (B,) the same with the next clip's actions


@torch.no_grad()
def action_sensitivity(
    model: WorldModel, batch: ClipBatch, config: SamplerConfig, generator: torch.Generator
) -> ActionSensitivity:
    """Sample `batch` with its own and with swapped actions (`swap_actions`) from the same noise.

    The generator ends where it would after one `sample` call, so the caller's stream of noise is the
    same with or without this measurement.
    """
    cond = Condition.from_batch(batch)
    start = generator.get_state()
    frames = model.decode(sample(model, cond, config, generator=generator).x0, cond)
    after = generator.get_state()
    generator.set_state(start)
    swapped = swap_actions(cond)
    swapped_frames = model.decode(sample(model, swapped, config, generator=generator).x0, swapped)
    generator.set_state(after)
    moving = motion_mask(batch.current[:, None], batch.future)
    score = lambda f: masked_psnr(f, batch.future, moving).flatten(1).nanmean(1)  # noqa: E731
    return ActionSensitivity(frames, score(frames), score(swapped_frames))


def swap_actions(cond: Condition) -> Condition:
    """The condition with every row's actions (history and future) taken from the next row, cyclically."""
    order = [(i + 1) % len(cond) for i in range(len(cond))]
    return replace(cond, actions=cond.actions[order], history_actions=cond.history_actions[order])


def probe_batches(probe: HeldOutProbe) -> list[ClipBatch]:
    """The probe's fixed clips (for pictures of what the model predicts)."""
    return probe.chunks
