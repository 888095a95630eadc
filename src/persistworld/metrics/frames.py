"""Checking and converting the frames that metrics compare, so that nothing is silently mis-scaled.

The package's frames are float tensors in [-1, 1] (the world model's space). Metrics compute on
[0, 1]. Two inputs are accepted and converted explicitly:

- ``torch.uint8`` frames in [0, 255] (decoded video): divided by 255;
- floating frames in [-1, 1]: mapped by ``(x + 1) / 2``. Model outputs may overshoot [-1, 1] a
  little; values within `FLOAT_TOLERANCE` of the range are clipped, anything further out is refused,
  because it almost always means frames in [0, 255] passed as floats.

Frames in [0, 1] passed as floats cannot be told apart from dark [-1, 1] frames; the convention is
[-1, 1] everywhere in persistworld, and the docs of every metric say so.
"""

from __future__ import annotations

import math

import torch

from persistworld.errors import PersistWorldError

#: How far outside [-1, 1] a float frame may go before it is refused rather than clipped.
FLOAT_TOLERANCE = 0.25


class FrameError(PersistWorldError, ValueError):
    """Frames given to a metric have the wrong shape, dtype, range or contain NaN/inf."""


def check_frames(frames: torch.Tensor, name: str = "frames") -> None:
    """Refuse frames that `unit_range` would mis-scale: frames (..., 3, H, W), uint8 or float in [-1, 1].

    One read-only pass (the range and NaN/inf in one `aminmax`).

    Args:
        frames: The frames.
        name: What the frames are, for error messages (e.g. ``"prediction"``).

    Raises:
        FrameError: Wrong dtype, a channel axis that is not 3, NaN/inf, or floats outside [-1, 1].
    """
    if frames.dim() < 3 or frames.shape[-3] != 3:
        raise FrameError(f"{name}: expected frames shaped (..., 3, H, W), got {tuple(frames.shape)}.")
    if frames.dtype == torch.uint8:
        return
    if not frames.is_floating_point():
        raise FrameError(f"{name}: expected uint8 in [0, 255] or float in [-1, 1], got dtype {frames.dtype}.")
    low, high = (float(v) for v in torch.aminmax(frames))  # one pass; NaN and inf show up here too
    if not (math.isfinite(low) and math.isfinite(high)):
        bad = int((~torch.isfinite(frames)).sum())
        raise FrameError(f"{name}: {bad} of {frames.numel()} values are NaN or infinite.")
    if low < -1 - FLOAT_TOLERANCE or high > 1 + FLOAT_TOLERANCE:
        raise FrameError(
            f"{name}: float frames must be in [-1, 1] (persistworld's convention); got values in "
            f"[{low:.3g}, {high:.3g}]. Pass uint8 frames for [0, 255], or map your floats to [-1, 1]."
        )


def unit_range(frames: torch.Tensor) -> torch.Tensor:
    """Checked frames (`check_frames`) as a new float32 tensor in [0, 1]: uint8 / 255, floats (clip(x) + 1) / 2.

    Split from the check so that a batched metric can convert one chunk at a time, while it is in cache.
    """
    if frames.dtype == torch.uint8:
        return frames.float().div_(255)
    return frames.float().clamp(-1, 1).add_(1).mul_(0.5)  # = (x + 1) / 2 bit for bit: halving is exact


def check_pair(
    prediction: torch.Tensor, target: torch.Tensor, broadcast: bool = False, convert: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both frame stacks in [0, 1] after checking their shapes (same views, frames and image size).

    Args:
        prediction: (..., 3, H, W).
        target: The same shape, or with `broadcast` a suffix of it: one ground truth shared by the
            leading dimensions of `prediction` (e.g. K candidates scored against the same frames).
        broadcast: Allow the shared-target form.
        convert: False returns the checked frames unconverted (the caller applies `unit_range`).
    """
    shape, target_shape = tuple(prediction.shape), tuple(target.shape)
    matches = shape == target_shape or (
        broadcast and len(target_shape) <= len(shape) and shape[len(shape) - len(target_shape) :] == target_shape
    )
    if not matches:
        wanted = (
            "equal shapes or a target shaped like the prediction's trailing dimensions" if broadcast else "equal shapes"
        )
        raise FrameError(
            f"prediction {shape} and target {target_shape} differ in shape ({wanted}): every predicted frame "
            "needs the ground-truth frame of the same step and view (..., V, 3, H, W)."
        )
    check_frames(prediction, "prediction")
    check_frames(target, "target")
    return (unit_range(prediction), unit_range(target)) if convert else (prediction, target)
