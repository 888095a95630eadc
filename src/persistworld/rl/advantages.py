"""From rewards of K candidates per group to optimality probabilities r in [0, 1].

DiffusionNFT's recipe (method_spec.md section 2.1): A = (R - mean of the group) / (std + 1e-4), with
the std of the group or of all samples (``global``), clipped to +-clip, then r = clip(0.5 + A / (2 clip),
0, 1) = 0.5 + A / 10 for clip 5. Equal rewards give A = 0 and r = 0.5: no push either way.

With several reward terms the raw weighted sum lets the term with the largest spread decide alone
(the toy run's SSIM + PSNR/32 was gamed through SSIM). `normalize_terms` z-scores each term within its
group before the weighted combination, so each term moves r by its weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AdvantageConfig:
    """How rewards become advantages and r."""

    clip: float = 5.0
    std: str = "group"  # "group" (std within each group of K) or "global" (std over all groups)
    eps: float = 1e-4
    normalize_terms: bool = False  # z-score each reward term within its group before weighting

    def __post_init__(self) -> None:
        if self.std not in ("group", "global"):
            raise ValueError(f"`std` must be 'group' or 'global'. Got {self.std!r}.")
        if self.clip <= 0:
            raise ValueError(f"`clip` must be > 0. Got {self.clip}.")


def group_advantages(rewards: torch.Tensor, config: AdvantageConfig) -> torch.Tensor:
    """(G, K) rewards of G groups of K candidates -> (G, K) clipped advantages."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (groups, K >= 2), got {tuple(rewards.shape)}.")
    centred = rewards - rewards.mean(1, keepdim=True)
    std = rewards.std(1, keepdim=True) if config.std == "group" else rewards.std().expand(rewards.shape[0], 1)
    return (centred / (std + config.eps)).clamp(-config.clip, config.clip)


def optimality_probability(advantages: torch.Tensor, clip: float) -> torch.Tensor:
    """R = clip(0.5 + A / (2 clip), 0, 1)."""
    return (0.5 + advantages / (2 * clip)).clamp(0, 1)


def combine_terms(terms: dict[str, torch.Tensor], weights: dict[str, float], config: AdvantageConfig) -> torch.Tensor:
    """(G, K) reward from per-term (G, K) values with signed weights; z-scored per group first if asked."""
    total = torch.zeros_like(next(iter(terms.values())))
    for name, weight in weights.items():
        values = terms[name]
        if config.normalize_terms:
            values = (values - values.mean(1, keepdim=True)) / (values.std(1, keepdim=True) + config.eps)
        total = total + weight * values
    return total


def within_group_spread(rewards: torch.Tensor) -> float:
    """Mean over groups of std / |mean| of the rewards: how much the candidates differ (warn when tiny)."""
    return float((rewards.std(1) / rewards.mean(1).abs().clamp(min=1e-8)).mean())
