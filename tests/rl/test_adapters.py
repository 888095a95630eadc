"""LoRA policies: gradients reach only the trained adapter and action encoder; the old adapter's soft update."""

from __future__ import annotations

import pytest
import torch

from helpers.gaussian_model import random_condition
from persistworld.models.compact import CompactConfig, CompactWorldModel, ModelLayout, tiny
from persistworld.rl.adapters import OLD, REFERENCE, LoraSettings, PolicyAdapters
from persistworld.rl.objective import ObjectiveConfig, contrastive_x0_loss

LAYOUT = ModelLayout(resolution=(8, 12), num_history=2, num_future=2)


def make_adapted(seed: int = 0) -> tuple[CompactWorldModel, PolicyAdapters]:
    torch.manual_seed(seed)
    model = CompactWorldModel(CompactConfig(**{**vars(tiny()), "attention_levels": (1,)}), LAYOUT)
    for parameter in model.parameters():  # non-zero weights everywhere, so that every path matters
        torch.nn.init.normal_(parameter, std=0.1)
    return model, PolicyAdapters(model, LoraSettings(rank=2))


def denoise(model, seed: int = 1) -> torch.Tensor:
    cond = random_condition(batch=2, seed=seed)
    x = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(seed))
    return model.denoise(x, torch.full((2,), 0.5), cond)


def test_fresh_adapters_leave_the_model_unchanged_and_all_three_policies_agree():
    torch.manual_seed(0)
    base = CompactWorldModel(CompactConfig(**{**vars(tiny()), "attention_levels": (1,)}), LAYOUT)
    for parameter in base.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    expected = denoise(base).detach()
    model, adapters = make_adapted()
    assert torch.allclose(denoise(model), expected, atol=1e-6)
    for policy in (OLD, REFERENCE):
        with adapters.use(policy), torch.no_grad():
            assert torch.allclose(denoise(model), expected, atol=1e-6)


def test_gradients_reach_only_the_trained_adapter_and_the_action_encoder():
    model, adapters = make_adapted()
    trainable = {id(p) for p in adapters.trainable_parameters()}
    for p in adapters.trainable_parameters():  # move off the zero init so that every adapter weight gets gradient
        torch.nn.init.normal_(p, std=0.05)
    with adapters.use(OLD), torch.no_grad():
        d_old = denoise(model)
    d_theta = denoise(model)
    loss, _ = contrastive_x0_loss(d_theta, d_old, d_old + 0.1, torch.tensor([0.8, 0.2]), ObjectiveConfig())
    loss.backward()
    named = dict(model.named_parameters())
    old_encoder = list(adapters.encoders[OLD].parameters())
    for name, parameter in named.items():
        if id(parameter) in trainable:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        else:
            assert parameter.grad is None, name
    assert any(".lora_B.default." in n for n in named) and all(p.grad is None for p in old_encoder)
    assert not any(".old." in n for n, p in named.items() if p.requires_grad)


def test_old_adapter_follows_the_soft_update_schedule():
    settings = LoraSettings(rank=2)
    assert [settings.eta(s) for s in (0, 1, 100, 500, 5000)] == pytest.approx([0.0, 0.001, 0.1, 0.5, 0.5])
    model, adapters = make_adapted()
    pairs = list(adapters._adapter_pairs())
    with torch.no_grad():
        for trained, _ in pairs:
            trained.add_(1.0)
    before = [(t.clone(), o.clone()) for t, o in pairs]
    eta = adapters.soft_update_old(step=100)
    assert eta == pytest.approx(0.1)
    for (trained, old), (t0, o0) in zip(pairs, before, strict=True):
        assert torch.allclose(old, 0.1 * o0 + 0.9 * t0) and torch.equal(trained, t0)
    assert adapters.old_divergence() > 0
    with torch.no_grad():  # the old policy now differs from the reference, and acts differently
        with adapters.use(OLD):
            old_output = denoise(model)
        with adapters.use(REFERENCE):
            reference_output = denoise(model)
    assert not torch.allclose(old_output, reference_output)


def test_merged_weights_reproduce_the_trained_policy_without_peft():
    model, adapters = make_adapted()
    with torch.no_grad():
        for p in adapters.trainable_parameters():
            p.add_(0.05 * torch.randn_like(p))
        expected = denoise(model)
    plain = CompactWorldModel(model.config, LAYOUT)
    plain.load_state_dict(adapters.merged_state_dict())
    with torch.no_grad():
        assert torch.allclose(denoise(plain), expected, atol=1e-5)
