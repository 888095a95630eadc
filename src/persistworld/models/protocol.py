"""The interface every world-model backend implements, and the condition it is called with.

The sampler, the rollout engine, the RL trainer and the evaluation only talk to this protocol, so the
compact CPU model and the Ctrl-World backend are interchangeable. All frames are (…, V, 3, H, W)
in [-1, 1] with V = 3 views (external 1, external 2, wrist); actions are normalised 7-D rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Protocol, runtime_checkable

import torch

from persistworld.data.clips import ClipBatch


@dataclass
class Condition:
    """Everything a world model conditions one clip on, batched.

    ``action_mask`` is 1 where the actions are given and 0 where they are dropped: classifier-free
    guidance calls the model once with the mask and once without.
    """

    history: torch.Tensor  # (B, Hn, V, 3, H, W) sparse history frames
    current: torch.Tensor  # (B, V, 3, H, W) the frame the clip starts from
    history_actions: torch.Tensor  # (B, Hn, 7) states of the history frames
    actions: torch.Tensor  # (B, F + 1, 7) states of the current and the F future frames
    action_mask: torch.Tensor  # (B,) 1 = conditioned on the actions, 0 = dropped
    texts: list[str] | None = None

    @classmethod
    def from_batch(cls, batch: ClipBatch) -> Condition:
        """The condition of a batch of ground-truth clips (teacher forcing)."""
        return cls(
            history=batch.history,
            current=batch.current,
            history_actions=batch.history_actions,
            actions=batch.actions,
            action_mask=torch.ones(len(batch), device=batch.current.device, dtype=batch.current.dtype),
            texts=batch.texts,
        )

    def __len__(self) -> int:
        return self.current.shape[0]

    def _map(self, fn) -> Condition:
        tensors = {f.name: fn(getattr(self, f.name)) for f in fields(self) if f.name != "texts"}
        return replace(self, **tensors)

    def repeat_interleave(self, repeats: int) -> Condition:
        """Each condition `repeats` times in a row (K branch candidates per sample)."""
        texts = None if self.texts is None else [t for t in self.texts for _ in range(repeats)]
        return replace(self._map(lambda t: t.repeat_interleave(repeats, dim=0)), texts=texts)

    def select(self, rows: list[int]) -> Condition:
        """The conditions of the given rows, in that order."""
        texts = None if self.texts is None else [self.texts[i] for i in rows]
        return replace(self._map(lambda t: t[rows]), texts=texts)

    @classmethod
    def concat(cls, conds: list[Condition]) -> Condition:
        """The rows of several conditions, one after the other."""
        texts = None if any(c.texts is None for c in conds) else [t for c in conds for t in c.texts]
        tensors = {f.name: torch.cat([getattr(c, f.name) for c in conds]) for f in fields(cls) if f.name != "texts"}
        return cls(**tensors, texts=texts)

    def unconditional(self) -> Condition:
        """The same condition with the actions dropped (the unconditional branch of CFG)."""
        return replace(self, action_mask=torch.zeros_like(self.action_mask))

    def to(self, device: torch.device | str) -> Condition:
        """Move every tensor to `device`."""
        return self._map(lambda t: t.to(device))


@runtime_checkable
class WorldModel(Protocol):
    """An action-conditioned multi-view video diffusion model with EDM x0-prediction."""

    def denoise(self, x_sigma: torch.Tensor, sigma: torch.Tensor, cond: Condition) -> torch.Tensor:
        """The x0-prediction D(x_sigma; sigma, cond) in the model's target space (differentiable)."""
        ...

    def encode(self, frames: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Future frames (B, F, V, 3, H, W) -> the diffusion target x0 (latents, residuals, …)."""
        ...

    def decode(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Diffusion target -> frames (B, F, V, 3, H, W) in [-1, 1]."""
        ...

    def target_shape(self, cond: Condition) -> tuple[int, ...]:
        """Shape of the diffusion target x0 for a condition (the sampler's noise shape)."""
        ...

    def target_views(self, cond: Condition) -> torch.Tensor:
        """The view each element of the target belongs to: integers, broadcastable to `target_shape`.

        The target's layout is the model's own (views on a dim, or stacked on the height); this lets
        the RL loss weight each camera's pixels by that camera's reward without knowing the layout.
        """
        ...

    @property
    def sigma_data(self) -> float:
        """Std of the diffusion target (sets the sampler's scale)."""
        ...

    def lora_targets(self) -> list[str]:
        """Names of the modules LoRA adapters attach to (RL post-training)."""
        ...
