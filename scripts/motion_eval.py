"""Does a checkpoint follow the robot? Freeze, copy, teacher-forced and rollouts with own and swapped actions.

    python scripts/motion_eval.py runs/follow/map/model.pt --config configs/baseline_demo.yaml \
        --split test --episodes 32 --steps 14 --out docs/results/motion_baseline.json

Prints one markdown row per condition and camera group (`persistworld.evaluate.motion`), and writes
the per-episode scores and their means as JSON with --out. The sampler is the config's; pass
``--set sampler.num_steps=... --set sampler.draws=...`` to evaluate another.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from persistworld.cli.common import load_config
from persistworld.data.reader import EpisodeDataset
from persistworld.evaluate.motion import MotionTrack, evaluate_motion, markdown_table
from persistworld.models.checkpoint import load_world_model
from persistworld.rollout.engine import EpisodeTrack
from persistworld.train.pretrain import data_layout
from persistworld.utils.atomic import write_json_atomic


def picture(result, path: Path, title: str, num_future: int, episode: int = 0) -> None:
    """Ground truth, rollout and rollout with swapped actions of one episode at 4 steps, all 3 views side by side."""
    import matplotlib.figure

    from persistworld.utils.figures import save_figure

    rows = ("ground truth", "rollout", "rollout, swapped actions", "freeze")
    horizon = result.frames["rollout"].shape[1]
    steps = sorted({1, 4, 8, horizon // num_future})
    figure = matplotlib.figure.Figure(figsize=(3.2 * len(steps), 1.0 * len(rows) + 0.6))
    axes = figure.subplots(len(rows), len(steps), squeeze=False)
    for r, row in enumerate(rows):
        for c, step in enumerate(steps):
            frame = result.frames[row][episode, step * num_future - 1]  # (V, 3, H, W), the step's last frame
            strip = torch.cat(list(frame), dim=-1).permute(1, 2, 0).add(1).div(2).clamp(0, 1).numpy()
            axis = axes[r][c]
            axis.imshow(strip)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(f"step {step} ({step * num_future / 5:.1f} s)", fontsize=8)
            if c == 0:
                axis.set_ylabel(row, fontsize=7)
    figure.suptitle(f"{title}: episode {result.episode_ids[episode]}, single samples", fontsize=9)
    figure.tight_layout()
    save_figure(figure, path, dpi=130)


def main() -> None:
    """Parse the arguments, evaluate, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key=value config override")
    parser.add_argument("--split", default="test")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", choices=("ema", "model"), default="ema")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--picture", type=Path, default=None, help="PNG strip of the first episode's frames")
    parser.add_argument("--picture-title", default="")
    args = parser.parse_args()

    cfg = load_config(args.preset, args.config, args.overrides)
    layout = data_layout(cfg.data.resolution, cfg.clips)
    model, stats, _ = load_world_model(args.checkpoint, expected_layout=layout, weights=args.weights)
    dataset = EpisodeDataset(cfg.data.root, args.split, resolution=cfg.data.resolution, stats=stats)
    episodes = []
    for episode_id in dataset.episode_ids[: args.episodes]:
        labels = dataset.load_segmentation(episode_id)
        episodes.append(
            MotionTrack(EpisodeTrack.load(dataset, episode_id), None if labels is None else torch.from_numpy(labels))
        )
    result = evaluate_motion(model, episodes, cfg.clips, cfg.sampler, args.steps, seed=args.seed)
    print(
        f"{args.checkpoint} ({args.weights}) on {len(episodes)} {args.split} episodes, {args.steps} steps, "
        f"sampler {vars(cfg.sampler)}, regions from {result.regions}\n"
    )
    print(markdown_table(result))
    if args.picture is not None:
        picture(result, args.picture, args.picture_title or str(args.checkpoint), cfg.clips.num_future)
    if args.out is not None:
        summary = result.summary() | {
            "checkpoint": str(args.checkpoint),
            "weights": args.weights,
            "split": args.split,
            "steps": args.steps,
            "sampler": vars(cfg.sampler),
        }
        write_json_atomic(args.out, summary | {"scores": result.scores})


if __name__ == "__main__":
    main()
