"""The three policies of post-training on one network: trained, old (sampling) and frozen reference.

PersistWorld trains LoRA adapters and the action encoder only. The old policy that samples the
candidates and gives D_old is a second peft LoRA adapter plus its own copy of the action encoder,
soft-updated towards the trained one after every optimizer step: theta_old <- eta theta_old +
(1 - eta) theta with eta = min(rate * step, cap) (DiffusionNFT's ``decay_type=1``: rate 0.001, cap 0.5).
The reference policy (for the optional KL term) is the base network: adapters off, the base action
encoder. One network serves all three, switched with `PolicyAdapters.use`, so nothing is copied but
the small action encoder.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

TRAINED, OLD, REFERENCE = "default", "old", "reference"


@dataclass
class LoraSettings:
    """LoRA adapters and the old policy's soft update."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    old_update_rate: float = 0.001  # eta = min(rate * optimizer step, cap)
    old_update_cap: float = 0.5
    init_seed: int = 0  # LoRA A matrices are random: seeded, so that runs repeat exactly

    def eta(self, step: int) -> float:
        """Weight of the old adapter's own value in the soft update after `step` optimizer steps."""
        return min(self.old_update_rate * step, self.old_update_cap)


class PolicyAdapters:
    """LoRA `default` (trained) and `old` adapters on a world model whose other weights are frozen.

    Args:
        model: A world model with ``lora_targets()`` and an action encoder at ``network.action_encoder``.
        settings: Rank, alpha, dropout and the soft-update schedule.
    """

    def __init__(self, model: nn.Module, settings: LoraSettings):
        from peft import LoraConfig, inject_adapter_in_model
        from peft.tuners.tuners_utils import BaseTunerLayer

        self.model, self.settings = model, settings
        model.requires_grad_(False)
        config = LoraConfig(
            r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
            target_modules=model.lora_targets(), init_lora_weights=True,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(settings.init_seed)  # peft draws the A matrices from the global generator
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")  # the 2nd adapter, on purpose
            for name in (TRAINED, OLD):
                inject_adapter_in_model(config, model, adapter_name=name)
        self.layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
        if not self.layers:
            raise ValueError(f"no LoRA target of {model.lora_targets()} found in the model.")
        encoder = model.network.action_encoder
        self.encoders = {TRAINED: encoder, OLD: copy.deepcopy(encoder), REFERENCE: copy.deepcopy(encoder)}
        self.encoders[OLD].requires_grad_(False)
        self.encoders[REFERENCE].requires_grad_(False)
        with torch.no_grad():  # the old adapter starts equal to the trained one
            for trained, old in self._adapter_pairs():
                old.copy_(trained)
        self._activate(TRAINED)

    def _adapter_pairs(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for layer in self.layers:
            for attribute in ("lora_A", "lora_B"):
                modules = getattr(layer, attribute)
                yield modules[TRAINED].weight, modules[OLD].weight

    def _activate(self, name: str) -> None:
        for layer in self.layers:
            if name == REFERENCE:
                layer.enable_adapters(False)
            else:
                layer.enable_adapters(True)
                layer.set_adapter(name)
        self.model.network.action_encoder = self.encoders[name]
        for trained, old in self._adapter_pairs():  # only the trained adapter ever learns
            trained.requires_grad_(True)
            old.requires_grad_(False)
        self.encoders[TRAINED].requires_grad_(True)

    @contextmanager
    def use(self, name: str) -> Iterator[nn.Module]:
        """Run the model as the `old` policy or the `reference` (base) model inside the block."""
        if name not in (TRAINED, OLD, REFERENCE):
            raise ValueError(f"policy must be one of {(TRAINED, OLD, REFERENCE)}, got {name!r}.")
        self._activate(name)
        try:
            yield self.model
        finally:
            self._activate(TRAINED)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The trained LoRA adapter and the action encoder: all that the optimizer sees."""
        return [trained for trained, _ in self._adapter_pairs()] + list(self.encoders[TRAINED].parameters())

    @torch.no_grad()
    def soft_update_old(self, step: int) -> float:
        """theta_old <- eta theta_old + (1 - eta) theta after `step` optimizer steps; returns eta."""
        eta = self.settings.eta(step)
        for trained, old in self._adapter_pairs():
            old.mul_(eta).add_(trained, alpha=1 - eta)
        for trained, old in zip(self.encoders[TRAINED].parameters(), self.encoders[OLD].parameters(), strict=True):
            old.mul_(eta).add_(trained, alpha=1 - eta)
        return eta

    def state_dict(self) -> dict[str, object]:
        """Both adapters and the trained and old action encoders (for exact resume and rollback)."""
        pairs = list(self._adapter_pairs())
        return {
            "trained": [t.detach().clone() for t, _ in pairs],
            "old": [o.detach().clone() for _, o in pairs],
            "encoder": {k: v.clone() for k, v in self.encoders[TRAINED].state_dict().items()},
            "old_encoder": {k: v.clone() for k, v in self.encoders[OLD].state_dict().items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what `state_dict` returned."""
        pairs = list(self._adapter_pairs())
        if len(state["trained"]) != len(pairs):
            raise ValueError(f"adapter state has {len(state['trained'])} tensors, the model {len(pairs)}.")
        for (trained, old), t, o in zip(pairs, state["trained"], state["old"], strict=True):
            trained.copy_(t)
            old.copy_(o)
        self.encoders[TRAINED].load_state_dict(state["encoder"])
        self.encoders[OLD].load_state_dict(state["old_encoder"])

    @torch.no_grad()
    def old_divergence(self) -> float:
        """Root-mean-square difference between the trained and old adapters (how far sampling lags)."""
        total, count = 0.0, 0
        for trained, old in self._adapter_pairs():
            total += float((trained - old).pow(2).sum())
            count += trained.numel()
        return (total / max(count, 1)) ** 0.5

    @torch.no_grad()
    def merged_state_dict(self, name: str = TRAINED) -> dict[str, torch.Tensor]:
        """The base network's state dict with adapter `name` merged in: loadable without peft."""
        merged = {}
        prefixes = {}
        for module_name, module in self.model.named_modules():
            if module in self.layers:
                prefixes[module_name] = module
        for key, value in self.model.state_dict().items():
            if "lora_" in key:
                continue
            merged[key.replace(".base_layer.", ".")] = value.clone()
        for module_name, layer in prefixes.items():
            merged[f"{module_name}.weight"] = layer.get_base_layer().weight + layer.get_delta_weight(name)
        for key, value in self.encoders[name].state_dict().items():
            merged[f"network.action_encoder.{key}"] = value.clone()
        return merged
