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


def test_ms_ssim_uses_the_scales_that_fit_and_matches_piq_at_full_size():
    import piq

    from persistworld.metrics.image import ms_ssim_levels, ms_ssim_unit

    assert [ms_ssim_levels(h, h) for h in (11, 20, 21, 48, 160, 161)] == [1, 1, 2, 3, 4, 5]
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 176, 176, generator=generator)
    y = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    reference = piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none")  # the standard 5 scales
    assert torch.allclose(ms_ssim_unit(x, y), reference, atol=1e-6)
    small = ms_ssim_unit(x[..., :48, :80], y[..., :48, :80])  # 3 scales; must still rank correctly
    worse = ms_ssim_unit(x[..., :48, :80], (y[..., :48, :80] + 0.3).clamp(0, 1))
    assert (small < 1).all() and (worse < small).all()


def test_uint8_and_float_frames_give_the_same_scores_and_bad_ranges_are_refused():
    from persistworld.metrics.frames import FrameError

    generator = torch.Generator().manual_seed(1)
    a = torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8, generator=generator)
    b = torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8, generator=generator)
    as_float = lambda u: u.float() / 127.5 - 1  # noqa: E731
    assert torch.allclose(ssim(a, b), ssim(as_float(a), as_float(b)), atol=1e-6)
    assert torch.allclose(psnr(a, b), psnr(as_float(a), as_float(b)), atol=1e-4)
    with pytest.raises(FrameError, match=r"must be in \[-1, 1\].*\[0, 255\]"):
        ssim(a.float(), b.float())  # 0..255 passed as floats: refused, not mis-scaled
    nan = as_float(a).clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(FrameError, match="prediction: 1 of .* NaN"):
        psnr(nan, as_float(b))
    with pytest.raises(FrameError, match="differ in shape"):
        ssim(as_float(a), as_float(b)[:, :, :20])
    with pytest.raises(FrameError, match=r"\(\.\.\., 3, H, W\)"):
        psnr(as_float(a)[:, :2], as_float(b)[:, :2])
    with pytest.raises(FrameError, match="dtype torch.int64"):
        psnr(a.long(), b.long())
    overshoot = (as_float(a) * 1.1).clamp(-1.1, 1.1)  # a model's small overshoot is clipped, not refused
    assert torch.allclose(psnr(overshoot, as_float(b)), psnr(overshoot.clamp(-1, 1), as_float(b)))


def test_haarpsi_is_one_for_identical_images_falls_with_noise_and_names_its_minimum_size():
    from persistworld.metrics.frames import FrameError
    from persistworld.metrics.image import haarpsi_unit

    x = torch.rand(2, 3, 48, 80, generator=torch.Generator().manual_seed(2))
    slightly, strongly = ((x + level * torch.randn_like(x)).clamp(0, 1) for level in (0.05, 0.3))
    assert torch.allclose(haarpsi_unit(x, x), torch.ones(2), atol=1e-5)
    assert (haarpsi_unit(strongly, x) < haarpsi_unit(slightly, x)).all() and (haarpsi_unit(slightly, x) < 1).all()
    with pytest.raises(FrameError, match="at least 32 px"):
        haarpsi_unit(x[..., :24, :24], x[..., :24, :24])


def test_conversion_to_unit_range_is_exact_and_leaves_the_input_alone():
    from persistworld.metrics.frames import check_pair, unit_range

    x = torch.linspace(-1.2, 1.2, 3 * 8 * 8).reshape(3, 8, 8)
    before = x.clone()
    assert torch.equal(unit_range(x), (x.clamp(-1, 1) + 1) / 2)  # bit for bit
    assert torch.equal(x, before)  # converted into a new tensor
    u = torch.arange(192, dtype=torch.uint8).reshape(1, 3, 8, 8)
    assert torch.equal(unit_range(u), u.float() / 255)
    raw, _ = check_pair(x, x, convert=False)  # checked, not converted: the suite converts chunk by chunk
    assert raw is x
