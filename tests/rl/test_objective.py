"""The contrastive x0 objective and the advantages: hand-computed values, gradient flow, r for equal rewards."""

from __future__ import annotations

import math

import pytest
import torch

from persistworld.rl.advantages import (
    AdvantageConfig,
    combine_terms,
    credit_to_clips,
    group_advantages,
    optimality_probability,
    within_group_spread,
)
from persistworld.rl.objective import ObjectiveConfig, contrastive_x0_loss


def test_loss_equals_a_hand_computed_value():
    # two samples of two elements; beta = 0.5, no self-normalisation, adv_clip 5
    d_theta = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    d_old = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x0 = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    r = torch.tensor([1.0, 0.25])
    # sample 0: D+ = 0.5*D_old + 0.5*D_theta = [0.5, 0]; e+ = ((0.5-1)^2 + (0-1)^2)/2 = 0.625
    #           D- = 1.5*D_old - 0.5*D_theta = [-0.5, 0]; e- = ((-1.5)^2 + 1)/2 = 1.625
    # sample 1: D+ = [0.5, 1.5]; e+ = (0.25 + 2.25)/2 = 1.25 ; D- = [1.5, 0.5]; e- = (2.25 + 0.25)/2 = 1.25
    # policy = mean(5 * [1*0.625 + 0*1.625, 0.25*1.25 + 0.75*1.25] / 0.5) = mean([6.25, 12.5]) = 9.375
    loss, parts = contrastive_x0_loss(d_theta, d_old, x0, r, ObjectiveConfig(beta=0.5, self_normalize=False))
    assert float(loss) == pytest.approx(9.375) and parts["loss_policy"] == pytest.approx(9.375)
    # self-normalised: each error divided by its mean |error| (sample 0: |D+ - x0| mean 0.75, |D- - x0| 1.25)
    normalised, _ = contrastive_x0_loss(d_theta, d_old, x0, r, ObjectiveConfig(beta=0.5))
    expected = (5 * (0.625 / 0.75) / 0.5 + 5 * (0.25 * 1.25 / 1.0 + 0.75 * 1.25 / 1.0) / 0.5) / 2
    assert float(normalised) == pytest.approx(expected)
    ref = torch.zeros_like(d_theta)
    kl_config = ObjectiveConfig(beta=0.5, self_normalize=False, kl_weight=0.1)
    with_kl, kl_parts = contrastive_x0_loss(d_theta, d_old, x0, r, kl_config, d_ref=ref)
    assert kl_parts["kl"] == pytest.approx((1 + 4) / 4) and float(with_kl) == pytest.approx(9.375 + 0.1 * 1.25)


def test_r_per_element_weights_each_part_of_a_sample_by_its_own_r():
    d_theta = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # the hand-computed example above
    d_old = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x0 = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    config = ObjectiveConfig(beta=0.5, self_normalize=False)
    # sample 0, element errors: e+ = [0.25, 1], e- = [2.25, 1]; r = [0, 1] -> mean(2.25, 1) = 1.625
    # sample 1 as before (r = 0.25 on both elements): 1.25; policy = mean(5 * [1.625, 1.25] / 0.5) = 14.375
    loss, _ = contrastive_x0_loss(d_theta, d_old, x0, torch.tensor([[0.0, 1.0], [0.25, 0.25]]), config)
    assert float(loss) == pytest.approx(14.375)
    # an r constant over each sample is the (B,) r, in value and gradient, self-normalised too
    d_theta = torch.randn(3, 2, 4, requires_grad=True)
    d_old, x0, r = torch.randn(3, 2, 4), torch.randn(3, 2, 4), torch.rand(3)
    gradients = []
    for weights in (r, r.view(3, 1, 1).expand(3, 2, 1)):
        d_theta.grad = None
        value, _ = contrastive_x0_loss(d_theta, d_old, x0, weights, ObjectiveConfig())
        value.backward()
        gradients.append((float(value.detach()), d_theta.grad.clone()))
    assert gradients[0][0] == pytest.approx(gradients[1][0])
    torch.testing.assert_close(gradients[0][1], gradients[1][1])
    with pytest.raises(ValueError, match="broadcast"):
        contrastive_x0_loss(d_theta, d_old, x0, torch.rand(3, 3, 1), ObjectiveConfig())


def test_gradients_reach_only_the_trained_prediction():
    d_theta = torch.randn(3, 4, requires_grad=True)
    d_old = torch.randn(3, 4, requires_grad=True)  # a caller mistake: the old policy tracked gradients
    x0 = torch.randn(3, 4, requires_grad=True)
    loss, _ = contrastive_x0_loss(d_theta, d_old, x0, torch.rand(3), ObjectiveConfig())
    loss.backward()
    assert d_theta.grad is not None and d_theta.grad.abs().sum() > 0
    assert d_old.grad is None and x0.grad is None


