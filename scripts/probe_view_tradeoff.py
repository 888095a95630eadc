"""Does the reward make candidates trade one camera for another? Measured on groups, before any training.

    python scripts/probe_view_tradeoff.py --config configs/droid.yaml --checkpoint runs/droid/pretrain/model.pt

Collects groups of K candidates with the post-training settings of a config (branching, sampler,
reward) on its training episodes and splits each candidate's reward into the camera groups' rewards
(external = views 0+1, wrist = view 2; the same terms and weights, each group's views averaged).
Per camera group it prints the within-group std of its reward and its weighted share of the total,
and, between the groups, the within-group correlation over the K candidates. Why: the advantage
ranks candidates by the total; a camera group whose weighted std is small barely moves that ranking,
and a negative correlation means the candidates the update favours for one group are worse in the
other, so the update buys one with the other by construction. Per-view balance (`view_weights`)
changes the first, not the second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from persistworld.cli.common import load_config
from persistworld.data.reader import EpisodeDataset
from persistworld.metrics.reward import Reward
from persistworld.models.checkpoint import load_world_model
from persistworld.rl.branching import collect_group
from persistworld.rollout.engine import EpisodeTrack
from persistworld.rollout.report import GROUPS
from persistworld.train.pretrain import data_layout


def camera_group_rewards(reward: Reward, per_frame: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Camera group -> (K,) reward of each candidate from that group's views alone (`Reward.of_views`)."""
    return {group: reward.of_views(per_frame, views).total for group, views in GROUPS.items()}


def group_weights(reward: Reward) -> dict[str, float]:
    """Camera group -> its share of the total reward (the sum of its views' normalised weights)."""
    weights = np.asarray(reward.config.view_weights, dtype=float)
    return {group: float(weights[list(views)].sum() / weights.sum()) for group, views in GROUPS.items()}


def main() -> None:
    """Parse the arguments, collect the groups, print one row per group and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="YAML config (data, clips, posttrain)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the model the groups are collected with")
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    args = parser.parse_args()
    cfg = load_config("demo", args.config, args.overrides)
    post = cfg.posttrain
    model, stats, _ = load_world_model(args.checkpoint, expected_layout=data_layout(cfg.data.resolution, cfg.clips))
    model.eval()
    dataset = EpisodeDataset(cfg.data.root, cfg.data.train_split, resolution=cfg.data.resolution, stats=stats)
    reward = Reward(post.reward, lpips_weights=post.lpips_weights)
    shares = group_weights(reward)
    rng = np.random.default_rng(args.seed)
    episodes = [dataset.episode_ids[int(i)] for i in rng.integers(len(dataset.episode_ids), size=args.groups)]
    print(
        f"{args.checkpoint}: {args.groups} groups x {post.branching.candidates} candidates on "
        f"{cfg.data.root} ({cfg.data.train_split}); reward {reward.describe()['formula']}, "
        f"view weights {list(post.reward.view_weights)} "
        f"(external {shares['external']:.2f}, wrist {shares['wrist']:.2f})\n"
    )
    print("| group | episode | external std | wrist std | weighted std external / wrist | correlation |")
    print("|---|---|---|---|---|---|")
    rows = []
    for index, episode in enumerate(episodes):
        track = EpisodeTrack.load(dataset, episode)
        group = collect_group(model, track, cfg.clips, post.branching, reward, args.seed + index)
        by_camera = camera_group_rewards(reward, group.reward.per_frame)
        ext, wrist = by_camera["external"].double(), by_camera["wrist"].double()
        correlation = float(torch.corrcoef(torch.stack([ext, wrist]))[0, 1])
        ext_std, wrist_std = float(ext.std()), float(wrist.std())
        ratio = shares["external"] * ext_std / (shares["wrist"] * wrist_std)
        rows.append((ext_std, wrist_std, ratio, correlation))
        print(
            f"| {index} | {episode} | {ext_std:.2e} | {wrist_std:.2e} | {ratio:.2f} | {correlation:+.2f} |", flush=True
        )
    ext_std, wrist_std, ratio, correlation = np.asarray(rows).T
    print(
        f"\nmedian over {len(rows)} groups: external std {np.median(ext_std):.2e}, "
        f"wrist std {np.median(wrist_std):.2e}, "
        f"weighted external / wrist {np.median(ratio):.2f}, correlation {np.median(correlation):+.2f} "
        f"(negative in {int((correlation < 0).sum())} of {len(rows)})"
    )


if __name__ == "__main__":
    main()
