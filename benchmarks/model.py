"""World-model benchmark: train step time and peak memory, rollout seconds per step, per model preset.

    python benchmarks/model.py                      # tiny and demo on CPU (and CUDA when present), ~2 min
    python benchmarks/model.py --presets demo --device cuda

Each case runs in a fresh process, so that its peak memory (CPU: max RSS growth; CUDA: max allocated)
is its own. Timings are also given relative to a fixed reference workload (a 512x512 float32 matmul
loop) measured in the same run, because these machines are noisy: the ratios travel between runs,
the seconds do not.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch

from persistworld.data.clips import ClipBatch, ClipConfig, ClipId
from persistworld.models.compact import COMPACT_PRESETS, CompactWorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout
from persistworld.train.optim import OptimConfig, make_optimizer
from persistworld.train.pretrain import data_layout
from persistworld.train.step import StepConfig, optimizer_step, teacher_forced_loss

RESOLUTION = (48, 80)


def reference_seconds(device: str) -> float:
    """Seconds for 50 matmuls of 512x512 (best of 3)."""
    a = torch.randn(512, 512, device=device)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(50):
            a = (a @ a).tanh()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


class PeakMemory:
    """Peak memory of the work after its creation: CUDA's max allocated, or on a CPU the max RSS's growth.

    Each benchmark case runs in a fresh process, so the RSS growth is that case's own.
    """

    def __init__(self, device: str):
        self.device = device
        self.rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def megabytes(self) -> float:
        """The peak so far, in MB."""
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rss_before_kb) / 1024


def random_batch(batch_size: int, clips: ClipConfig, device: str) -> ClipBatch:
    h, w = RESOLUTION
    hn, f = len(clips.history), clips.num_future
    return ClipBatch(
        history=torch.rand(batch_size, hn, 3, 3, h, w) * 2 - 1,
        current=torch.rand(batch_size, 3, 3, h, w) * 2 - 1,
        future=torch.rand(batch_size, f, 3, 3, h, w) * 2 - 1,
        history_actions=torch.rand(batch_size, hn, 7),
        actions=torch.rand(batch_size, f + 1, 7),
        future_is_pad=torch.zeros(batch_size, f, dtype=torch.bool),
        texts=[""] * batch_size,
        clip_ids=[ClipId("train", "0", 0)] * batch_size,
    ).to(device)


def measure(preset: str, device: str, batch_size: int, rollout_rows: int, repeats: int) -> dict:
    """One case, run in its own process."""
    torch.manual_seed(0)
    clips = ClipConfig()
    model = CompactWorldModel(COMPACT_PRESETS[preset](), data_layout(RESOLUTION, clips)).to(device)
    optimizer = make_optimizer(model.parameters(), OptimConfig())
    generator = torch.Generator(device).manual_seed(0)
    batch = random_batch(batch_size, clips, device)
    memory = PeakMemory(device)
    times = []
    for _ in range(repeats + 1):  # the first step warms up
        start = time.perf_counter()
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
        with autocast:
            loss, _ = teacher_forced_loss(model, batch, model.config.edm, StepConfig(), generator)
        optimizer_step(model, optimizer, loss, 1e-4, OptimConfig())
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak_mb = memory.megabytes()

    model.eval()
    length = 14 * clips.num_future + 1
    tracks = [
        EpisodeTrack(str(i), torch.rand(length, 3, 3, *RESOLUTION) * 2 - 1, torch.rand(length, 7))
        for i in range(rollout_rows)
    ]
    result = rollout(model, tracks, [0] * rollout_rows, clips, SamplerConfig(num_steps=10), 3, device=device)
    return {
        "preset": preset,
        "device": device,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_step_s": min(times[1:]),
        "peak_mb": peak_mb,
        "rollout_step_s": min(s.seconds for s in result.steps),
        "reference_s": reference_seconds(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "demo"])
    parser.add_argument("--device", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rollout-rows", type=int, default=4, help="episodes rolled out together")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    context = mp.get_context("spawn")
    rows = []
    for device in args.device:
        for preset in args.presets:
            with context.Pool(1) as pool:
                rows.append(pool.apply(measure, (preset, device, args.batch_size, args.rollout_rows, args.repeats)))
    print(
        f"threads: {torch.get_num_threads()}, batch {args.batch_size} clips of 3 views x {RESOLUTION[0]}x"
        f"{RESOLUTION[1]}, 4 history + 1 current + 4 future frames; rollout: {args.rollout_rows} episodes, "
        "10 Euler steps per clip\n"
    )
    print(
        "| preset | device | params (M) | train step (s) | step / reference | peak memory (MB) "
        "| rollout s / step | rollout step / reference |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['device']} | {r['parameters_m']:.2f} | {r['train_step_s']:.3f} | "
            f"{r['train_step_s'] / r['reference_s']:.1f}x | {r['peak_mb']:.0f} | {r['rollout_step_s']:.3f} | "
            f"{r['rollout_step_s'] / r['reference_s']:.1f}x |"
        )
    print(
        "\nreference = 50 matmuls of 512x512 float32 on the same device, same run: "
        + ", ".join(f"{r['device']} {r['reference_s'] * 1000:.1f} ms" for r in rows[:: len(args.presets)])
    )


if __name__ == "__main__":
    main()
