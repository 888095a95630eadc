"""SSIM, PSNR and MS-SSIM in torch, batched over any leading dimensions, one score per image.

Every public metric takes frames in persistworld's convention (float in [-1, 1], or uint8 in
[0, 255]; see `persistworld.metrics.frames`) and scores them on the [0, 1] scale (data range 1).

- **SSIM** follows Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
  the population covariance, averaged over the *valid* window positions (no padding) and the colour
  channels. This is scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=-1)``; the tests check equality on real
  DROID frames. (torchmetrics and piq use the same constants.)
- **PSNR** is ``10 log10(1 / MSE)`` over all pixels and channels of an image, capped for identical images.
- **MS-SSIM** (Wang et al. 2003) is piq's implementation (average-pool downsampling, the standard
  scale weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Five scales need images of at least 161 px
  per side; smaller images use as many scales as fit (3 at 48x80) with the first weights
  renormalised, and `ms_ssim_levels` says how many.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F  # noqa: N812

from persistworld.metrics.frames import FrameError, check_pair

_K1, _K2 = 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: piq's HaarPSI halves the image, then needs 16 px (its 3 scales' largest Haar filter) per side.
HAARPSI_MIN_SIZE = 32


def _gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).to(dtype)


def _flatten(x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    *batch, channels, height, width = x.shape
    return x.reshape(-1, channels, height, width), batch


def _blur(images: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur over valid positions, depthwise over all channels of (N, C, H, W).

    One grouped convolution over many channels in channels-last layout: on CPU this is 4-7x faster
    than blurring each 3-channel map on its own (measured in benchmarks/rewards.py's workload).
    """
    channels = images.shape[1]
    g = _gaussian_window(window, sigma, images.device, images.dtype)
    images = images.contiguous(memory_format=torch.channels_last)
    images = F.conv2d(images, g.view(1, 1, 1, -1).expand(channels, 1, 1, window), groups=channels)
    return F.conv2d(images, g.view(1, 1, -1, 1).expand(channels, 1, window, 1), groups=channels)


@dataclass(frozen=True)
class SsimTarget:
    """The target's share of SSIM, computed once per target image (candidates of an RL group share one).

    Every term of the SSIM map that depends on the target alone is folded in here, so that scoring a
    candidate costs as few passes over memory as possible: on CPU the map's arithmetic, not the blur,
    was the larger part of SSIM's time at 192x320 (benchmarks/rewards.py's workload).
    """

    y: torch.Tensor  # (M, C, H, W) in [0, 1]
    mu: torch.Tensor  # (M, C, H', W') local means
    mean_term: torch.Tensor  # mu^2 + C1: the luminance denominator's target part
    var_term: torch.Tensor  # local variance + C2: the contrast-structure denominator's target part


