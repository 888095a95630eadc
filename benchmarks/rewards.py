"""Reward benchmark: the batched multi-view reward vs a per-frame loop over the usual library calls.

    python benchmarks/rewards.py                    # CPU, 192x320 and 48x80, about 2 minutes
    python benchmarks/rewards.py --device cuda

One workload is what an RL iteration scores: K = 16 candidates x 4 frames x 3 views against the
ground truth of the same clip (all candidates share it), with the paper's reward terms SSIM, LPIPS
(AlexNet) and PSNR. LPIPS uses random backbone
weights (speed does not depend on the values; the real weights cannot be downloaded here).

- batched: `persistworld.metrics.reward.Reward` on all images at once, the ground truth given once
  (its SSIM statistics and LPIPS features are computed once for the 16 candidates);
- batched, target repeated: the same call with the ground truth repeated per candidate (no sharing),
  which shows what batching alone buys;
- loop (skimage): per image, ``skimage.metrics.structural_similarity`` and ``peak_signal_noise_ratio``
  on numpy plus the ``lpips`` package on one image pair;
- loop (torchmetrics): per image, torchmetrics' functional SSIM and PSNR plus the ``lpips`` package;
- the LPIPS share of the batched reward and of the loops, timed alone (where the time goes).

The speed-ups are ratios of times measured in the same run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from persistworld.metrics.lpips import LPIPS, backbone_state_of_lpips_package
from persistworld.metrics.reward import Reward, RewardConfig
from persistworld.metrics.suite import MetricSuite

K, F, V = 16, 4, 3
TERMS = {"ssim": 1.0, "lpips_alex": 1.0, "psnr": 1 / 32}


def best_seconds(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up (allocations, lazy init)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def make_frames(height: int, width: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """K candidates (K, 1 clip, F, V, 3, H, W) around one ground truth (1, F, V, 3, H, W)."""
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(1, F, V, 3, height, width, generator=generator) * 2 - 1
    noise = torch.randn(K, *target.shape, generator=generator)
    prediction = (target + 0.2 * noise).clamp(-1, 1)
    return prediction.to(device), target.to(device)


def loop_reward(prediction: torch.Tensor, target: torch.Tensor, ssim_psnr: Callable, lpips_model) -> torch.Tensor:
    """The reward of each candidate, computed one image at a time."""
    totals = torch.zeros(K)
    for k in range(K):
        for f in range(F):
            for v in range(V):
                x, y = prediction[k, 0, f, v], target[0, f, v]
                ssim_value, psnr_value = ssim_psnr(x, y)
                with torch.no_grad():
                    lpips_value = float(lpips_model(x[None], y[None]))  # lpips takes [-1, 1]
                totals[k] += (ssim_value - lpips_value + psnr_value / 32) / (F * V)
    return totals


def skimage_ssim_psnr(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = ((x.cpu().numpy().transpose(1, 2, 0) + 1) / 2).astype(np.float64)
    b = ((y.cpu().numpy().transpose(1, 2, 0) + 1) / 2).astype(np.float64)
    ssim_value = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1
    )
    return float(ssim_value), float(peak_signal_noise_ratio(a, b, data_range=1.0))


def torchmetrics_ssim_psnr(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    a, b = ((x[None] + 1) / 2), ((y[None] + 1) / 2)
    ssim_value = structural_similarity_index_measure(a, b, data_range=1.0)
    return float(ssim_value), float(peak_signal_noise_ratio(a, b, data_range=1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import lpips

    warnings.filterwarnings("ignore", category=UserWarning)  # torchvision's deprecation notes inside lpips
    torch.manual_seed(0)
    lpips_model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).to(args.device).eval()
    ours = LPIPS("alex", backbone_state_of_lpips_package(lpips_model), source="random, = the loop's")
    reward = Reward(RewardConfig(terms=dict(TERMS)), device=args.device, lpips_models={"lpips_alex": ours})
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, K={K} x F={F} x V={V} = {K * F * V} images")
    print(f"{'resolution':>10} | {'method':<27} | {'seconds':>8} | {'images/s':>9} | {'batched speed-up':>16}")
    print("-" * 83)
    for height, width in ((192, 320), (48, 80)):
        for name, seconds in time_resolution(height, width, reward, lpips_model, ours, args.device, args.repeats):
            print(f"{f'{height}x{width}':>10} | {name:<27} | {seconds[0]:8.3f} | {K * F * V / seconds[0]:9.1f} | "
                  f"{seconds[1]:>16}")  # fmt: skip


def loop_lpips(prediction: torch.Tensor, target: torch.Tensor, lpips_model: torch.nn.Module) -> None:
    """The loop's LPIPS calls alone, one image pair at a time."""
    with torch.no_grad():
        for k in range(K):
            for f in range(F):
                for v in range(V):
                    lpips_model(prediction[k, 0, f, v][None], target[0, f, v][None])


def time_resolution(
    height: int, width: int, reward: Reward, lpips_model: torch.nn.Module, ours: LPIPS, device: str, repeats: int
) -> list[tuple[str, tuple[float, str]]]:
    """(method, (seconds, speed-up of the batched reward over it)) at one resolution, then the LPIPS share of each."""
    prediction, target = make_frames(height, width, device)
    repeated = target.expand_as(prediction)
    batched = reward(prediction, target).total.cpu()
    methods = {
        "batched (persistworld)": lambda: reward(prediction, target),
        "batched, target repeated": lambda: reward(prediction, repeated),
        "loop (skimage + lpips)": lambda: loop_reward(prediction, target, skimage_ssim_psnr, lpips_model),
        "loop (torchmetrics + lpips)": lambda: loop_reward(prediction, target, torchmetrics_ssim_psnr, lpips_model),
    }
    for name, method in methods.items():  # the same numbers, so that the speed-up compares like with like
        value = method()
        assert torch.allclose(getattr(value, "total", value).cpu(), batched, atol=2e-3), f"{name} disagrees"
    seconds = {name: best_seconds(method, repeats) for name, method in methods.items()}
    reference = seconds["batched (persistworld)"]
    rows = [(name, (s, "" if s == reference else f"{s / reference:.1f}x")) for name, s in seconds.items()]
    lpips_only = MetricSuite(["lpips_alex"], device, lpips_models={"lpips_alex": ours})
    parts = {
        "  LPIPS share, batched": lambda: lpips_only(prediction, target),
        "  LPIPS share, loop": lambda: loop_lpips(prediction, target, lpips_model),
    }
    return rows + [(name, (best_seconds(method, repeats), "(part)")) for name, method in parts.items()]


if __name__ == "__main__":
    main()
