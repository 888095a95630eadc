"""The scripted simulator policy in a world model's loop: it replays recorded episodes exactly, or tries anew."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("robosuite")

from helpers.gaussian_model import GaussianWorldModel  # noqa: E402
from persistworld.data.clips import ClipConfig  # noqa: E402
from persistworld.data.reader import EpisodeDataset  # noqa: E402
from persistworld.models.sampler import SamplerConfig  # noqa: E402
from persistworld.rollout.engine import EpisodeTrack, rollout  # noqa: E402
from persistworld.sim.generate import run_generation  # noqa: E402
from persistworld.sim.in_the_loop import ScriptedSimPolicy  # noqa: E402
from sim.test_sim import small_config  # noqa: E402

CLIPS = ClipConfig(history=(0, -4, -2), num_future=2)
STEPS = 4


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> EpisodeDataset:
    root = tmp_path_factory.mktemp("sim")
    list(run_generation(root, small_config(num_frames=1 + STEPS * CLIPS.num_future, episodes={"train": 1})))
    return EpisodeDataset(root, "train")


def policy_rollout(dataset: EpisodeDataset, policy_seed: int | None):
    policy = ScriptedSimPolicy(small_config(num_frames=9), [0], dataset.stats, CLIPS.num_future, policy_seed)
    track = EpisodeTrack.load(dataset, "0")
    only_the_start = EpisodeTrack(track.episode_id, track.frames[:1], track.actions[:1])  # the policy acts after it
    result = rollout(GaussianWorldModel(), [only_the_start], [0], CLIPS, SamplerConfig(num_steps=2), STEPS,
                     policy=policy, keep_conditions=True)  # fmt: skip
    policy.close()
    return result, policy


def test_without_a_policy_seed_the_policy_reproduces_the_recorded_episode(recorded: EpisodeDataset):
    result, policy = policy_rollout(recorded, None)
    replay = rollout(GaussianWorldModel(), [EpisodeTrack.load(recorded, "0")], [0], CLIPS, SamplerConfig(num_steps=2),
                     STEPS, keep_conditions=True)  # fmt: skip
    for by_policy, by_replay in zip(result.steps, replay.steps, strict=True):
        torch.testing.assert_close(by_policy.cond.actions, by_replay.cond.actions, rtol=0, atol=0)
    torch.testing.assert_close(result.predicted, replay.predicted, rtol=0, atol=0)
    np.testing.assert_array_equal(policy.true_frames()[0].shape, recorded.load_frames("0").shape)


def test_a_policy_seed_tries_the_task_anew_in_the_same_scene(recorded: EpisodeDataset):
    (replayed, replay_policy), (anew, new_policy) = policy_rollout(recorded, None), policy_rollout(recorded, 7)
    actions = lambda result: torch.cat([s.cond.actions[:, 1:] for s in result.steps], dim=1)  # noqa: E731
    assert not torch.equal(actions(replayed), actions(anew))  # other actions drove the model
    same_scene, new_trajectory = replay_policy.true_frames()[0], new_policy.true_frames()[0]
    np.testing.assert_array_equal(same_scene[0], new_trajectory[0])  # same start frame: same scene
    assert not np.array_equal(same_scene[-1], new_trajectory[-1])  # and the simulator shows what happened
