"""Sample videos written during training: the same held-out clips at every probe, ground truth vs model.

Numbers say whether a model improves; a video says how (blur, a vanishing arm, frozen frames). The
clips and the sampler noise are fixed, so consecutive videos differ only because the model changed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from persistworld.data.clips import ClipBatch
from persistworld.models.protocol import Condition, WorldModel
from persistworld.models.sampler import SamplerConfig, sample
from persistworld.rollout.video import to_uint8, write_comparison_video


@torch.no_grad()
def write_sample_video(
    model: WorldModel, batch: ClipBatch, sampler: SamplerConfig, path: str | Path, num_clips: int = 2, seed: int = 0
) -> Path:
    """Write an mp4 with, per clip, a ground-truth row and a model row (current frame, then the F future frames).

    Args:
        model: The model to sample (its train/eval mode is left as it came).
        batch: Held-out clips; the first `num_clips` are shown.
        sampler: Sampler settings (as in the probe).
        path: Destination ``.mp4``.
        num_clips: How many clips to show, one pair of rows each.
        seed: Seed of the sampler noise.
    """
    keep = list(range(min(num_clips, len(batch))))
    cond = Condition.from_batch(batch).select(keep)
    generator = torch.Generator(device=cond.current.device).manual_seed(seed)
    predicted = model.decode(sample(model, cond, sampler, generator=generator).x0, cond)
    rows = {}
    for i in keep:
        current = cond.current[i][None]
        rows[f"clip {i + 1} truth"] = to_uint8(torch.cat([current, batch.future[i]]))
        rows[f"clip {i + 1} model"] = to_uint8(torch.cat([current, predicted[i]]))
    return write_comparison_video(rows, path, fps=2)
