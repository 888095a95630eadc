"""Whether a model follows its actions: the probe's sensitivity column, and the motion-weighted loss."""

from __future__ import annotations

import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel
from persistworld.data.clips import ClipBatch, ClipId
from persistworld.models.edm import EDMConfig
from persistworld.models.protocol import Condition
from persistworld.models.sampler import SamplerConfig
from persistworld.train.probe import action_sensitivity, swap_actions
from persistworld.train.step import StepConfig, teacher_forced_loss


def clips(moving: bool, batch: int = 4, future: int = 2, size=(8, 12)) -> ClipBatch:
    """Clips whose future is the current frame shifted in brightness by 0.3 x the first action (+-0.8)."""
    g = torch.Generator().manual_seed(0)
    current = torch.rand(batch, 3, 3, *size, generator=g) * 0.5 - 0.25
    actions = torch.zeros(batch, future + 1, 7)
    actions[:, 1:, 0] = torch.tensor([0.8, -0.8] * (batch // 2))[:, None]
    shift = 0.3 * actions[:, 1:, 0] if moving else torch.zeros(batch, future)
    return ClipBatch(
        history=current[:, None].repeat(1, 2, 1, 1, 1, 1),
        current=current,
        future=current[:, None] + shift[:, :, None, None, None, None],
        history_actions=torch.zeros(batch, 2, 7),
        actions=actions,
        future_is_pad=torch.zeros(batch, future, dtype=torch.bool),
        texts=[""] * batch,
        clip_ids=[ClipId("val", str(i), 0) for i in range(batch)],
    )


def test_swapping_takes_each_rows_actions_from_the_next_row():
    batch = clips(moving=True)
    swapped = swap_actions(Condition.from_batch(batch))
    assert torch.equal(swapped.actions, batch.actions.roll(-1, dims=0))
    assert torch.equal(swapped.current, batch.current)


@pytest.mark.parametrize("gain", [0.3, 0.0])
def test_action_sensitivity_is_positive_for_a_model_that_uses_its_actions_and_zero_otherwise(gain: float):
    model = GaussianWorldModel(num_future=2, std=0.01, action_gain=gain)
    config = SamplerConfig(num_steps=3, draws=1)
    result = action_sensitivity(model, clips(moving=True), config, torch.Generator().manual_seed(0))
    difference = (result.own - result.swapped).mean().item()
    if gain:
        assert difference > 10  # the right brightness shift against the opposite one
    else:
        assert difference == 0.0  # same noise, and the actions change nothing


def test_the_generator_ends_where_one_sample_would_leave_it():
    model = GaussianWorldModel(num_future=2, std=0.01)
    config = SamplerConfig(num_steps=3, draws=1)
    measured, plain = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    action_sensitivity(model, clips(moving=True), config, measured)
    torch.randn(model.target_shape(Condition.from_batch(clips(moving=True))), generator=plain)  # one draw
    assert torch.equal(measured.get_state(), plain.get_state())


def test_the_motion_weight_counts_only_where_the_ground_truth_moves():
    model = GaussianWorldModel(num_future=2, std=0.2, action_gain=0.0)  # predicts no change: errs where things move
    edm = EDMConfig(sigma_data=0.2)

    def loss(batch: ClipBatch, weight: float) -> float:
        config = StepConfig(action_dropout=0.0, motion_weight=weight)
        return teacher_forced_loss(model, batch, edm, config, torch.Generator().manual_seed(0))[0].item()

    still, moving = clips(moving=False), clips(moving=True)
    assert loss(still, 4.0) == pytest.approx(loss(still, 0.0))
    assert loss(moving, 4.0) > 3 * loss(moving, 0.0)  # every pixel moves here: weight 5 on most of the error
    with pytest.raises(ValueError, match="motion_weight"):
        StepConfig(motion_weight=-1)
