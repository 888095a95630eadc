"""What `persistworld evaluate` replays and how it scores it (the ``evaluate`` section of the config)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from persistworld.metrics.suite import WEIGHT_FREE


@dataclass
class EvaluationConfig:
    """What `persistworld evaluate` replays and how it scores it."""

    split: str | None = None  # None = the data config's test split
    episodes: int = 8  # the split's first episodes (0 = all)
    steps: int = 14  # autoregressive steps (clips) per rollout, as the paper (11 s at 5 Hz with F=4)
    start: int = 0  # start frame: ground truth up to it
    seed: int = 0  # base seed of the per-row sampler noise (the same for every model)
    metrics: tuple[str, ...] = WEIGHT_FREE
    lpips_weights: Path | None = None  # LPIPS backbone checkpoint; None = the torch hub cache
    batch_episodes: int = 8  # episodes rolled out together (memory bound)
    videos: int = 2  # side-by-side videos of this many episodes
