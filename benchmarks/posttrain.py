"""Post-training benchmark: seconds per RL iteration, split into rollout, reward and update, and peak memory.

    python benchmarks/posttrain.py                    # the demo preset on CPU (and CUDA when present), ~3 min
    python benchmarks/posttrain.py --candidates 4 16 --device cuda

One iteration is `persistworld.rl.posttrain.optimization_step`, the loop's own step: collect
``groups`` branching groups of K candidates with the old policy (rollout: prefix + L = 2 clips per
candidate, 1 Euler step each, as the demo's collection sampler), score them (reward: the demo reward
SSIM + HaarPSI + PSNR/32), then the contrastive loss with its backward pass and the optimizer step
(update). The model is the demo-size compact model with random weights on random episodes: timing
does not depend on what the weights have learnt.

Each case runs in a fresh process, so that its peak memory (CPU: max RSS growth; CUDA: max allocated)
is its own. Seconds are also given relative to a reference workload (50 matmuls of 512x512 float32)
measured in the same run, because these machines are noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics

import torch

from model import RESOLUTION, PeakMemory, reference_seconds
from persistworld.data.clips import ClipConfig
from persistworld.metrics.reward import Reward, reward_preset
from persistworld.models.compact import COMPACT_PRESETS, CompactWorldModel
from persistworld.rl.adapters import PolicyAdapters
from persistworld.rl.branching import BranchingConfig
from persistworld.rl.posttrain import PosttrainConfig, StepWork, optimization_step
from persistworld.rollout.engine import EpisodeTrack
from persistworld.train.pretrain import data_layout
from persistworld.utils.distributed import Distributed

EPISODE_FRAMES = 60


def measure(preset: str, device: str, candidates: int, groups: int, repeats: int) -> dict:
    """One case, run in its own process."""
    torch.manual_seed(0)
    clips = ClipConfig()
    model = CompactWorldModel(COMPACT_PRESETS[preset](), data_layout(RESOLUTION, clips)).to(device).eval()
    config = PosttrainConfig(
        groups_per_step=groups, branching=BranchingConfig(candidates=candidates), reward=reward_preset("demo")
    )
    adapters = PolicyAdapters(model, config.lora)
    optimizer = torch.optim.AdamW(adapters.trainable_parameters(), lr=config.lr)
    reward = Reward(config.reward, device)
    frames, actions = (EPISODE_FRAMES, 3, 3, *RESOLUTION), (EPISODE_FRAMES, 7)
    episodes = {str(i): EpisodeTrack(str(i), torch.rand(frames) * 2 - 1, torch.rand(actions)) for i in range(4)}
    memory = PeakMemory(device)
    rows = []
    for seed in range(repeats + 1):  # the first iteration warms up
        work = StepWork([(str(i % len(episodes)), 1000 * seed + i) for i in range(groups)])
        logs = optimization_step(
            model, adapters, optimizer, work, episodes.__getitem__, clips, reward, config, Distributed(),
            torch.device(device),
        )  # fmt: skip
        rows.append(logs)
    peak_mb = memory.megabytes()
    stages = {name: statistics.median(r[f"time_{name}"] for r in rows[1:]) for name in ("rollout", "reward", "update")}
    return {
        "preset": preset, "device": device, "candidates": candidates, "groups": groups, **stages,
        "total": sum(stages.values()), "peak_mb": peak_mb, "reference_s": reference_seconds(device),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["demo"])
    parser.add_argument("--device", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    parser.add_argument("--candidates", nargs="+", type=int, default=[16], help="K")
    parser.add_argument("--groups", type=int, default=2, help="groups per iteration")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations after one warm-up (median)")
    args = parser.parse_args()
    context = mp.get_context("spawn")
    rows = []
    for device in args.device:
        for preset in args.presets:
            for k in args.candidates:
                with context.Pool(1) as pool:
                    rows.append(pool.apply(measure, (preset, device, k, args.groups, args.repeats)))
    print(
        f"threads: {torch.get_num_threads()}; per iteration: {args.groups} groups, prefix 0-3 clips, L = 2 clips "
        f"per candidate, 3 views x {RESOLUTION[0]}x{RESOLUTION[1]}, 4 frames per clip; median of {args.repeats}\n"
    )
    print(
        "| preset | device | K | rollout (s) | reward (s) | update (s) | iteration (s) | iteration / reference "
        "| peak memory (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['device']} | {r['candidates']} | {r['rollout']:.2f} | {r['reward']:.2f} | "
            f"{r['update']:.2f} | {r['total']:.2f} | {r['total'] / r['reference_s']:.0f}x | {r['peak_mb']:.0f} |"
        )
    references = {r["device"]: r["reference_s"] for r in rows}
    print(
        "\nreference = 50 matmuls of 512x512 float32 on the same device, same run: "
        + ", ".join(f"{device} {seconds * 1000:.1f} ms" for device, seconds in references.items())
    )


if __name__ == "__main__":
    main()
