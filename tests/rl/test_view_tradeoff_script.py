"""scripts/probe_view_tradeoff.py splits each candidate's reward into its camera groups' rewards.

The docs read the split as "how much each camera group moves the ranking", which is only true if the
groups' rewards, weighted by their share of the view weights, add up to the reward the advantage uses,
and if a group's reward is what the reward would be on that group's views alone.
"""

from __future__ import annotations

import pytest
import torch

from helpers.scripts import load_script
from persistworld.metrics.reward import Reward, RewardConfig, reward_preset


@pytest.fixture(scope="module")
def script():
    return load_script("probe_view_tradeoff")


def frames(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K=3, C=2, F=2, V=3, 3, 48, 80) prediction and target in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(1, 2, 2, 3, 3, 48, 80, generator=generator).expand(3, -1, -1, -1, -1, -1, -1)
    noise = 0.1 * torch.randn(3, 2, 2, 3, 3, 48, 80, generator=generator)
    return (target + noise).clamp(0, 1), target.contiguous()


@pytest.mark.parametrize("view_weights", [(1.0, 1.0, 1.0), (0.5, 0.5, 1.0), (1.0, 3.0, 2.0)])
def test_camera_group_rewards_add_up_to_the_total(script, view_weights):
    reward = Reward(RewardConfig(terms=reward_preset("demo").terms, view_weights=view_weights))
    prediction, target = frames(0)
    result = reward(prediction, target)
    by_camera = script.camera_group_rewards(reward, result.per_frame)
    shares = script.group_weights(reward)
    assert shares["external"] + shares["wrist"] == pytest.approx(1.0)
    combined = shares["external"] * by_camera["external"] + shares["wrist"] * by_camera["wrist"]
    torch.testing.assert_close(combined, result.total, rtol=1e-5, atol=1e-6)


def test_a_camera_groups_reward_is_the_reward_of_its_views_alone(script):
    config = RewardConfig(terms=reward_preset("demo").terms, view_weights=(1.0, 3.0, 2.0))
    prediction, target = frames(1)
    by_camera = script.camera_group_rewards(Reward(config), Reward(config)(prediction, target).per_frame)
    external_only = Reward(RewardConfig(terms=config.terms, view_weights=(1.0, 3.0)))
    wrist_only = Reward(RewardConfig(terms=config.terms, view_weights=(1.0,)))
    external_views = (prediction[..., :2, :, :, :], target[..., :2, :, :, :])
    wrist_view = (prediction[..., 2:, :, :, :], target[..., 2:, :, :, :])
    torch.testing.assert_close(by_camera["external"], external_only(*external_views).total)
    torch.testing.assert_close(by_camera["wrist"], wrist_only(*wrist_view).total)
