"""Region metrics: how well a prediction matches the ground truth where something moves.

Full-frame PSNR and SSIM are dominated by the static background: a world model that freezes the
scene scores close to one that moves the arm correctly. These metrics look only inside a mask:

- `motion_mask`: pixels whose ground truth changes from the current frame to a future one, dilated
  by a few pixels. It needs no labels, so it works on DROID as on the simulator.
- a segmentation mask (the robot, an object) from the simulator, when the dataset has one.

`masked_psnr` then scores each image inside its mask. An image whose mask is empty scores NaN and
is left out of averages (`nanmean`), so that a still clip never counts as perfect.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from persistworld.metrics.frames import check_pair

#: A pixel "moves" when its mean absolute RGB change, on the [-1, 1] scale, exceeds this (about 13 of
#: 255 grey levels: above the x264 noise of the stored videos, below the arm's contrast to the table).
MOTION_THRESHOLD = 0.1
#: Masks are dilated by this many pixels, so that a prediction that puts the arm a little off still
#: has its error counted.
DILATION = 2


def dilate(mask: torch.Tensor, pixels: int = DILATION) -> torch.Tensor:
    """Binary dilation of masks (..., H, W) with a (2 pixels + 1) square."""
    if pixels <= 0:
        return mask
    flat = mask.reshape(-1, 1, *mask.shape[-2:]).float()
    grown = F.max_pool2d(flat, 2 * pixels + 1, stride=1, padding=pixels)
    return grown.reshape(mask.shape) > 0.5


def motion_mask(
    current: torch.Tensor, future: torch.Tensor, threshold: float = MOTION_THRESHOLD, pixels: int = DILATION
) -> torch.Tensor:
    """Where the ground truth moves: (..., 3, H, W) frames in [-1, 1] -> (..., H, W) bool.

    `current` broadcasts against `future` (one current frame for F future frames).
    """
    change = (future - current).abs().mean(dim=-3)
    return dilate(change > threshold, pixels)


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, [0, 1] scale) of each image inside its mask; NaN where the mask is empty.

    Args:
        pred: (..., 3, H, W), float in [-1, 1] or uint8.
        target: Same shape.
        mask: (..., H, W) bool, broadcastable to the images without their channel dim.
    """
    x, y = check_pair(pred, target)
    weight = mask.to(x.dtype).unsqueeze(-3).expand_as(x)
    count = weight.sum(dim=(-3, -2, -1))
    mse = ((x - y) ** 2 * weight).sum(dim=(-3, -2, -1)) / count.clamp(min=1)
    psnr = 10 * torch.log10(1.0 / mse.clamp(min=1e-10))
    return torch.where(count > 0, psnr, torch.full_like(psnr, float("nan")))
