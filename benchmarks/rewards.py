"""Reward benchmark: the batched multi-view reward vs a per-frame loop over the usual library calls.

    python benchmarks/rewards.py                    # CPU, 192x320 and 48x80, about 3 minutes
    python benchmarks/rewards.py --device cuda
    python benchmarks/rewards.py --lpips-weights ~/.cache/torch/hub/checkpoints   # bf16 check, real LPIPS

One workload is what an RL iteration scores: K = 16 candidates x 4 frames x 3 views against the
ground truth of the same clip (all candidates share it), with the paper's reward terms SSIM, LPIPS
(AlexNet) and PSNR. LPIPS uses random backbone weights for the timings (speed does not depend on the
values; the real weights cannot be downloaded here); ``--lpips-weights`` gives the real backbone to
the last line's accuracy check.

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
import copy
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from persistworld.metrics.lpips import LPIPS, backbone_state_of_lpips_package
from persistworld.metrics.reward import Reward, RewardConfig
from persistworld.metrics.suite import MetricSuite

K, F, V = 16, 4, 3
TERMS = {"ssim": 1.0, "lpips_alex": 1.0, "psnr": 1 / 32}
BFLOAT16_ROW = "batched, LPIPS backbone bf16"
APPROXIMATE = {BFLOAT16_ROW}  # methods allowed to differ from the float32 rewards


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


def paper_rewards(model: LPIPS, device: str) -> dict[str, Reward]:
    """The paper's reward with `model` as its LPIPS, by LPIPS backbone precision (float32, bfloat16)."""
    return {
        precision: Reward(
            RewardConfig(terms=dict(TERMS), lpips_precision=precision), device, lpips_models={"lpips_alex": model}
        )
        for precision in ("float32", "bfloat16")
    }


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
    parser.add_argument(
        "--layers", action="store_true", help="instead: AlexNet's layers at 192x320, time and multiply-adds per second"
    )
    parser.add_argument(
        "--lpips-weights",
        help="AlexNet backbone checkpoint (file, or a folder with torchvision's file name): the bfloat16 accuracy "
        "check then uses the real LPIPS instead of the random backbone",
    )
    args = parser.parse_args()
    if args.layers:
        print("\n".join(alexnet_layers(args.device, args.repeats)))
        return
    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():  # the reference package builds torchvision nets with the deprecated `pretrained=`
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision.models._utils")
        lpips_model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).to(args.device).eval()
    ours = LPIPS("alex", backbone_state_of_lpips_package(lpips_model), source="random, = the loop's")
    rewards = paper_rewards(ours, args.device)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, K={K} x F={F} x V={V} = {K * F * V} images")
    print(f"{'resolution':>10} | {'method':<29} | {'seconds':>8} | {'images/s':>9} | {'faster loop / this':>18} | "
          f"{'max |R - R_batched|':>19}")  # fmt: skip
    print("-" * 108)
    for height, width in ((192, 320), (48, 80)):
        for name, seconds, speedup, deviation in time_resolution(height, width, rewards, lpips_model, ours, args):
            print(f"{f'{height}x{width}':>10} | {name:<29} | {seconds:8.3f} | {K * F * V / seconds:9.1f} | "
                  f"{speedup:>18} | {deviation:>19}")  # fmt: skip
    accuracy_model = LPIPS.from_local_weights("alex", args.lpips_weights) if args.lpips_weights else ours
    print("\n".join(bfloat16_on_real_frames(accuracy_model, args.device)))


def alexnet_layers(device: str, repeats: int, batch: int = 16) -> list[str]:
    """Per layer of LPIPS's AlexNet on 16 images at 192x320: seconds and GMAC/s, in float32 and bfloat16.

    Says whether the convolutions, which dominate the reward at this size, run near the CPU's peak.
    """
    import torchvision

    features = torchvision.models.alexnet(weights=None).features[:12].eval().to(device)
    features = features.to(memory_format=torch.channels_last)
    images = torch.rand(batch, 3, 192, 320, device=device).contiguous(memory_format=torch.channels_last)
    row = "{:<12} | {:<18} | {:>6} | {:>8} | {:>7} | {:>8} | {:>7}".format
    lines = [row("layer", "output", "GMAC", "ms fp32", "GMAC/s", "ms bf16", "GMAC/s")]
    totals = [0.0, 0.0, 0.0]
    h = {torch.float32: images, torch.bfloat16: images.to(torch.bfloat16)}
    layers = {dtype: features if dtype == torch.float32 else copy.deepcopy(features).to(dtype) for dtype in h}
    with torch.inference_mode():
        for index, layer in enumerate(features):
            seconds = {}
            for dtype in h:
                run = layers[dtype][index]
                seconds[dtype] = best_seconds(lambda run=run, x=h[dtype]: run(x), repeats)
                h[dtype] = run(h[dtype])
            out = h[torch.float32]
            macs = conv_gmacs(layer, out) if isinstance(layer, torch.nn.Conv2d) else 0.0
            totals = [totals[0] + macs, totals[1] + seconds[torch.float32], totals[2] + seconds[torch.bfloat16]]
            lines.append(
                row(f"{index:>2} {type(layer).__name__}", str(tuple(out.shape)), *_rates(macs, *seconds.values()))
            )
    lines.append(row("all", "", *_rates(*totals)))
    return lines


