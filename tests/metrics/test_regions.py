"""Region metrics on hand-made masks: a known shift gives a known error."""

from __future__ import annotations

import math

import pytest
import torch

from persistworld.metrics.regions import dilate, masked_psnr, motion_mask


def square(x: int, size=(16, 20), value: float = 1.0) -> torch.Tensor:
    """A grey frame (3, H, W) at -1 with a 4x4 square of `value` whose left edge is at column x."""
    frame = torch.full((3, *size), -1.0)
    frame[:, 6:10, x : x + 4] = value
    return frame


def test_motion_mask_covers_where_the_square_was_and_went_plus_the_dilation():
    current, future = square(4), square(8)
    mask = motion_mask(current, future, pixels=0)
    assert mask.shape == (16, 20)
    expected = torch.zeros(16, 20, dtype=torch.bool)
    expected[6:10, 4:12] = True  # left the old place, entered the new one
    assert torch.equal(mask, expected)
    grown = motion_mask(current, future, pixels=1)
    assert grown.sum() == 6 * 10 and torch.equal(grown, dilate(expected, 1))
    assert not motion_mask(current, current).any()


def test_a_known_shift_gives_a_known_masked_psnr():
    target, shifted = square(8), square(10)  # the prediction puts the square 2 columns to the right
    mask = torch.zeros(16, 20, dtype=torch.bool)
    mask[6:10, 8:12] = True  # the target's square
    # inside the mask, 2 of every 4 columns are wrong by the full range (error 1 on [0, 1]): MSE = 0.5
    assert masked_psnr(shifted, target, mask).item() == pytest.approx(10 * math.log10(1 / 0.5), abs=1e-4)
    assert masked_psnr(target, target, mask).item() == pytest.approx(100.0)  # capped at 1e-10 MSE
    full = (shifted - target).div(2).pow(2).mean().item()  # 16 wrong pixels of 320 over the frame: 10 dB better
    assert 10 * math.log10(1 / full) == pytest.approx(masked_psnr(shifted, target, mask).item() + 10, abs=1e-3)


def test_an_empty_mask_scores_nan_and_batches_broadcast():
    frames = torch.stack([square(4), square(8)])
    masks = torch.zeros(2, 16, 20, dtype=torch.bool)
    masks[1, 6:10, 8:12] = True
    scores = masked_psnr(frames, frames.flip(0), masks)
    assert math.isnan(scores[0]) and scores[1].item() == pytest.approx(10 * math.log10(1 / 1.0), abs=1e-4)
