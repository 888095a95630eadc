"""The metric suite (batched = per-image loop) and the reward (formula, signs, aggregation, bad input)."""

from __future__ import annotations

import pytest
import torch

from persistworld.errors import ConfigError
from persistworld.metrics.frames import FrameError
from persistworld.metrics.image import fsim_unit, gmsd_unit, haarpsi_unit, ms_ssim_unit, psnr, ssim
from persistworld.metrics.reward import Reward, RewardConfig, reward_preset
from persistworld.metrics.suite import WEIGHT_FREE, MetricSuite


def _pair(shape: tuple[int, ...], seed: int = 0, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=generator) * 2 - 1
    prediction = (target + noise * torch.randn(shape, generator=generator)).clamp(-1, 1)
    return prediction, target


def test_batched_suite_equals_a_per_image_loop():
    prediction, target = _pair((2, 3, 3, 3, 48, 64))  # K=2 candidates x F=3 frames x V=3 views
    suite = MetricSuite([*WEIGHT_FREE, "lpips_alex"], chunk=7, lpips_random_backbone=True)  # chunks split rows
    batched = suite(prediction, target)
    unit = lambda t: (t + 1) / 2  # noqa: E731
    singles = {
        "ssim": lambda p, t: ssim(p, t),
        "psnr": lambda p, t: psnr(p, t),
        "ms_ssim": lambda p, t: ms_ssim_unit(unit(p), unit(t)),
        "haarpsi": lambda p, t: haarpsi_unit(unit(p), unit(t)),
        "gmsd": lambda p, t: gmsd_unit(unit(p), unit(t)),
        "fsim": lambda p, t: fsim_unit(unit(p), unit(t)),
        "lpips_alex": lambda p, t: suite._lpips["lpips_alex"](unit(p), unit(t)),
    }
    assert set(singles) == set(suite.names)
    for name, single in singles.items():
        assert batched[name].shape == (2, 3, 3)
        loop = torch.stack(
            [single(p[None], t[None])[0] for p, t in zip(prediction.flatten(0, 2), target.flatten(0, 2), strict=True)]
        )
        assert torch.allclose(batched[name].flatten(), loop, atol=1e-5), name
    assert "RANDOM" in suite.describe()["lpips_alex"] and "3 scales at 48x64" in suite.describe((48, 64))["ms_ssim"]
    perfect = suite(target, target)
    for name in ("gmsd", "fsim"):  # identical images: GMSD 0 (lower is better), FSIM 1; noisy ones worse
        assert torch.allclose(perfect[name], torch.full_like(perfect[name], float(name == "fsim")), atol=1e-4)
        assert (batched[name] != perfect[name]).all()


def test_reward_follows_the_formula_with_signs_views_and_clip_aggregation():
    prediction, target = _pair((4, 2, 2, 3, 3, 32, 32), seed=2)  # B=4 x C=2 clips x F=2 x V=3
    config = RewardConfig(terms={"ssim": 1.0, "lpips_alex": 0.5, "psnr": 1 / 32}, view_weights=(1.0, 1.0, 2.0))
    reward = Reward(config, lpips_random_backbone=True)
    result = reward(prediction, target)
    frames = result.per_frame
    views = torch.tensor([0.25, 0.25, 0.5])
    clip = lambda name: (frames[name].mean(-2) * views).sum(-1)  # noqa: E731
    expected_clip = clip("ssim") - 0.5 * clip("lpips_alex") + clip("psnr") / 32
    assert torch.allclose(result.per_clip, expected_clip, atol=1e-6)
    assert torch.allclose(result.total, expected_clip.mean(-1), atol=1e-6)
    assert result.total.shape == (4,) and result.terms["psnr"].shape == (4, 2)
    assert reward.describe()["formula"] == "1*ssim - 0.5*lpips_alex + 0.03125*psnr"
    perfect = reward(target, target)
    assert (perfect.total > result.total).all()  # identical frames earn more than noisy ones


def test_demo_reward_needs_no_weights_and_paper_reward_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    prediction, target = _pair((1, 1, 2, 3, 3, 32, 32), seed=3)
    assert torch.isfinite(Reward(reward_preset("demo"))(prediction, target).total).all()
    with pytest.raises(Exception, match="alexnet-owt-7be5be79.pth"):
        Reward(reward_preset("paper"))


