"""Branching: the K candidates share the frozen prefix state bit for bit and differ only by their noise."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel
from persistworld.data.clips import ClipConfig
from persistworld.metrics.reward import Reward, RewardConfig
from persistworld.rl.branching import BranchingConfig, collect_group
from persistworld.rollout.engine import EpisodeTrack

CLIPS = ClipConfig(history=(0, -4, -2), num_future=2)
REWARD = Reward(RewardConfig(terms={"ssim": 1.0, "psnr": 1 / 32}))


def track(length: int = 20, seed: int = 0) -> EpisodeTrack:
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(length, 3, 3, 16, 16, generator=g) * 2 - 1
    return EpisodeTrack("ep", frames, torch.rand(length, 7, generator=g) * 2 - 1)


def collect(prefix: int, seed: int = 0, candidates: int = 4):
    config = BranchingConfig(candidates=candidates, max_prefix=prefix, min_continuation=2, max_continuation=2)
    for group_seed in itertools.count(1000 * seed):  # until the sampled prefix length is the one under test
        group = collect_group(GaussianWorldModel(std=0.3), track(), CLIPS, config, REWARD, seed=group_seed)
        if group.prefix == prefix:
            return group


@pytest.mark.parametrize("prefix", [0, 2])
def test_candidates_share_the_prefix_state_exactly_and_differ_by_noise(prefix: int):
    group = collect(prefix)
    k = group.x0.shape[0]
    for name in ("history", "current", "history_actions", "actions"):
        value = getattr(group.cond, name)
        assert all(torch.equal(value[0], value[i]) for i in range(1, k)), name  # bit for bit
    assert not torch.allclose(group.x0[0], group.x0[1])  # independent noise
    assert group.predicted.shape[:2] == (k, 2 * CLIPS.num_future) and group.truth.shape[0] == 2 * CLIPS.num_future
    assert group.reward.total.shape == (k,) and group.reward.per_clip.shape == (k, 2)
    truth = track().frames
    branch = group.start + prefix * CLIPS.num_future
    torch.testing.assert_close(group.truth, truth[branch + 1 : branch + 1 + 2 * CLIPS.num_future])
    if prefix == 0:  # branched at a ground-truth state
        torch.testing.assert_close(group.cond.current[0], truth[group.start])
    else:  # the shared current frame is the old policy's own prediction, not the ground truth
        assert not torch.allclose(group.cond.current[0], truth[branch], atol=1e-3)


def test_groups_are_reproducible_per_seed_and_rewards_rank_candidates():
    a, b = collect(2, seed=3), collect(2, seed=3)
    torch.testing.assert_close(a.x0, b.x0) and torch.testing.assert_close(a.reward.total, b.reward.total)
    assert a.reward.total.std() > 0
    with pytest.raises(ValueError, match="candidates"):
        BranchingConfig(candidates=1)
    with pytest.raises(ValueError, match="min_prefix"):
        BranchingConfig(min_prefix=4, max_prefix=3)
    with pytest.raises(ValueError, match="too few"):
        config = BranchingConfig(candidates=2, max_prefix=0, min_continuation=30, max_continuation=30)
        collect_group(GaussianWorldModel(), track(), CLIPS, config, REWARD, seed=0)


def test_a_fixed_prefix_length_is_always_used():
    config = BranchingConfig(candidates=2, min_prefix=2, max_prefix=2, min_continuation=2, max_continuation=2)
    prefixes = {collect_group(GaussianWorldModel(), track(), CLIPS, config, REWARD, seed=s).prefix for s in range(6)}
    assert prefixes == {2}


def test_switch_b_keeps_every_later_clip_on_each_candidates_own_history():
    config = BranchingConfig(candidates=3, max_prefix=0, min_continuation=3, max_continuation=3, train_clips="all")
    group = collect_group(GaussianWorldModel(std=0.3), track(), CLIPS, config, REWARD, seed=0)
    clips = group.training_clips()
    assert len(clips) == 3 and clips[0][0] is group.cond
    f = CLIPS.num_future
    for j, (cond, x0) in enumerate(clips[1:], start=1):
        torch.testing.assert_close(cond.current, group.predicted[:, j * f - 1])  # each candidate's last frame
        assert not torch.allclose(cond.current[0], cond.current[1])  # so the conditions differ
        assert x0.shape == group.x0.shape
    first = collect_group(GaussianWorldModel(std=0.3), track(), CLIPS, replace(config, train_clips="first"), REWARD, 0)
    torch.testing.assert_close(first.x0, group.x0)  # the switch changes what is kept, not what is collected
    assert first.later == [] and len(first.training_clips()) == 1
    with pytest.raises(ValueError, match="train_clips"):
        BranchingConfig(train_clips="some")
