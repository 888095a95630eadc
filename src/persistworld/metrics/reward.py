"""The multi-view perceptual reward of PersistWorld: R = w_ssim SSIM - w_lpips LPIPS + w_psnr PSNR.

Each term is a metric of `persistworld.metrics.suite` with a non-negative weight; the metric's own
direction gives the sign (LPIPS is a distance, so it is subtracted), so a weight can never flip a
term by mistake. Scores are per view and per frame against the ground truth at the same step, then
aggregated at the clip level as the paper does: a weighted mean over the views (equal weights by
default) and a mean over the new frames of a clip, then a mean over the clips of a continuation.

The per-term clip scores are returned too, because the RL post-training may normalise each term
within a group before combining them (a guard against one term dominating the raw sum, see
``../shared/reference/feasibility_toy_rl.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from persistworld.errors import ConfigError
from persistworld.metrics.frames import FrameError
from persistworld.metrics.lpips import LPIPS
from persistworld.metrics.suite import LPIPS_PRECISIONS, MetricSuite, metric_info


@dataclass
class RewardConfig:
    """Reward terms and aggregation. Defaults are the paper's (needs LPIPS backbone weights)."""

    # metric -> weight >= 0. A weight of 0 drops the term (it is not even computed), which is how a YAML
    # override removes a term of a preset (mappings merge).
    terms: dict[str, float] = field(default_factory=lambda: {"ssim": 1.0, "lpips_alex": 1.0, "psnr": 1 / 32})
    view_weights: tuple[float, ...] = (1.0, 1.0, 1.0)  # external 1, external 2, wrist; normalised to sum 1
    # LPIPS's backbone in float32 (exact) or bfloat16 (faster where bf16 is: GPUs, AVX512-BF16 CPUs)
    lpips_precision: str = "float32"

    def validate(self) -> None:
        """Clear errors for unknown metrics, negative weights and a zero view weighting."""
        if not self.terms:
            raise ConfigError("reward.terms is empty: give at least one metric and its weight.")
        for name, weight in self.terms.items():
            metric_info(name)
            if weight < 0:
                raise ConfigError(
                    f"reward.terms.{name} = {weight}: weights are magnitudes (>= 0); the metric's direction "
                    "sets the sign (distances such as LPIPS are subtracted)."
                )
        if not any(weight > 0 for weight in self.terms.values()):
            raise ConfigError(f"reward.terms {self.terms}: every weight is 0; give at least one a positive weight.")
        if self.lpips_precision not in LPIPS_PRECISIONS:
            raise ConfigError(
                f"reward.lpips_precision `{self.lpips_precision}`: use one of {sorted(LPIPS_PRECISIONS)}."
            )
        if any(w < 0 for w in self.view_weights) or sum(self.view_weights) <= 0:
            raise ConfigError(f"reward.view_weights must be >= 0 with a positive sum, got {self.view_weights}.")


#: Named reward presets: `paper` is the paper's; `demo` needs no downloaded weights (HaarPSI stands in
#: for LPIPS as the perceptual term), so it runs on any machine.
REWARD_PRESETS: dict[str, RewardConfig] = {
    "paper": RewardConfig(),
    "demo": RewardConfig(terms={"ssim": 1.0, "haarpsi": 1.0, "psnr": 1 / 32}),
    "ssim_psnr": RewardConfig(terms={"ssim": 1.0, "psnr": 1 / 32}),
}


def reward_preset(name: str) -> RewardConfig:
    """A copy of a named reward preset."""
    if name not in REWARD_PRESETS:
        raise ConfigError(f"unknown reward preset `{name}`. Available: {sorted(REWARD_PRESETS)}.")
    preset = REWARD_PRESETS[name]
    return replace(preset, terms=dict(preset.terms))


@dataclass
class RewardResult:
    """Rewards of a batch of continuations.

    Attributes:
        total: (...) the reward of each continuation (mean over its clips).
        per_clip: (..., C) the reward of each clip.
        terms: Per term, (..., C) the clip-level metric value (unweighted, views and frames aggregated).
        per_frame: Per term, (..., C, F, V) the raw metric of each frame and view.
    """

    total: torch.Tensor
    per_clip: torch.Tensor
    terms: dict[str, torch.Tensor]
    per_frame: dict[str, torch.Tensor]


