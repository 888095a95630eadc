"""The x0-space contrastive objective of PersistWorld (DiffusionNFT adapted to clean-frame predictors).

For a candidate x0 drawn from the old policy with optimality probability r in [0, 1], and a noisy
x_sigma = x0 + sigma * eps, the implicit positive and negative predictors are

    D+ = (1 - beta) D_old + beta D_theta        D- = (1 + beta) D_old - beta D_theta

and the loss pulls D+ to x0 with weight r and D- to x0 with weight 1 - r:

    L = mean_batch[ adv_clip * (r * e(D+) + (1 - r) * e(D-)) / beta ] + kl_weight * mean (D_theta - D_ref)^2

with e(D) = mean over the sample's elements of (D - x0)^2. Its minimiser is D_old + (2 / beta) Delta,
Delta = alpha (D_posterior+ - D_old), alpha = E[r | x_sigma] (Lemma 1 / Theorem 1 of the paper, checked
numerically in tests/rl/test_theorem.py). DiffusionNFT's code divides each e by the detached mean
absolute error of the same sample ("adaptive weighting", `self_normalize`): a heuristic that depends
on x0 and so lies outside the theorem, and that makes a small KL weight negligible. No gradient flows
through D_old or D_ref: they are computed without gradients by the caller.

r may also vary over a sample's elements (``view_credit = "camera_group"``: each camera's pixels
weighted by that camera's own r). The loss is then the mean over elements of
r (D+ - x0)^2 + (1 - r) (D- - x0)^2: the formula above when r is constant over the sample, and the
same minimiser element by element, with alpha the expected r of that element's camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ObjectiveConfig:
    """Switches of the contrastive objective (defaults: the spec's, method_spec.md section 9)."""

    beta: float = 1.0  # strength of the implicit policies (DiffusionNFT's `config.beta`)
    self_normalize: bool = True  # divide each error by its detached mean |error| (DiffusionNFT's code)
    adv_clip: float = 5.0  # the advantage clip; scales the policy loss as in DiffusionNFT's code
    kl_weight: float = 0.0  # weight of mean (D_theta - D_ref)^2 (the spec suggests 1e-4, optional)

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"`beta` must be > 0. Got {self.beta}.")


def _squared_errors(prediction: torch.Tensor, x0: torch.Tensor, self_normalize: bool) -> torch.Tensor:
    """(B, ...) elementwise (prediction - x0)^2, each sample divided by its detached mean |error| if asked."""
    difference = prediction - x0
    error = difference.pow(2)
    if self_normalize:
        scale = difference.detach().abs().flatten(1).mean(1).clamp(min=1e-5)
        error = error / scale.view(-1, *[1] * (error.dim() - 1))
    return error


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) mean over each sample's elements."""
    return values.flatten(1).mean(1)


def contrastive_x0_loss(
    d_theta: torch.Tensor,
    d_old: torch.Tensor,
    x0: torch.Tensor,
    r: torch.Tensor,
    config: ObjectiveConfig,
    d_ref: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a batch of candidates.

    Args:
        d_theta: (B, ...) x0-prediction of the trained model at (x_sigma, sigma, condition).
        d_old: (B, ...) the same from the old (sampling) policy, without gradients.
        x0: (B, ...) the candidates, as the old policy sampled them.
        r: (B,) optimality probabilities in [0, 1] (see `persistworld.rl.advantages`), or (B, ...) ones
            that broadcast to x0's shape, to weight parts of a sample (its views) by their own r.
        config: beta, normalisation, scale, KL weight.
        d_ref: (B, ...) x0-prediction of the frozen reference model (needed when ``kl_weight > 0``).

    Returns:
        The scalar loss and its parts (policy, positive and negative errors, KL) for logging.
    """
    if d_theta.shape != d_old.shape or d_theta.shape != x0.shape:
        raise ValueError(
            f"shapes differ: D_theta {tuple(d_theta.shape)}, D_old {tuple(d_old.shape)}, x0 {tuple(x0.shape)}"
        )
    if r.dim() == 1:
        r = r.view(-1, *[1] * (x0.dim() - 1))
    broadcasts = r.dim() == x0.dim() and all(a in (1, b) for a, b in zip(r.shape[1:], x0.shape[1:], strict=True))
    if not broadcasts or r.shape[0] != x0.shape[0]:
        raise ValueError(
            f"r must have shape ({x0.shape[0]},) or broadcast to x0's {tuple(x0.shape)}, got {tuple(r.shape)}."
        )
    d_old, x0, r = d_old.detach(), x0.detach(), r.detach().to(d_theta.dtype)
    beta = config.beta
    positive = (1 - beta) * d_old + beta * d_theta
    negative = (1 + beta) * d_old - beta * d_theta
    error_positive = _squared_errors(positive, x0, config.self_normalize)
    error_negative = _squared_errors(negative, x0, config.self_normalize)
    weighted = _per_sample(r * error_positive + (1 - r) * error_negative)
    policy = (config.adv_clip * weighted / beta).mean()
    loss = policy
    parts = {
        "loss_policy": float(policy.detach()),
        "error_positive": float(_per_sample(error_positive.detach()).mean()),
        "error_negative": float(_per_sample(error_negative.detach()).mean()),
    }
    if config.kl_weight > 0:
        if d_ref is None:
            raise ValueError("kl_weight > 0 needs the reference model's prediction `d_ref`.")
        kl = (d_theta - d_ref.detach()).pow(2).mean()
        loss = loss + config.kl_weight * kl
        parts["kl"] = float(kl.detach())
    parts["loss"] = float(loss.detach())
    return loss, parts