def test_equal_rewards_give_r_one_half_and_advantages_follow_the_recipe():
    equal = torch.full((2, 4), 0.7)
    assert torch.equal(optimality_probability(group_advantages(equal, AdvantageConfig()), 5.0), torch.full((2, 4), 0.5))
    rewards = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 100.0]])
    advantages = group_advantages(rewards, AdvantageConfig())
    first = (rewards[0] - 2.5) / (rewards[0].std() + 1e-4)
    assert torch.allclose(advantages[0], first)
    assert advantages.abs().max() <= 5.0
    r = optimality_probability(advantages, 5.0)
    assert torch.allclose(r, 0.5 + advantages / 10) and (r >= 0).all() and (r <= 1).all()
    global_std = group_advantages(rewards, AdvantageConfig(std="global"))
    assert torch.allclose(global_std[0], (rewards[0] - 2.5) / (rewards.std() + 1e-4))
    assert within_group_spread(torch.tensor([[1.0, 1.0], [2.0, 2.0]])) == 0.0


def test_per_term_normalisation_stops_one_term_from_deciding_alone():
    ssim = torch.tensor([[0.80, 0.81, 0.82, 0.83]])  # large spread (in SSIM units) in one direction
    psnr = torch.tensor([[24.0, 23.0, 22.0, 21.0]])  # the opposite direction, small once divided by 32
    weights = {"ssim": 1.0, "psnr": 1 / 32}
    raw = combine_terms({"ssim": ssim, "psnr": psnr}, weights, AdvantageConfig())
    assert raw[0].argmax() == 0  # raw sum: PSNR/32 still dominates here...
    ssim_only = {"ssim": ssim * 10, "psnr": psnr}
    assert combine_terms(ssim_only, weights, AdvantageConfig())[0].argmax() == 3  # ...or SSIM does, by scale alone
    balanced = combine_terms(ssim_only, {"ssim": 1.0, "psnr": 1.0}, AdvantageConfig(normalize_terms=True))
    assert torch.allclose(balanced, torch.zeros_like(balanced), atol=1e-3)  # equal weights, opposite ranks: a wash


def test_group_rewards_use_the_total_or_per_term_z_scores():
    from types import SimpleNamespace

    from persistworld.metrics.reward import Reward, RewardConfig
    from persistworld.rl.posttrain import group_rewards

    reward = Reward(RewardConfig(terms={"ssim": 1.0, "lpips_alex": 1.0}), lpips_random_backbone=True)
    terms = {
        "ssim": torch.tensor([[0.9, 0.9], [0.5, 0.5], [0.7, 0.7]]),
        "lpips_alex": torch.tensor([[0.1] * 2, [0.3] * 2, [0.2] * 2]),
    }
    group = SimpleNamespace(reward=SimpleNamespace(total=torch.tensor([0.8, 0.2, 0.5]), terms=terms))
    assert torch.equal(group_rewards([group], reward, AdvantageConfig(), 2), torch.tensor([[[0.8], [0.2], [0.5]]]))
    normalised = group_rewards([group], reward, AdvantageConfig(normalize_terms=True), 2)[0, :, 0]
    ssim_z = torch.tensor([1.0, -1.0, 0.0])  # (x - mean) / std over the 3 candidates
    assert torch.allclose(normalised, ssim_z + ssim_z, atol=3e-3)  # LPIPS is a distance: its sign flips


def test_per_clip_credit_gives_each_clip_its_own_or_its_reward_to_go():
    from types import SimpleNamespace

    from persistworld.metrics.reward import Reward, RewardConfig
    from persistworld.rl.posttrain import group_rewards

    per_clip = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # (K = 2, L = 3)
    assert torch.equal(credit_to_clips(per_clip, "clip"), per_clip)
    assert torch.allclose(credit_to_clips(per_clip, "to_go"), torch.tensor([[2.0, 2.5, 3.0], [2.0, 1.5, 1.0]]))
    assert torch.allclose(credit_to_clips(per_clip, "candidate"), torch.full((2, 3), 2.0))
    reward = Reward(RewardConfig(terms={"ssim": 1.0, "psnr": 1.0}))
    short = SimpleNamespace(reward=SimpleNamespace(per_clip=per_clip[:, :2], terms={}))  # L = 2 of at most 3
    scores = group_rewards([short], reward, AdvantageConfig(clip_credit="to_go"), 3)
    assert scores.shape == (1, 2, 3) and scores[0, :, 2].isnan().all()  # the clip this group does not have
    assert torch.allclose(scores[0, :, :2], torch.tensor([[1.5, 2.0], [2.5, 2.0]]))
    # z-scored per term over the K candidates' j-th clips: SSIM and PSNR in opposite order cancel
    terms = {"ssim": per_clip, "psnr": per_clip.flip(0)}
    balanced = group_rewards([SimpleNamespace(reward=SimpleNamespace(terms=terms))], reward,
                             AdvantageConfig(clip_credit="clip", normalize_terms=True), 3)  # fmt: skip
    assert torch.allclose(balanced[0], torch.zeros(2, 3), atol=1e-3)
    with pytest.raises(ValueError, match="clip_credit"):
        AdvantageConfig(clip_credit="episode")


