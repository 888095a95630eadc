"""The rollout engine: feedback of its own frames, no ground-truth leak, data-layer indices, batching, policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel
from persistworld.data.clips import ClipConfig, ClipId, ClipSampler
from persistworld.data.reader import EpisodeDataset
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout

CLIPS = ClipConfig(history=(0, -4, -2), num_future=2)
SAMPLER = SamplerConfig(num_steps=3, s_churn=0.5)


def track(seed: int, length: int = 12, episode_id: str = "e") -> EpisodeTrack:
    g = torch.Generator().manual_seed(seed)
    return EpisodeTrack(
        episode_id, torch.rand(length, 3, 3, 8, 12, generator=g) * 2 - 1, torch.rand(length, 7, generator=g) * 2 - 1
    )


def run(tracks, starts=None, **kwargs):
    starts = starts if starts is not None else [0] * len(tracks)
    return rollout(GaussianWorldModel(), tracks, starts, CLIPS, SAMPLER, kwargs.pop("num_steps", 4), **kwargs)


def test_ground_truth_after_the_start_never_reaches_the_model():
    original = track(0)
    tampered = track(0)
    tampered.frames[3:] = torch.rand_like(tampered.frames[3:])  # everything after start 2 replaced
    a, b = run([original], [2]), run([tampered], [2])
    torch.testing.assert_close(a.predicted, b.predicted, rtol=0, atol=0)
    # the teacher-forced comparison does read the ground truth, so there it matters
    c, d = run([original], [2], feed="ground_truth"), run([tampered], [2], feed="ground_truth")
    assert not torch.equal(c.predicted[:, 2:], d.predicted[:, 2:])


def test_each_step_is_conditioned_on_the_previous_prediction():
    result = run([track(0)], keep_conditions=True)
    first, second, third = result.steps[:3]
    torch.testing.assert_close(second.cond.current, first.frames[:, -1])  # frame 2, the last predicted one
    torch.testing.assert_close(third.cond.current, second.frames[:, -1])  # frame 4
    torch.testing.assert_close(third.cond.history[:, 2], first.frames[:, -1])  # history slot -2 at t=4: frame 2
    torch.testing.assert_close(result.predicted[:, :2], first.frames)
    assert result.predicted.shape == (1, 8, 3, 3, 8, 12) and result.ground_truth.shape == result.predicted.shape


def test_first_step_is_the_same_whatever_is_fed_back():
    own, teacher = run([track(0)]), run([track(0)], feed="ground_truth")
    torch.testing.assert_close(own.steps[0].frames, teacher.steps[0].frames)


def test_teacher_forced_conditions_match_the_clip_sampler(episode_factory):
    root: Path = episode_factory(n_episodes=1, n_frames=12)
    dataset = EpisodeDataset(root, "train")
    clips = ClipSampler(dataset, CLIPS)
    result = rollout(
        GaussianWorldModel(), [EpisodeTrack.load(dataset, "0")], [1], CLIPS, SAMPLER, 3,
        feed="ground_truth", keep_conditions=True,
    )  # fmt: skip
    for step in result.steps:
        clip = clips.get(ClipId("train", "0", int(step.current_frames[0])))
        torch.testing.assert_close(step.cond.history[0], clip.history)
        torch.testing.assert_close(step.cond.current[0], clip.current)
        torch.testing.assert_close(step.cond.history_actions[0], clip.history_actions)
        torch.testing.assert_close(step.cond.actions[0], clip.actions)
    expected_truth = torch.cat([clips.get(ClipId("train", "0", 1 + 2 * i)).future for i in range(3)])
    torch.testing.assert_close(result.ground_truth[0], expected_truth)


def test_rows_are_independent_of_the_batch_and_candidates_differ():
    alone = run([track(0, episode_id="a")], candidates=2)
    together = run([track(1, episode_id="b"), track(0, episode_id="a")], candidates=2)
    torch.testing.assert_close(alone.predicted, together.predicted[2:], rtol=0, atol=0)
    assert not torch.equal(alone.predicted[0], alone.predicted[1])
    again = run([track(0, episode_id="a")], candidates=2)
    assert torch.equal(alone.predicted, again.predicted)


def test_policy_actions_drive_the_model():
    def policy(views: torch.Tensor, step: int) -> torch.Tensor:
        assert views.shape == (1, 3, 3, 8, 12)
        return torch.full((1, 2, 7), 0.5 if step % 2 else -0.5)

    result = run([track(0, length=3)], policy=policy, keep_conditions=True)  # an episode too short to replay
    assert result.ground_truth is None
    assert torch.equal(result.steps[1].cond.actions[0, 1:], torch.full((2, 7), 0.5))
    assert torch.equal(result.steps[2].cond.actions[0, 0], torch.full((7,), 0.5))  # current = last commanded


def test_too_short_episode_is_a_clear_error():
    message = r"episode e has 12 frames; replaying 6 steps of 2 frames from frame 1 needs 14"
    with pytest.raises(ValueError, match=message):
        run([track(0)], [1], num_steps=6)
