"""An analytic world model for sampler and rollout tests (like diffusers' dummy models).

Every element of the target is N(mean, std^2) independently, for which the optimal denoiser is known
in closed form: D(x; sigma) = mean + std^2 / (std^2 + sigma^2) (x - mean). The mean depends on the
actions and the current frame, so tests can see conditioning and feedback.
"""

from __future__ import annotations

import torch

from persistworld.models.protocol import Condition


class GaussianWorldModel:
    """Implements the `WorldModel` protocol with an exact denoiser; target = next-frame residuals."""

    def __init__(self, num_future: int = 2, std: float = 0.1, action_gain: float = 0.3):
        self.num_future, self.std, self.action_gain = num_future, std, action_gain
        self.training = False

    @property
    def sigma_data(self) -> float:
        return self.std

    def mean(self, cond: Condition) -> torch.Tensor:
        # residual mean: a brightness shift driven by the first action dimension (0 when actions are dropped)
        shift = self.action_gain * cond.actions[:, 1:, 0] * cond.action_mask[:, None]
        return shift[:, :, None, None, None, None].expand(self.target_shape(cond))

    def denoise(self, x_sigma: torch.Tensor, sigma: torch.Tensor, cond: Condition) -> torch.Tensor:
        mean = self.mean(cond)
        factor = (self.std**2 / (self.std**2 + sigma**2)).reshape(-1, *([1] * (x_sigma.ndim - 1)))
        return mean + factor * (x_sigma - mean)

    def encode(self, frames: torch.Tensor, cond: Condition) -> torch.Tensor:
        return frames - cond.current[:, None]

    def decode(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        return (x0 + cond.current[:, None]).clamp(-1, 1)

    def target_shape(self, cond: Condition) -> tuple[int, ...]:
        return (len(cond), self.num_future, *cond.current.shape[1:])

    def target_views(self, cond: Condition) -> torch.Tensor:
        return torch.arange(cond.current.shape[1]).view(1, 1, -1, 1, 1, 1)

    def lora_targets(self) -> list[str]:
        return []


def random_condition(batch: int = 2, history: int = 2, future: int = 2, size=(8, 12), seed: int = 0) -> Condition:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    return Condition(
        history=torch.rand(batch, history, 3, 3, h, w, generator=g) * 2 - 1,
        current=torch.rand(batch, 3, 3, h, w, generator=g) * 2 - 1,
        history_actions=torch.rand(batch, history, 7, generator=g) * 2 - 1,
        actions=torch.rand(batch, future + 1, 7, generator=g) * 2 - 1,
        action_mask=torch.ones(batch),
    )
