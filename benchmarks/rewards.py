"""Reward benchmark: the batched multi-view reward vs a per-frame loop over the usual library calls.

    python benchmarks/rewards.py                    # CPU, 192x320 and 48x80, about 2 minutes
    python benchmarks/rewards.py --device cuda

One workload is what an RL iteration scores: K = 16 candidates x 4 frames x 3 views against the
ground truth of the same clip (all candidates share it), with the paper's reward terms SSIM, LPIPS
(AlexNet) and PSNR. LPIPS uses random backbone
weights (speed does not depend on the values; the real weights cannot be downloaded here).

- batched: `persistworld.metrics.reward.Reward` on all images at once, the ground truth given once
  (its SSIM statistics and LPIPS features are computed once for the 16 candidates);
- batched, LPIPS backbone bf16: the same with ``lpips_precision="bfloat16"`` (LPIPS's convolutions in
  bfloat16, the rest float32), which is fast only where bfloat16 arithmetic is (GPUs, CPUs with
  AVX512-BF16 or AMX); its last column says how far it moves the rewards;
- batched, target repeated: the same call with the ground truth repeated per candidate (no sharing),
  which shows what batching alone buys;
- loop (skimage): per image, ``skimage.metrics.structural_similarity`` and ``peak_signal_noise_ratio``
  on numpy plus the ``lpips`` package on one image pair;
- loop (torchmetrics): per image, torchmetrics' functional SSIM and PSNR plus the ``lpips`` package;
- the LPIPS share of the batched reward and of the loops, timed alone (where the time goes).

The speed-ups are the faster loop's time over each method's, measured in the same run (these
machines are noisy); the issue's target is batched >= 5x the loop.
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
    rewards = {
        precision: Reward(
            RewardConfig(terms=dict(TERMS), lpips_precision=precision), args.device, lpips_models={"lpips_alex": ours}
        )
        for precision in ("float32", "bfloat16")
    }
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, K={K} x F={F} x V={V} = {K * F * V} images")
    print(f"{'resolution':>10} | {'method':<29} | {'seconds':>8} | {'images/s':>9} | {'faster loop / this':>18} | "
          f"{'max |R - R_batched|':>19}")  # fmt: skip
    print("-" * 108)
    for height, width in ((192, 320), (48, 80)):
        for name, seconds, speedup, deviation in time_resolution(height, width, rewards, lpips_model, ours, args):
            print(f"{f'{height}x{width}':>10} | {name:<29} | {seconds:8.3f} | {K * F * V / seconds:9.1f} | "
                  f"{speedup:>18} | {deviation:>19}")  # fmt: skip


def loop_lpips(prediction: torch.Tensor, target: torch.Tensor, lpips_model: torch.nn.Module) -> None:
    """The loop's LPIPS calls alone, one image pair at a time."""
    with torch.no_grad():
        for k in range(K):
            for f in range(F):
                for v in range(V):
                    lpips_model(prediction[k, 0, f, v][None], target[0, f, v][None])


def time_resolution(
    height: int, width: int, rewards: dict[str, Reward], lpips_model: torch.nn.Module, ours: LPIPS,
    args: argparse.Namespace,
) -> list[tuple[str, float, str, str]]:  # fmt: skip
    """Rows (method, seconds, the faster loop's time / this, largest reward difference to the batched float32 one).

    Then the LPIPS share of each, timed alone. Every float32 method must give the batched rewards (to
    2e-3), so that the speed-up compares like with like; the bfloat16 row shows how far it moves them.
    """
    prediction, target = make_frames(height, width, args.device)
    repeated = target.expand_as(prediction)
    exact, fast = rewards["float32"], rewards["bfloat16"]
    batched = exact(prediction, target).total.cpu()
    methods = {
        "batched (persistworld)": lambda: exact(prediction, target),
        "batched, LPIPS backbone bf16": lambda: fast(prediction, target),
        "batched, target repeated": lambda: exact(prediction, repeated),
        "loop (skimage + lpips)": lambda: loop_reward(prediction, target, skimage_ssim_psnr, lpips_model),
        "loop (torchmetrics + lpips)": lambda: loop_reward(prediction, target, torchmetrics_ssim_psnr, lpips_model),
    }
    deviation = {}
    for name, method in methods.items():
        value = method()
        deviation[name] = float((getattr(value, "total", value).cpu() - batched).abs().max())
        assert "bf16" in name or deviation[name] <= 2e-3, f"{name} disagrees with the batched reward"
    seconds = {name: best_seconds(method, args.repeats) for name, method in methods.items()}
    loop = min(s for name, s in seconds.items() if name.startswith("loop"))
    rows = [(name, s, f"{loop / s:.1f}x", f"{deviation[name]:.1e}") for name, s in seconds.items()]
    parts = {
        "  LPIPS share, batched": MetricSuite(["lpips_alex"], args.device, lpips_models={"lpips_alex": ours}),
        "  LPIPS share, batched bf16": MetricSuite(
            ["lpips_alex"], args.device, lpips_models={"lpips_alex": ours}, lpips_precision="bfloat16"
        ),
    }
    timings = {
        name: best_seconds(lambda suite=suite: suite(prediction, target), args.repeats) for name, suite in parts.items()
    }
    timings["  LPIPS share, loop"] = best_seconds(lambda: loop_lpips(prediction, target, lpips_model), args.repeats)
    return rows + [(name, s, "(part)", "") for name, s in timings.items()]


if __name__ == "__main__":
    main()
