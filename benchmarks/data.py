"""Data-layer benchmark: simulator throughput (1 vs 2 workers), DROID decoding, clip sampling cold vs cached.

    python benchmarks/data.py                     # full run (~2 min on 2 cores)
    python benchmarks/data.py --sim-episodes 4    # quicker

Prints a markdown table; every ratio compares two measurements taken in the same run, because
these machines are noisy. Targets (issue #3): 2 workers >= 1.7x one worker; cached clip sampling
>= 50x decoding per clip.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from persistworld.data.clips import ClipConfig, ClipSampler, FrameCache
from persistworld.data.reader import EpisodeDataset

REPO = Path(__file__).resolve().parents[1]


def droid_root(explicit: str | None) -> Path:
    for candidate in (
        explicit,
        os.environ.get("PERSISTWORLD_DROID_SUBSET"),
        REPO.parent / "shared/data/droid_subset",
    ):
        if candidate and (Path(candidate) / "annotation").is_dir():
            return Path(candidate)
    return REPO / "tests/fixtures/droid_mini"


def bench_sim(episodes: int, frames: int, workers: int) -> tuple[float, float, float]:
    """Generate `episodes` lift episodes; returns (seconds, frames/s end to end, frames/s steady state).

    End to end includes starting the workers and building their scenes (a few seconds, once per
    worker). Steady state counts the frames of the episodes that finished after each worker's first
    one, over the time from the `workers`-th completion to the last, so one-time setup drops out.
    """
    from persistworld.sim.generate import SimConfig, run_generation

    config = SimConfig(tasks=("lift",), episodes={"train": episodes}, num_frames=frames, workers=workers)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        finished = [(time.perf_counter(), row["frames"]) for row in run_generation(root, config)]
        seconds = time.perf_counter() - start
    warm = finished[workers - 1 :]  # every worker has finished one episode (and built its scene)
    steady = sum(n for _, n in warm[1:]) / (warm[-1][0] - warm[0][0])
    return seconds, sum(n for _, n in finished) / seconds, steady


def bench_decode(root: Path, resolution: tuple[int, int] | None) -> float:
    """3-view frames/s decoding every episode of the dataset."""
    total, start = 0, time.perf_counter()
    for split in ("train", "val"):
        dataset = EpisodeDataset(root, split, resolution=resolution)
        for episode_id in dataset.episode_ids:
            total += len(dataset.load_frames(episode_id))
    return total / (time.perf_counter() - start)


def bench_sampler(root: Path, resolution: tuple[int, int], cold_clips: int, warm_clips: int) -> tuple[float, float]:
    """Clips/s without a cache (decode per clip) and with a warm in-memory cache."""
    dataset = EpisodeDataset(root, "train", resolution=resolution)
    config = ClipConfig(history=(0, 0, -28, -20, -12, -4))
    rng = np.random.default_rng(0)
    cold = ClipSampler(dataset, config, cache=FrameCache(max_bytes=0))
    ids = [cold.clip_ids[i] for i in rng.integers(0, len(cold), cold_clips)]
    start = time.perf_counter()
    for clip_id in ids:
        cold.get(clip_id)
    cold_rate = cold_clips / (time.perf_counter() - start)

    warm = ClipSampler(dataset, config)
    for episode_id in dataset.episode_ids:  # fill the cache
        warm.cache.frames(dataset, episode_id)
    ids = [warm.clip_ids[i] for i in rng.integers(0, len(warm), warm_clips)]
    start = time.perf_counter()
    for first in range(0, warm_clips, 32):
        warm.batch(ids[first : first + 32])
    return cold_rate, warm_clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sim-episodes", type=int, default=12, help="episodes per simulator measurement")
    parser.add_argument("--sim-frames", type=int, default=64, help="frames per simulated episode")
    parser.add_argument("--droid", default=None, help="DROID subset root (default: ../shared or the test fixture)")
    parser.add_argument("--skip-sim", action="store_true")
    args = parser.parse_args()

    root = droid_root(args.droid)
    rows: list[tuple[str, str, str]] = []
    if not args.skip_sim:
        one_s, one, one_steady = bench_sim(args.sim_episodes, args.sim_frames, workers=1)
        two_s, two, two_steady = bench_sim(args.sim_episodes, args.sim_frames, workers=2)
        setup = f"{args.sim_episodes} lift episodes x {args.sim_frames} frames, 96x160 per view"
        rows += [
            (
                "simulator, 1 worker, end to end",
                f"{one:.1f} frames/s ({one_s:.0f} s)",
                setup + ", incl. scene setup",
            ),
            (
                "simulator, 2 workers, end to end",
                f"{two:.1f} frames/s ({two_s:.0f} s)",
                f"{two / one:.2f}x 1 worker",
            ),
            (
                "simulator, 1 worker, steady state",
                f"{one_steady:.1f} frames/s",
                "from each worker's first completion to the last",
            ),
            (
                "simulator, 2 workers, steady state",
                f"{two_steady:.1f} frames/s",
                f"**{two_steady / one_steady:.2f}x** 1 worker (target >= 1.7x)",
            ),
        ]
    native = bench_decode(root, None)
    small = bench_decode(root, (48, 80))
    rows += [
        ("DROID decode, 192x320", f"{native:.0f} frames/s", f"{root.name}: all episodes, 3 views per frame"),
        ("DROID decode + resize to 48x80", f"{small:.0f} frames/s", "area interpolation in swscale"),
    ]
    cold, warm = bench_sampler(root, (48, 80), cold_clips=30, warm_clips=2048)
    rows += [
        (
            "clip sampler, cold (decode per clip)",
            f"{cold:.1f} clips/s",
            "6 history + current + 4 future frames, 3 views, 48x80",
        ),
        (
            "clip sampler, cached",
            f"{warm:.0f} clips/s",
            f"**{warm / cold:.0f}x** cold (target >= 50x), batches of 32",
        ),
    ]
    print(f"\ndata benchmark ({os.cpu_count()} CPUs, torch threads {__import__('torch').get_num_threads()})\n")
    print("| measurement | result | notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