def conv_gmacs(layer: torch.nn.Conv2d, output: torch.Tensor) -> float:
    """Multiply-adds (in billions) of a direct convolution that produced `output` (groups of 1)."""
    return output.numel() * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1] / 1e9


def _rates(macs: float, fp32: float, bf16: float) -> list[str]:
    """GMAC, then milliseconds and GMAC/s in float32 and in bfloat16."""
    return [f"{macs:.2f}", f"{fp32 * 1e3:.1f}", f"{macs / fp32:.1f}", f"{bf16 * 1e3:.1f}", f"{macs / bf16:.1f}"]


def bfloat16_on_real_frames(model: LPIPS, device: str) -> list[str]:
    """What the bfloat16 LPIPS backbone does to rewards of candidates that differ as little as an RL group's.

    Real DROID frames (the test fixture's episode, 192x320): the ground truth is a clip of F frames x
    V views; every candidate is the same blend towards the frames 3 steps later plus its own faint
    noise, so the candidates' rewards are close and their order is easy to upset. `model` is the
    random-backbone LPIPS unless ``--lpips-weights`` gives the real one (random LPIPS values are
    smaller than real ones, so the relative error may differ).
    """
    from persistworld.data.clips import frames_to_tensor
    from persistworld.data.reader import EpisodeDataset

    rewards = paper_rewards(model, device)

    fixture = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "droid_mini"
    frames = frames_to_tensor(EpisodeDataset(fixture, "train", resolution=(192, 320)).load_frames("0"))
    target, later = frames[10 : 10 + F], frames[13 : 13 + F]  # (F, V, 3, H, W) in [-1, 1]
    noise = torch.randn(K, *target.shape, generator=torch.Generator().manual_seed(0))
    prediction = (0.7 * target + 0.3 * later + 0.02 * noise).clamp(-1, 1)[:, None].to(device)
    target = target[None].to(device)
    exact, fast = (rewards[p](prediction, target) for p in ("float32", "bfloat16"))
    spread = float(exact.total.std())
    change = float((fast.total - exact.total).abs().max())
    lpips_exact, lpips_fast = exact.per_frame["lpips_alex"], fast.per_frame["lpips_alex"]
    relative = float(((lpips_fast - lpips_exact).abs() / lpips_exact).max())
    backbone = "random backbone" if model.source.startswith("random") else f"backbone {model.source}"
    same = sum(
        (exact.total[i] > exact.total[j]) == (fast.total[i] > fast.total[j]) for i in range(K) for j in range(i + 1, K)
    )
    return [
        f"\nbfloat16 LPIPS backbone on real DROID frames at 192x320 ({K} candidates, {backbone}, LPIPS mean "
        f"{float(lpips_exact.mean()):.4f}): LPIPS moved by at most {relative:.2%} of its value; rewards by at most "
        f"{change:.1e}, {change / spread:.1%} of the candidates' reward std ({spread:.1e}); "
        f"{same} of {K * (K - 1) // 2} candidate pairs ordered as in float32",
    ]


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
        BFLOAT16_ROW: lambda: fast(prediction, target),
        "batched, target repeated": lambda: exact(prediction, repeated),
        "loop (skimage + lpips)": lambda: loop_reward(prediction, target, skimage_ssim_psnr, lpips_model),
        "loop (torchmetrics + lpips)": lambda: loop_reward(prediction, target, torchmetrics_ssim_psnr, lpips_model),
    }
    deviation = {}
    for name, method in methods.items():
        value = method()
        deviation[name] = float((getattr(value, "total", value).cpu() - batched).abs().max())
        assert name in APPROXIMATE or deviation[name] <= 2e-3, f"{name} disagrees with the batched reward"
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
