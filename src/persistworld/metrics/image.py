"""SSIM and PSNR in torch, batched, per image: the evaluation metrics and the reward's building blocks.

Both take frames in [-1, 1] (the package's convention) and score them on [0, 1]. SSIM follows Wang
et al. (2004) with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03 and the population
covariance, averaged over the valid window positions and the colour channels; this equals
scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=-1)``, which the tests check on real frames.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

_K1, _K2 = 0.01, 0.03


def _gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return (kernel / kernel.sum()).to(dtype)


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity of each image.

    Args:
        pred: (..., C, H, W) in [-1, 1].
        target: Same shape.
        window: Gaussian window size (odd).
        sigma: Gaussian window std (pixels).

    Returns:
        (...) SSIM per image, in [-1, 1] (1 = identical).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape.")
    *batch, channels, height, width = pred.shape
    if height < window or width < window:
        raise ValueError(f"images of {height}x{width} are smaller than the {window}x{window} SSIM window.")
    x = ((pred.float() + 1) / 2).reshape(-1, channels, height, width)
    y = ((target.float() + 1) / 2).reshape(-1, channels, height, width)
    g = _gaussian_window(window, sigma, x.device, x.dtype)

    def blur(image: torch.Tensor) -> torch.Tensor:  # separable depthwise Gaussian, valid positions only
        image = F.conv2d(image, g.view(1, 1, 1, -1).expand(channels, 1, 1, window), groups=channels)
        return F.conv2d(image, g.view(1, 1, -1, 1).expand(channels, 1, window, 1), groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = _K1**2, _K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(-3, -2, -1)).reshape(batch)


def psnr(pred: torch.Tensor, target: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """Peak signal-to-noise ratio (dB) of each image on the [0, 1] scale, capped at `max_db` for identical images.

    Args:
        pred: (..., C, H, W) in [-1, 1].
        target: Same shape.
        max_db: Value for a zero error.

    Returns:
        (...) PSNR per image.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape.")
    mse = (((pred.float() - target.float()) / 2) ** 2).mean(dim=(-3, -2, -1))
    return (-10 * torch.log10(mse.clamp(min=10 ** (-max_db / 10)))).clamp(max=max_db)
