"""Ctrl-World backend benchmark: U-Net throughput against the GPU's bf16 peak, rollout-step latency, one RL iteration.

    python benchmarks/ctrl_world.py --device cuda                     # the full preset at 192x320 (issue #6)
    python benchmarks/ctrl_world.py --device cuda --compile            # adds torch.compile'd U-Net rows
    python benchmarks/ctrl_world.py --preset tiny --resolution 32x48 --sampler-steps 2 --candidates 2   # CPU check

Three measurements, each in a fresh process so that its peak memory is its own:

- **U-Net forward**: one denoiser call (the U-Net and the action encoder; the VAE latents of the
  condition are cached after the first call, as in a sampler) on a batch of rows. Its FLOPs are
  counted by `torch.utils.flop_counter` on the same call; achieved TFLOP/s = FLOPs / median time,
  and the share of the GPU's dense bf16 peak (a table of known GPUs, or `--peak-tflops`).
- **Rollout step**: one autoregressive step of one episode (one clip, 3 views: VAE encode of the
  history, the sampler with Ctrl-World's guidance ramp 1 -> 2, so 2 U-Net calls per sampler step,
  VAE decode), at each `--sampler-steps`.
- **RL iteration**: `optimization_step` of the post-training loop with K candidates (one group,
  prefix up to 1 clip, L = 2 clips, 1-step collection, the demo reward, the update with its backward
  pass), with `--micro-batch` candidates per forward/backward pass of the update.

Weights are random (speed does not depend on their values). Seconds are also given relative to a
reference workload (50 matmuls of 512x512 float32) measured in the same run: these machines are noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from model import PeakMemory, reference_seconds
from persistworld.cli.common import parse_resolution
from persistworld.data.clips import ClipConfig
from persistworld.metrics.reward import Reward, reward_preset
from persistworld.models.ctrl_world.config import CTRL_WORLD_PRESETS
from persistworld.models.ctrl_world.model import CtrlWorldModel
from persistworld.models.protocol import Condition
from persistworld.models.sampler import SamplerConfig
from persistworld.rl.adapters import PolicyAdapters
from persistworld.rl.branching import BranchingConfig
from persistworld.rl.posttrain import PosttrainConfig, StepWork, optimization_step
from persistworld.rollout.engine import EpisodeTrack, rollout
from persistworld.train.pretrain import data_layout
from persistworld.utils.distributed import Distributed

CLIPS = ClipConfig(history=(0, 0, -8, -6, -4, -2), num_future=4)  # Ctrl-World: 6 history + current + 4
EPISODE_FRAMES = 40
STAGES = ("rollout", "reward", "update")
#: Dense bf16 tensor-core peaks (TFLOP/s, without sparsity) from the vendors' data sheets, by device name.
BF16_PEAK_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.5,
                    "H100 NVL": 835.5, "A100": 312.0, "L40S": 362.1, "A10G": 70.0, "L4": 121.0}  # fmt: skip


def bf16_peak(device: str, override: float | None) -> float | None:
    """The device's dense bf16 peak in TFLOP/s: `override`, else the table's entry for its name, else None."""
    if override is not None:
        return override
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


def build_model(options: dict) -> CtrlWorldModel:
    """The backend with random weights, in eval mode, on the options' device."""
    torch.manual_seed(0)
    config = replace(CTRL_WORLD_PRESETS[options["preset"]](), precision=options["precision"],
                     gradient_checkpointing=options["checkpointing"])  # fmt: skip
    model = CtrlWorldModel(config, data_layout(options["resolution"], CLIPS)).to(options["device"]).eval()
    if options["compile"]:
        model.network.unet.forward = torch.compile(model.network.unet.forward)
    return model


def random_condition(rows: int, resolution: tuple[int, int], device: str) -> Condition:
    h, w = resolution
    return Condition(
        history=torch.rand(rows, len(CLIPS.history), 3, 3, h, w, device=device) * 2 - 1,
        current=torch.rand(rows, 3, 3, h, w, device=device) * 2 - 1,
        history_actions=torch.rand(rows, len(CLIPS.history), 7, device=device),
        actions=torch.rand(rows, CLIPS.num_future + 1, 7, device=device),
        action_mask=torch.ones(rows, device=device),
        texts=["put the marker in the cup"] * rows,
    )


def random_track(resolution: tuple[int, int]) -> EpisodeTrack:
    """One episode of random frames and states with an instruction (the text tower runs too)."""
    frames = torch.rand(EPISODE_FRAMES, 3, 3, *resolution) * 2 - 1
    return EpisodeTrack("0", frames, torch.rand(EPISODE_FRAMES, 7), text="put the marker in the cup")