def signed_weights(terms: Mapping[str, float]) -> dict[str, float]:
    """Each term's weight with its metric's direction: negative for distances (LPIPS, GMSD).

    So that a weighted sum of the terms is higher when better: the reward, and model selection's score.
    """
    return {name: weight if metric_info(name).higher_is_better else -weight for name, weight in terms.items()}


class Reward:
    """Scores continuations against the ground truth.

    Args:
        config: Terms and view weights.
        device: Where the metrics run (the model's device).
        lpips_weights: LPIPS backbone checkpoint (see `MetricSuite`).
        lpips_random_backbone: Random LPIPS backbone (tests and benchmarks only).
        lpips_models: Already-built LPIPS modules by metric name (see `MetricSuite`).
    """

    def __init__(
        self,
        config: RewardConfig,
        device: torch.device | str = "cpu",
        lpips_weights: str | Path | None = None,
        lpips_random_backbone: bool = False,
        lpips_models: Mapping[str, LPIPS] | None = None,
    ):
        config.validate()
        self.config = config
        self.weights = {name: weight for name, weight in config.terms.items() if weight > 0}
        self.signed_weights = signed_weights(self.weights)  # the weight each term enters R with
        self.suite = MetricSuite(
            list(self.weights),
            device,
            lpips_weights=lpips_weights,
            lpips_random_backbone=lpips_random_backbone,
            lpips_models=lpips_models,
            lpips_precision=config.lpips_precision,
        )

    def describe(self) -> dict[str, object]:
        """The formula, weights and metric implementations, for result files."""
        formula = " ".join(f"{'+' if w > 0 else '-'} {abs(w):g}*{n}" for n, w in self.signed_weights.items())
        formula = formula.removeprefix("+ ")
        return {"formula": formula, "view_weights": list(self.config.view_weights), "metrics": self.suite.describe()}

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> RewardResult:
        """Reward of continuations (..., C, F, V, 3, H, W): C clips of F new frames and V views each."""
        if prediction.dim() < 6:
            raise FrameError(
                f"reward expects (..., clips, frames, views, 3, H, W), got {tuple(prediction.shape)}; "
                "add a clip axis of size 1 for single clips."
            )
        views = prediction.shape[-4]
        if views != len(self.config.view_weights):
            raise FrameError(
                f"the frames have {views} views but reward.view_weights has {len(self.config.view_weights)} "
                f"entries {self.config.view_weights}: a view is missing, or the weights do not match the cameras."
            )
        return self.aggregate(self.suite(prediction, target), self.config.view_weights)

    def of_views(self, per_frame: dict[str, torch.Tensor], views: Sequence[int]) -> RewardResult:
        """The reward of some of the views alone (one camera group), which keep their `view_weights`."""
        weights = [self.config.view_weights[v] for v in views]
        return self.aggregate({name: values[..., list(views)] for name, values in per_frame.items()}, weights)

    def aggregate(self, per_frame: dict[str, torch.Tensor], view_weights: Sequence[float]) -> RewardResult:
        """The reward from per-frame metrics {term: (..., C, F, V)}: the paper's clip-level aggregation.

        A weighted mean over the V views (`view_weights`, normalised), a mean over the F frames, the
        signed weighted sum of the terms per clip, then a mean over the C clips. Public so that the
        reward of some of the views (one camera group) is computed by the same rule as the whole.
        """
        weights = torch.tensor(view_weights, dtype=torch.float32)
        weights = weights / weights.sum()
        terms = {name: (values.mean(-2) * weights).sum(-1) for name, values in per_frame.items()}  # (..., C)
        per_clip = sum(w * terms[n] for n, w in self.signed_weights.items())
        return RewardResult(total=per_clip.mean(-1), per_clip=per_clip, terms=terms, per_frame=per_frame)
