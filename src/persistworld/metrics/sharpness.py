"""Edge energy: how much detail a prediction carries, against the ground truth's.

A posterior-mean prediction is a blur (too little edge energy); a single sample of an undertrained
sampler carries grain (too much). The ratio of a prediction's edge energy to the truth's tells which,
and is 1 for a prediction as sharp as the truth.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def edge_energy(frames: torch.Tensor) -> float:
    """Mean Sobel gradient magnitude of frames (..., 3, H, W), grey = mean of RGB, valid pixels only.

    The kernel is normalised (/ 8) so that a ramp rising by 1 per pixel has magnitude 1.
    """
    grey = frames.float().mean(dim=-3, keepdim=True).flatten(0, -4)
    kernel_x = _SOBEL_X.view(1, 1, 3, 3).to(grey)
    gx, gy = F.conv2d(grey, kernel_x), F.conv2d(grey, kernel_x.transpose(-1, -2))
    return (gx.square() + gy.square()).sqrt().mean().item()
