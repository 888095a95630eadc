"""The compact U-Net backend: shapes, view stacking, targets, action conditioning, layout errors."""

from __future__ import annotations

import pytest
import torch

from helpers.gaussian_model import random_condition
from persistworld.errors import ConfigError
from persistworld.models.compact import (
    CompactConfig,
    CompactWorldModel,
    ModelLayout,
    stack_views,
    tiny,
    unstack_views,
)
from persistworld.models.protocol import Condition, WorldModel

LAYOUT = ModelLayout(resolution=(8, 12), num_history=2, num_future=2)


def make_model(**overrides) -> CompactWorldModel:
    torch.manual_seed(0)
    model = CompactWorldModel(CompactConfig(**{**vars(tiny()), **overrides}), LAYOUT)
    for parameter in model.parameters():  # leave the zero init, so that every input can matter
        torch.nn.init.normal_(parameter, std=0.1)
    return model.eval()


def test_implements_the_protocol_and_predicts_the_target_shape():
    model = make_model()
    cond = random_condition()
    assert isinstance(model, WorldModel)
    x = torch.randn(model.target_shape(cond))
    assert model.denoise(x, torch.ones(2), cond).shape == (2, 2, 3, 3, 8, 12)


def test_untrained_model_is_the_identity_around_the_skip():
    torch.manual_seed(0)
    model = CompactWorldModel(tiny(), LAYOUT)  # zero-initialised output conv: F = 0
    cond = random_condition()
    x, sigma = torch.randn(model.target_shape(cond)), torch.full((2,), 0.7)
    c_skip = model.sigma_data**2 / (0.7**2 + model.sigma_data**2)
    torch.testing.assert_close(model.denoise(x, sigma, cond), c_skip * x)


def test_views_are_stacked_along_height():
    frames = torch.randn(2, 3, 3, 3, 8, 12)  # (B, T, V, C, H, W)
    image = stack_views(frames)
    assert image.shape == (2, 9, 24, 12)
    torch.testing.assert_close(image[:, 3:6, 8:16], frames[:, 1, 1])  # frame 1, view 1
    torch.testing.assert_close(unstack_views(image, 3, 3), frames)


def test_action_conditioning_changes_the_output_and_dropping_it_removes_it():
    model = make_model()
    cond = random_condition()
    x, sigma = torch.randn(model.target_shape(cond)), torch.ones(2)
    other = random_condition(seed=1)
    moved = random_condition()
    moved.actions = other.actions
    assert (model.denoise(x, sigma, cond) - model.denoise(x, sigma, moved)).abs().max() > 1e-3
    torch.testing.assert_close(
        model.denoise(x, sigma, cond.unconditional()), model.denoise(x, sigma, moved.unconditional())
    )


@pytest.mark.parametrize("target", ["residual", "frames"])
def test_encode_decode_round_trip(target: str):
    model = make_model(target=target)
    cond = random_condition()
    frames = torch.rand(model.target_shape(cond)) * 2 - 1
    torch.testing.assert_close(model.decode(model.encode(frames, cond), cond), frames)
    if target == "residual":
        still = cond.current[:, None].expand_as(frames)
        assert model.encode(still, cond).abs().max() == 0  # no motion = a zero target


def test_clear_errors_for_wrong_shapes():
    model = make_model()
    cond = random_condition()
    cond.actions = torch.zeros(2, 3, 6)
    with pytest.raises(ValueError, match=r"`actions` has shape \(2, 3, 6\).*expects \(2, 3, 7\)"):
        model.denoise(torch.zeros(model.target_shape(cond)), torch.ones(2), cond)
    two_cameras = random_condition()
    two_cameras.current = two_cameras.current[:, :2]
    with pytest.raises(ValueError, match="`current`.*3 views"):
        model.denoise(torch.zeros(model.target_shape(cond)), torch.ones(2), two_cameras)
    with pytest.raises(ConfigError, match="divisible by 4"):
        CompactWorldModel(CompactConfig(channels=(8, 8, 8)), ModelLayout(resolution=(6, 12)))


def test_the_action_map_is_a_second_path_from_the_actions_into_the_image():
    """With the global (adaptive group norm) path cut, only the map carries the actions; dropping them stops it."""
    cond = random_condition()
    moved = random_condition(seed=1)
    other = Condition(cond.history, cond.current, moved.history_actions, moved.actions, cond.action_mask)
    changes = {}
    for channels in (0, 4):
        model = make_model(action_map=channels)
        for parameter in model.network.action_encoder.parameters():
            torch.nn.init.zeros_(parameter)  # cut the global path
        x, sigma = torch.randn(model.target_shape(cond)), torch.full((2,), 5.0)
        changes[channels] = (model.denoise(x, sigma, other) - model.denoise(x, sigma, cond)).abs().mean().item()
        dropped = [Condition(c.history, c.current, c.history_actions, c.actions, torch.zeros(2)) for c in (cond, other)]
        torch.testing.assert_close(model.denoise(x, sigma, dropped[0]), model.denoise(x, sigma, dropped[1]))
    assert changes[0] == 0 and changes[4] > 1e-3
    assert make_model().network.action_map is None


def test_the_action_map_is_validated():
    with pytest.raises(ValueError, match="action_map"):
        CompactConfig(action_map=-1)
