"""From rewards of K candidates per group to optimality probabilities r in [0, 1].

DiffusionNFT's recipe (method_spec.md section 2.1): A = (R - mean of the group) / (std + 1e-4), with
the std of the group or of all samples (``global``), clipped to +-clip, then r = clip(0.5 + A / (2 clip),
0, 1) = 0.5 + A / 10 for clip 5. Equal rewards give A = 0 and r = 0.5: no push either way.

With several reward terms the raw weighted sum lets the term with the largest spread decide alone
(the toy run's SSIM + PSNR/32 was gamed through SSIM). `normalize_terms` z-scores each term within its
group before the weighted combination, so each term moves r by its weight.

Which reward a trained clip gets (method_spec.md section 3.3, steps 5 and 7, "r^k (or r^{k,j})"):
the candidate's reward r^k for every clip (the spec's default), each clip's own reward r^{k,j}, or
the reward to go (clip j and the clips after it), which credits a clip with what it led to and
equals r^k for the first clip. Per-clip scores are normalised over the K candidates' j-th clips.

Which pixels a reward weights (``view_credit``): the candidate's reward weights all its views (the
spec's), or each camera group's reward weights that group's pixels (``camera_group``). The second exists
because on DROID the external and wrist rewards of a group's candidates are nearly uncorrelated
(`scripts/probe_view_tradeoff.py`), so with one reward the wrist's pixels are pulled toward candidates
chosen for their external views, a direction that carries no wrist signal (`docs/results.md`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CLIP_CREDITS = ("candidate", "clip", "to_go")
VIEW_CREDITS = ("all", "camera_group")


@dataclass
class AdvantageConfig:
    """How rewards become advantages and r."""

    clip: float = 5.0
    std: str = "group"  # "group" (std within each group of K) or "global" (std over all groups)
    eps: float = 1e-4
    normalize_terms: bool = False  # z-score each reward term within its group before weighting
    # The reward each trained clip is weighted with: "candidate" (r^k, the mean over the candidate's L
    # clips, for all its clips; the spec's default), "clip" (clip j's own r^{k,j}) or "to_go" (the
    # mean over clip j and the clips after it). Only "candidate" and "to_go" agree on the first clip.
    clip_credit: str = "candidate"
    # Which reward weights each view's pixels: "all" (the candidate's reward, for every view; the spec's)
    # or "camera_group" (each camera group's own reward, from its views alone, for its views' pixels).
    view_credit: str = "all"

    def __post_init__(self) -> None:
        if self.view_credit not in VIEW_CREDITS:
            raise ValueError(f"`view_credit` must be one of {VIEW_CREDITS}. Got {self.view_credit!r}.")
        if self.clip_credit not in CLIP_CREDITS:
            raise ValueError(f"`clip_credit` must be one of {CLIP_CREDITS}. Got {self.clip_credit!r}.")
        if self.std not in ("group", "global"):
            raise ValueError(f"`std` must be 'group' or 'global'. Got {self.std!r}.")
        if self.clip <= 0:
            raise ValueError(f"`clip` must be > 0. Got {self.clip}.")


def group_advantages(rewards: torch.Tensor, config: AdvantageConfig) -> torch.Tensor:
    """(G, K[, C[, camera groups]]) rewards of G groups of K candidates -> clipped advantages, same shape.

    Each group (and clip and camera column) is centred over its K candidates. NaN marks clips that a
    group does not have (a shorter continuation); they stay NaN and are left out of the global std.
    """
    if rewards.dim() not in (2, 3, 4) or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (groups, K >= 2[, clips[, camera groups]]), got {tuple(rewards.shape)}.")
    centred = rewards - rewards.mean(1, keepdim=True)
    if config.std == "group":
        std = rewards.std(1, keepdim=True)
    else:
        std = rewards[rewards.isfinite()].std()
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


def credit_to_clips(per_clip: torch.Tensor, credit: str) -> torch.Tensor:
    """(..., L) rewards of each clip -> (..., L) the reward each clip is trained with (`clip_credit`)."""
    if credit == "candidate":
        return per_clip.mean(-1, keepdim=True).expand_as(per_clip)
    if credit == "clip":
        return per_clip
    if credit == "to_go":
        remaining = torch.arange(per_clip.shape[-1], 0, -1, dtype=per_clip.dtype, device=per_clip.device)
        return per_clip.flip(-1).cumsum(-1).flip(-1) / remaining
    raise ValueError(f"`clip_credit` must be one of {CLIP_CREDITS}. Got {credit!r}.")


def within_group_spread(rewards: torch.Tensor) -> float:
    """Mean over groups of std / |mean| of the rewards: how much the candidates differ (warn when tiny)."""
    return float((rewards.std(1) / rewards.mean(1).abs().clamp(min=1e-8)).mean())