def test_reward_refuses_bad_configs_and_bad_frames():
    with pytest.raises(ConfigError, match="weights are magnitudes"):
        Reward(RewardConfig(terms={"ssim": 1.0, "lpips_alex": -1.0}), lpips_random_backbone=True)
    with pytest.raises(Exception, match="unknown metric `fid`"):
        Reward(RewardConfig(terms={"fid": 1.0}))
    with pytest.raises(ConfigError, match="every weight is 0"):
        Reward(RewardConfig(terms={"ssim": 0.0}))
    dropped = Reward(RewardConfig(terms={"ssim": 1.0, "haarpsi": 0.0}))  # weight 0: not computed (16 px is fine)
    assert dropped.suite.names == ("ssim",)
    with pytest.raises(ConfigError, match="view_weights"):
        Reward(RewardConfig(terms={"ssim": 1.0}, view_weights=(0.0, 0.0, 0.0)))
    reward = Reward(RewardConfig(terms={"ssim": 1.0}))
    prediction, target = _pair((1, 1, 2, 3, 3, 32, 32))
    with pytest.raises(FrameError, match="2 views but reward.view_weights has 3"):
        reward(prediction[..., :2, :, :, :], target[..., :2, :, :, :])
    with pytest.raises(FrameError, match="differ in shape"):
        reward(prediction, target[:, :, :1])
    with pytest.raises(FrameError, match="add a clip axis"):
        reward(prediction[0, 0], target[0, 0])


def test_a_target_shared_by_k_candidates_gives_the_same_scores_as_repeating_it():
    prediction, target = _pair((4, 2, 3, 3, 48, 64), seed=5)  # K=4 candidates x F=2 x V=3
    shared = target[0]  # one ground truth (F, V, 3, H, W) for all candidates
    suite = MetricSuite([*WEIGHT_FREE, "lpips_alex"], chunk=5, lpips_random_backbone=True)  # 5: uneven passes
    broadcast = suite(prediction, shared)
    repeated = suite(prediction, shared.expand_as(prediction))
    for name in suite.names:
        assert broadcast[name].shape == (4, 2, 3)
        assert torch.allclose(broadcast[name], repeated[name], atol=1e-5), name
    with pytest.raises(FrameError, match="trailing dimensions"):
        suite(prediction, shared[:, :2])  # a view missing from the ground truth
    reward = Reward(RewardConfig(terms={"ssim": 1.0, "psnr": 1 / 32}))
    assert torch.allclose(
        reward(prediction[:, None], shared[None]).total,
        reward(prediction[:, None], target[:1, None].expand(4, -1, -1, -1, -1, -1, -1)).total,
    )


def test_ssim_in_small_passes_equals_one_pass(monkeypatch):
    """SSIM splits large chunks into passes of a few images (cache); the split must not change a score."""
    import persistworld.metrics.image as image

    prediction, target = _pair((3, 2, 3, 3, 40, 48), seed=6)  # K=3 x F=2 x V=3
    whole = MetricSuite(["ssim"], chunk=16)(prediction, target[0])
    monkeypatch.setattr(image, "SSIM_PIXELS_PER_PASS", 2 * 40 * 48)  # 2 images per pass: 6 targets in 3 passes
    split = MetricSuite(["ssim"], chunk=16)(prediction, target[0])
    assert torch.allclose(whole["ssim"], split["ssim"], atol=1e-6)
    monkeypatch.setattr(image, "SSIM_PIXELS_PER_PASS", 1)  # fewer pixels than an image: still one image per pass
    assert torch.allclose(whole["ssim"], MetricSuite(["ssim"], chunk=4)(prediction, target[0])["ssim"], atol=1e-6)


def test_lpips_in_bfloat16_is_close_named_and_refused_when_misspelt():
    prediction, target = _pair((2, 2, 3, 3, 64, 64), seed=7)
    exact = MetricSuite(["lpips_alex"], lpips_random_backbone=True)
    model = exact._lpips["lpips_alex"]
    fast = MetricSuite(["lpips_alex"], lpips_models={"lpips_alex": model}, lpips_precision="bfloat16")
    a, b = exact(prediction, target)["lpips_alex"], fast(prediction, target)["lpips_alex"]
    assert b.dtype == torch.float32 and not torch.equal(a, b)  # it did run in bfloat16 ...
    assert torch.allclose(a, b, rtol=1e-2, atol=0)  # ... and moved LPIPS by less than 1 %
    assert torch.equal(exact(prediction, target)["lpips_alex"], a)  # the shared module still computes in float32
    assert "bfloat16" in fast.describe()["lpips_alex"] and "bfloat16" not in exact.describe()["lpips_alex"]
    assert not any("_cast" in key for key in model.state_dict())  # the bf16 copy is not saved with the module
    with pytest.raises(Exception, match="lpips_precision `fp16`"):
        MetricSuite(["lpips_alex"], lpips_random_backbone=True, lpips_precision="fp16")
    with pytest.raises(ConfigError, match="reward.lpips_precision `half`"):
        Reward(RewardConfig(lpips_precision="half"), lpips_random_backbone=True)
    config = RewardConfig(terms={"ssim": 1.0, "lpips_alex": 1.0}, lpips_precision="bfloat16")
    assert "bfloat16" in Reward(config, lpips_random_backbone=True).describe()["metrics"]["lpips_alex"]
