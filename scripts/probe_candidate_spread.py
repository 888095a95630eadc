"""How much branch candidates differ in reward under each collection sampler: to check before spending RL compute.

    python scripts/probe_candidate_spread.py --data-root runs/demo/data --groups 4

Collects the same groups (episodes, branch points, seeds) with the shipped baseline under several
collection samplers and prints, per sampler, the within-group reward std and spread (std / |mean|).
The toy RL run collapsed when the spread was below about 1%.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from persistworld.assets import BASELINE_DEMO
from persistworld.data.reader import EpisodeDataset
from persistworld.metrics.reward import Reward, reward_preset
from persistworld.models.checkpoint import load_world_model
from persistworld.models.sampler import SamplerConfig
from persistworld.presets import demo
from persistworld.rl.advantages import within_group_spread
from persistworld.rl.branching import BranchingConfig, collect_group
from persistworld.rollout.engine import EpisodeTrack
from persistworld.train.pretrain import data_layout

SETTINGS = {
    "1 step": SamplerConfig(num_steps=1),
    "3 steps": SamplerConfig(num_steps=3),
    "3 steps, churn 3": SamplerConfig(num_steps=3, s_churn=3.0),
    "5 steps, churn 10": SamplerConfig(num_steps=5, s_churn=10.0),
    "10 steps, churn 20": SamplerConfig(num_steps=10, s_churn=20.0),
}


def main() -> None:
    """Parse the arguments, collect the groups under each sampler, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=BASELINE_DEMO)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train", help="The split whose episodes the groups branch from.")
    parser.add_argument("--only", nargs="*", default=None, help="Only these samplers (names as in the table).")
    args = parser.parse_args()
    cfg = demo()
    model, stats, _ = load_world_model(args.checkpoint, expected_layout=data_layout(cfg.data.resolution, cfg.clips))
    dataset = EpisodeDataset(args.data_root, args.split, resolution=cfg.data.resolution, stats=stats)
    reward = Reward(reward_preset("demo"))
    rng = np.random.default_rng(args.seed)
    episodes = [dataset.episode_ids[int(i)] for i in rng.integers(len(dataset.episode_ids), size=args.groups)]
    tracks = [EpisodeTrack.load(dataset, e) for e in episodes]
    print(f"{args.checkpoint}: {args.groups} groups x {args.candidates} candidates, demo reward, L = 2\n")
    columns = [
        "collection sampler",
        "reward mean",
        "within-group std",
        "spread (std / mean)",
        "pixel std",
        "s per group",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|")
    for name, sampler in SETTINGS.items():
        if args.only is not None and name not in args.only:
            continue
        config = BranchingConfig(candidates=args.candidates, max_prefix=3, sampler=sampler)
        began = time.perf_counter()
        # the same branch points and noise seeds for every sampler
        groups = [collect_group(model, t, cfg.clips, config, reward, args.seed + i) for i, t in enumerate(tracks)]
        seconds = (time.perf_counter() - began) / len(groups)
        rewards = torch.stack([g.reward.total for g in groups])
        pixel = float(torch.stack([g.predicted.std(0).mean() for g in groups]).mean())
        print(
            f"| {name} | {float(rewards.mean()):.4f} | {float(rewards.std(1).mean()):.4f} | "
            f"{within_group_spread(rewards):.2%} | {pixel:.4f} | {seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