def timed(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median seconds of `fn` over `repeats` calls, after one warm-up call."""
    fn()
    seconds = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def unet_forward(options: dict, rows: int) -> dict:
    """FLOPs and time of one denoiser call on `rows` rows (latents of the condition cached)."""
    device, resolution = options["device"], options["resolution"]
    model = build_model(options)
    cond = random_condition(rows, resolution, device)
    x, sigma = torch.randn(model.target_shape(cond), device=device), torch.full((rows,), 1.0, device=device)
    with torch.no_grad():
        model.denoise(x, sigma, cond)  # fills the latent cache: the counted call is the U-Net's work
        with FlopCounterMode(display=False) as counter:
            model.denoise(x, sigma, cond)
        seconds = timed(lambda: model.denoise(x, sigma, cond), device, options["repeats"])
    flops = counter.get_total_flops()
    return {"case": f"U-Net forward, {rows} rows", "seconds": seconds, "flops": flops, "tflops": flops / seconds / 1e12}


def rollout_step(options: dict, sampler_steps: int) -> dict:
    """Seconds of one rollout step of one episode (VAE encode, guided sampler, VAE decode)."""
    device, resolution = options["device"], options["resolution"]
    model = build_model(options)
    track = random_track(resolution)
    sampler = SamplerConfig(num_steps=sampler_steps, cfg_scale=2.0, cfg_scale_first=1.0)
    memory = PeakMemory(device)
    seconds = timed(lambda: rollout(model, [track], [8], CLIPS, sampler, 1, device=device), device, options["repeats"])
    return {"case": f"rollout step, {sampler_steps} sampler steps", "seconds": seconds,
            "peak_mb": memory.megabytes()}  # fmt: skip


def rl_iteration(options: dict, candidates: int) -> dict:
    """Seconds and peak memory of one post-training step with one group of K candidates."""
    device, resolution = options["device"], options["resolution"]
    model = build_model(options)
    config = PosttrainConfig(
        groups_per_step=1, micro_batch=options["micro_batch"], reward=reward_preset("demo"),
        branching=BranchingConfig(candidates=candidates, max_prefix=1),
    )  # fmt: skip
    adapters = PolicyAdapters(model, config.lora)
    optimizer = torch.optim.AdamW(adapters.trainable_parameters(), lr=config.lr)
    reward = Reward(config.reward, device)
    episodes = {"0": random_track(resolution)}
    memory = PeakMemory(device)
    step = (model, adapters, optimizer)
    rows = [
        optimization_step(
            *step,
            StepWork([("0", seed)]),
            episodes.__getitem__,
            CLIPS,
            reward,
            config,
            Distributed(),
            torch.device(device),
        )  # fmt: skip
        for seed in range(options["repeats"] + 1)  # the first warms up
    ]
    stages = {f"{name} (s)": statistics.median(r[f"time_{name}"] for r in rows[1:]) for name in STAGES}
    return {"case": f"RL iteration, K = {candidates}", "seconds": sum(stages.values()), **stages,
            "peak_mb": memory.megabytes()}  # fmt: skip


def run_case(case: Callable[[dict, int], dict], options: dict, value: int) -> dict:
    """One measurement plus this process's reference timing (run in a fresh process)."""
    torch.set_float32_matmul_precision("high")  # TF32 where the GPU has it; no effect on the CPU
    result = case(options, value)
    return {**result, "reference_s": reference_seconds(options["device"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full", choices=sorted(CTRL_WORLD_PRESETS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=parse_resolution, default=(192, 320), help="per view, HxW")
    parser.add_argument("--precision", nargs="+", default=["bf16", "fp32"], help="rows per precision")
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile'd U-Net")
    parser.add_argument("--rows", nargs="+", type=int, default=[2, 16], help="U-Net forward batch sizes")
    parser.add_argument("--sampler-steps", nargs="+", type=int, default=[50, 10])
    parser.add_argument("--candidates", nargs="+", type=int, default=[16], help="K of the RL iteration")
    parser.add_argument("--micro-batch", type=int, default=4, help="candidates per update pass (0 = all)")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing in the U-Net")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after a warm-up (median)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: known GPUs)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["unet", "rollout", "rl"])
    args = parser.parse_args()
    cases = [("unet", unet_forward, args.rows), ("rollout", rollout_step, args.sampler_steps),
             ("rl", rl_iteration, args.candidates)]  # fmt: skip
    context = mp.get_context("spawn")
    results = []
    for precision in args.precision:
        for compiled in (False, True) if args.compile else (False,):
            options = {"preset": args.preset, "device": args.device, "resolution": args.resolution,
                       "precision": precision, "compile": compiled, "micro_batch": args.micro_batch,
                       "checkpointing": args.checkpointing, "repeats": args.repeats}  # fmt: skip
            for name, case, values in cases:
                if name in args.skip or (compiled and name == "rl"):
                    continue
                for value in values:
                    with context.Pool(1) as pool:
                        row = pool.apply(run_case, (case, options, value))
                    results.append({**row, "precision": precision, "compiled": compiled})
                    print(f"done: {row['case']} ({precision}{', compiled' if compiled else ''})", flush=True)
    print_table(results, args)


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    peak = bf16_peak(args.device, args.peak_tflops)
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    h, w = args.resolution
    print(f"\n{args.preset} preset, 3 views x {h}x{w}, {device}; median of {args.repeats} after a warm-up; "
          f"bf16 peak {f'{peak:.0f} TFLOP/s' if peak else 'unknown'}\n")  # fmt: skip
    print("| case | precision | compiled | seconds | / reference | GFLOP | TFLOP/s | of bf16 peak | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        flops = f"{r['flops'] / 1e9:.4g} | {r['tflops']:.3g}" if "flops" in r else " | "
        share = f"{r['tflops'] / peak:.0%}" if "flops" in r and peak else ""
        memory = f"{r['peak_mb']:.0f}" if "peak_mb" in r else ""
        print(f"| {r['case']} | {r['precision']} | {'yes' if r['compiled'] else 'no'} | {r['seconds']:.3f} | "
              f"{r['seconds'] / r['reference_s']:.1f}x | {flops} | {share} | {memory} |")  # fmt: skip
    for r in results:
        if "update (s)" in r:
            stages = ", ".join(f"{name} {r[f'{name} (s)']:.2f} s" for name in STAGES)
            print(f"\n{r['case']} ({r['precision']}): {stages}; micro-batch {args.micro_batch}, gradient "
                  f"checkpointing {'on' if args.checkpointing else 'off'}")  # fmt: skip
    references = {r["reference_s"] for r in results}
    print(f"\nreference = 50 matmuls of 512x512 float32 on {args.device}, same run: "
          f"{statistics.median(references) * 1000:.1f} ms (median over the cases' processes)")  # fmt: skip


if __name__ == "__main__":
    main()