def ssim_reference(y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> SsimTarget:
    """The target's part of SSIM for targets y (M, C, H, W) in [0, 1] (see `SsimTarget`)."""
    height, width = y.shape[-2:]
    if height < window or width < window:
        raise FrameError(f"images of {height}x{width} are smaller than the {window}x{window} SSIM window.")
    mu, yy = _blur(torch.cat([y, y * y], 1), window, sigma).split(y.shape[1], 1)
    mu_squared = mu * mu
    return SsimTarget(y, mu, mu_squared + _K1**2, (yy - mu_squared).add_(_K2**2))


#: Pixels per SSIM pass: about two 192x320 images. Passes this small stay in cache: at 192x320 on CPU,
#: 2 images per pass ran 1.2-1.4x faster than 16 (two measurements of SSIM and PSNR alone on
#: benchmarks/rewards.py's workload).
SSIM_PIXELS_PER_PASS = 2 * 192 * 320


def ssim_score(x: torch.Tensor, reference: SsimTarget, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM of images x (R, M, C, H, W) in [0, 1], row r's image m against target m of `reference` -> (R, M)."""
    rows, targets = x.shape[:2]
    per_pass = max(1, SSIM_PIXELS_PER_PASS // (x.shape[-1] * x.shape[-2]))
    scores = torch.empty(rows, targets, device=x.device, dtype=x.dtype)
    for row in range(rows):
        for begin in range(0, targets, per_pass):
            part = slice(begin, begin + per_pass)
            scores[row, part] = _ssim_pass(x[row, part], reference, part, window, sigma)
    return scores


def _ssim_pass(x: torch.Tensor, reference: SsimTarget, part: slice, window: int, sigma: float) -> torch.Tensor:
    """SSIM of images x (n, C, H, W) against targets ``part`` of `reference` -> (n,).

    The map is ``(2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))``,
    computed with in-place operations, the target's terms taken from `reference`.
    """
    channels = x.shape[1]
    # [x, x^2, x y] written straight into one channels-last buffer, the layout the blur wants
    stacked = torch.empty(
        x.shape[0], 3 * channels, *x.shape[2:], device=x.device, dtype=x.dtype, memory_format=torch.channels_last
    )
    stacked[:, :channels] = x
    torch.mul(x, x, out=stacked[:, channels : 2 * channels])
    torch.mul(x, reference.y[part], out=stacked[:, 2 * channels :])
    mu_x, xx, xy = _blur(stacked, window, sigma).split(channels, 1)
    mu_xy = mu_x * reference.mu[part]
    numerator = torch.sub(xy, mu_xy).mul_(2).add_(_K2**2)  # 2 cov + C2
    numerator.mul_(mu_xy.mul_(2).add_(_K1**2))
    mu_x_squared = mu_x * mu_x
    denominator = torch.sub(xx, mu_x_squared).add_(reference.var_term[part])  # var_x + var_y + C2
    denominator.mul_(mu_x_squared.add_(reference.mean_term[part]))
    return numerator.div_(denominator).mean(dim=(-3, -2, -1))


def ssim_unit(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM of images already in [0, 1], (..., C, H, W) -> (...). No input checks (the fast path)."""
    (flat_x, batch), (flat_y, _) = _flatten(x), _flatten(y)
    return ssim_score(flat_x[None], ssim_reference(flat_y, window, sigma), window, sigma).reshape(batch)


def psnr_unit(x: torch.Tensor, y: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """PSNR (dB) of images already in [0, 1], (..., C, H, W) -> (...), `max_db` for identical images."""
    mse = ((x - y) ** 2).mean(dim=(-3, -2, -1))
    return (-10 * torch.log10(mse.clamp(min=10 ** (-max_db / 10)))).clamp(max=max_db)


def ms_ssim_levels(height: int, width: int, window: int = 11) -> int:
    """How many MS-SSIM scales fit an image: the window must fit the coarsest scale (at most 5)."""
    levels = 0
    while levels < len(MS_SSIM_WEIGHTS) and (window - 1) * 2**levels + 1 <= min(height, width):
        levels += 1
    if levels == 0:
        raise FrameError(f"images of {height}x{width} are smaller than the {window}x{window} MS-SSIM window.")
    return levels


def ms_ssim_unit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of images already in [0, 1], (..., C, H, W) -> (...), with as many scales as fit."""
    from piq import multi_scale_ssim

    (flat_x, batch), (flat_y, _) = _flatten(x), _flatten(y)
    levels = ms_ssim_levels(*x.shape[-2:])
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], device=x.device, dtype=x.dtype)
    value = multi_scale_ssim(flat_x, flat_y, data_range=1.0, reduction="none", scale_weights=weights / weights.sum())
    return value.reshape(batch)


def haarpsi_unit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """HaarPSI (Reisenhofer et al. 2018, piq's implementation, default constants) of [0, 1] images -> (...)."""
    from piq import haarpsi

    if min(x.shape[-2:]) < HAARPSI_MIN_SIZE:
        raise FrameError(f"HaarPSI needs images of at least {HAARPSI_MIN_SIZE} px per side, got {tuple(x.shape[-2:])}.")
    return _piq_per_image(haarpsi, x, y)


def gmsd_unit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """GMSD (Xue et al. 2014, piq): deviation of the gradient-magnitude similarity map; lower is better."""
    from piq import gmsd

    return _piq_per_image(gmsd, x, y)


def fsim_unit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FSIM colour (Zhang et al. 2011, piq): phase congruency and gradient similarity; higher is better."""
    from piq import fsim

    return _piq_per_image(fsim, x, y)


def _piq_per_image(function: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One piq full-reference metric per image of [0, 1] stacks (..., C, H, W) -> (...)."""
    (flat_x, batch), (flat_y, _) = _flatten(x), _flatten(y)
    return function(flat_x.clamp(0, 1), flat_y.clamp(0, 1), data_range=1.0, reduction="none").reshape(batch)


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity of each image.

    Args:
        pred: (..., 3, H, W), float in [-1, 1] or uint8.
        target: Same shape.
        window: Gaussian window size (odd).
        sigma: Gaussian window std (pixels).

    Returns:
        (...) SSIM per image, in [-1, 1] (1 = identical).
    """
    return ssim_unit(*check_pair(pred, target), window=window, sigma=sigma)


def psnr(pred: torch.Tensor, target: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """Peak signal-to-noise ratio (dB) of each image on the [0, 1] scale, `max_db` for identical images.

    Args:
        pred: (..., 3, H, W), float in [-1, 1] or uint8.
        target: Same shape.
        max_db: Value for a zero error.

    Returns:
        (...) PSNR per image.
    """
    return psnr_unit(*check_pair(pred, target), max_db=max_db)
