"""SSIM and PSNR against scikit-image on real DROID frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from persistworld.data.clips import frames_to_tensor
from persistworld.data.reader import EpisodeDataset
from persistworld.metrics.image import psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


@pytest.fixture(scope="module")
def real_frames(droid_mini: Path) -> np.ndarray:
    return EpisodeDataset(droid_mini, "train", resolution=(48, 80)).load_frames("0")  # (T, V, H, W, 3) uint8


def test_ssim_and_psnr_match_scikit_image(real_frames: np.ndarray):
    a, b = real_frames[0], real_frames[6]  # (V, H, W, 3): the scene 1.2 s apart
    ours_ssim = ssim(frames_to_tensor(a), frames_to_tensor(b))
    ours_psnr = psnr(frames_to_tensor(a), frames_to_tensor(b))
    for view in range(a.shape[0]):
        x, y = a[view].astype(np.float64) / 255, b[view].astype(np.float64) / 255
        reference = skimage_metrics.structural_similarity(
            x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1
        )
        assert abs(float(ours_ssim[view]) - reference) < 1e-4
        assert abs(float(ours_psnr[view]) - skimage_metrics.peak_signal_noise_ratio(x, y, data_range=1.0)) < 1e-3
    assert float(ours_ssim.min()) < 0.99  # the frames really differ


def test_identical_images_score_perfectly_and_noise_scores_worse():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2)) and (psnr(x, x) == 100).all()
    slightly, strongly = ((x + level * torch.randn_like(x)).clamp(-1, 1) for level in (0.1, 0.4))
    assert (ssim(strongly, x) < ssim(slightly, x)).all() and (ssim(slightly, x) < 1).all()
    assert (psnr(strongly, x) < psnr(slightly, x)).all() and (psnr(slightly, x) < 30).all()
