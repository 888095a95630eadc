"""The motion-aware evaluation: a model that follows its actions has action sensitivity, one that does not has 0."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel
from persistworld.data.clips import ClipConfig
from persistworld.data.layout import ROBOT_LABEL
from persistworld.evaluate.motion import CONDITIONS, MotionTrack, evaluate_motion, markdown_table
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack

FRAMES, SIZE = 13, (16, 20)


def episode(index: int, labelled: bool = True) -> MotionTrack:
    """Brightness follows the first action (as GaussianWorldModel predicts); the robot is the top-left corner."""
    g = torch.Generator().manual_seed(index)
    actions = torch.zeros(FRAMES, 7)
    direction = 1.0 if index % 2 == 0 else -1.0
    actions[:, 0] = direction * 0.15 * torch.arange(FRAMES) / FRAMES  # per-frame change: mean of 0.3 x action
    base = torch.rand(3, 3, *SIZE, generator=g) * 0.2 - 0.1
    frames = torch.stack([base] * FRAMES)
    for t in range(1, FRAMES):  # each frame is the previous plus the model's predicted residual
        frames[t] = frames[t - 1] + 0.3 * actions[t, 0]
    labels = torch.zeros(FRAMES, 3, *SIZE, dtype=torch.uint8)
    labels[:, :, :6, :8] = ROBOT_LABEL
    return MotionTrack(EpisodeTrack(str(index), frames.clamp(-1, 1), actions), labels if labelled else None)


@pytest.mark.parametrize("gain", [0.3, 0.0])
def test_action_sensitivity_and_the_conditions(gain: float):
    model = GaussianWorldModel(num_future=2, std=0.01, action_gain=gain)
    clips = ClipConfig(history=(0, -2), num_future=2)
    result = evaluate_motion(model, [episode(i) for i in range(4)], clips, SamplerConfig(num_steps=2), steps=4)
    assert set(result.scores) == set(CONDITIONS) and result.regions == "segmentation"
    for group in ("external", "wrist"):
        sensitivity = result.action_sensitivity(group)
        if gain:
            assert sensitivity > 10  # own actions track the truth; the neighbour's go the other way
            assert result.mean("rollout", group, "psnr") > result.mean("freeze", group, "psnr") + 5
        else:
            assert sensitivity == 0.0  # same noise, actions change nothing
    assert result.mean("freeze", "external", "edge_ratio") == pytest.approx(1.0, abs=0.05)  # flat shifts keep edges
    assert "Action sensitivity" in markdown_table(result)
    summary = result.summary()
    assert summary["episodes"] == ["0", "1", "2", "3"]
    assert set(summary["action_sensitivity_db"]) == {"external", "wrist"}


def test_without_segmentation_the_regions_are_where_the_truth_moves():
    model = GaussianWorldModel(num_future=2, std=0.01, action_gain=0.3)
    clips = ClipConfig(history=(0, -2), num_future=2)
    episodes = [episode(i, labelled=False) for i in range(2)]
    result = evaluate_motion(model, episodes, clips, SamplerConfig(num_steps=2), steps=4)
    assert result.regions == "motion" and math.isfinite(result.mean("rollout", "wrist", "robot_psnr"))
    with pytest.raises(ValueError, match="at least 2 episodes"):
        evaluate_motion(model, episodes[:1], clips, SamplerConfig(num_steps=2), steps=4)