def test_advantages_per_clip_normalise_each_column_and_skip_missing_clips():
    rewards = torch.tensor([[[1.0, 10.0, math.nan], [3.0, 30.0, math.nan]], [[0.0, 5.0, 7.0], [2.0, 1.0, 9.0]]])
    per_group = group_advantages(rewards, AdvantageConfig())
    assert torch.allclose(per_group[0, :, :2], torch.tensor([[-1.0, -1.0], [1.0, 1.0]]) / math.sqrt(2), atol=1e-3)
    assert per_group[0, :, 2].isnan().all() and per_group[1].isfinite().all()
    global_std = group_advantages(rewards, AdvantageConfig(std="global"))
    finite = rewards[rewards.isfinite()]
    assert torch.allclose(global_std[1, :, 2], torch.tensor([-1.0, 1.0]) / (finite.std() + 1e-4))


def test_camera_group_credit_scores_each_camera_by_its_own_views():
    from types import SimpleNamespace

    from persistworld.metrics.reward import Reward, RewardConfig
    from persistworld.rl.posttrain import PosttrainConfig, group_rewards, r_on_target

    reward = Reward(RewardConfig(terms={"ssim": 1.0}, view_weights=(1.0, 3.0, 1.0)))
    # (K = 3, C = 1, F = 2, V = 3): the external views rank the candidates 0 > 1 > 2, the wrist 2 > 1 > 0
    ssim = torch.zeros(3, 1, 2, 3)
    for view, values in enumerate(([0.9, 0.8, 0.7], [0.5, 0.4, 0.3], [0.1, 0.2, 0.6])):
        ssim[..., view] = torch.tensor(values)[:, None, None]
    group = SimpleNamespace(reward=reward.aggregate({"ssim": ssim}, reward.config.view_weights))
    whole = group_rewards([group], reward, AdvantageConfig(), 1)
    assert whole.shape == (1, 3, 1)
    scores = group_rewards([group], reward, AdvantageConfig(view_credit="camera_group"), 1)
    assert scores.shape == (1, 3, 1, 2)  # (G, K, C, camera groups)
    external = (0.25 * ssim[..., 0] + 0.75 * ssim[..., 1]).mean(-1)[:, 0]  # the view weights within the group
    torch.testing.assert_close(scores[0, :, 0], torch.stack([external, ssim[:, 0, 0, 2]], -1))
    advantages = group_advantages(scores, AdvantageConfig(view_credit="camera_group"))
    assert advantages[0, 0, 0, 0] > 0 > advantages[0, 0, 0, 1]  # candidate 0: good outside, bad on the wrist
    assert advantages[0, 2, 0, 1] > 0 > advantages[0, 2, 0, 0]  # candidate 2: the other way round
    # each camera's r lands on its views' elements, whatever the target layout
    r = torch.tensor([[0.9, 0.1], [0.2, 0.7]])
    on_views_dim = r_on_target(r, torch.arange(3).view(1, 1, 3, 1, 1, 1))  # the compact model's layout
    assert on_views_dim.shape == (2, 1, 3, 1, 1, 1)
    torch.testing.assert_close(on_views_dim.flatten(1), torch.tensor([[0.9, 0.9, 0.1], [0.2, 0.2, 0.7]]))
    on_rows = r_on_target(r, torch.arange(3).repeat_interleave(2).view(1, 1, 1, 6, 1))  # Ctrl-World's rows
    torch.testing.assert_close(on_rows[0].flatten(), torch.tensor([0.9] * 4 + [0.1] * 2))
    with pytest.raises(ValueError, match="view_credit"):
        AdvantageConfig(view_credit="pixel")
    with pytest.raises(ValueError, match="wrist"):
        PosttrainConfig(advantages=AdvantageConfig(view_credit="camera_group"),
                        reward=RewardConfig(terms={"ssim": 1.0}, view_weights=(1.0, 1.0, 0.0)))  # fmt: skip
