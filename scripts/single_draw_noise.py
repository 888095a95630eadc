"""How much one 1-step draw depends on its input noise: two draws of the same clips, and the static background.

    python scripts/single_draw_noise.py --data-root runs/demo/data --split val

Prints, on the probe's clips, the std of the difference between two draws (different noise) next to
the std of a draw itself (both in the model's target space: the residual future - current), and the
mean absolute error in static pixels (where the true future equals the current frame) of a single
draw, of the mean of 16 draws, and of copying the current frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from persistworld.assets import BASELINE_DEMO
from persistworld.data.clips import ClipSampler
from persistworld.data.reader import EpisodeDataset
from persistworld.models.checkpoint import load_world_model
from persistworld.models.protocol import Condition
from persistworld.models.sampler import SamplerConfig, sample
from persistworld.presets import demo
from persistworld.train.pretrain import data_layout
from persistworld.train.probe import HeldOutProbe, ProbeConfig, probe_batches


def main() -> None:
    """Parse the arguments, sample, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=BASELINE_DEMO)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--clips", type=int, default=64)
    args = parser.parse_args()
    cfg = demo()
    model, stats, _ = load_world_model(args.checkpoint, expected_layout=data_layout(cfg.data.resolution, cfg.clips))
    dataset = EpisodeDataset(args.data_root, args.split, resolution=cfg.data.resolution, stats=stats)
    probe = HeldOutProbe(ClipSampler(dataset, cfg.clips), ProbeConfig(num_clips=args.clips, seed=0))
    rows = {"draw std": [], "difference std": [], "single": [], "mean of 16": [], "copy": []}
    with torch.no_grad():
        for chunk in probe_batches(probe):
            cond = Condition.from_batch(chunk)
            one = SamplerConfig(num_steps=1)
            first = sample(model, cond, one, generator=torch.Generator().manual_seed(1)).x0
            second = sample(model, cond, one, generator=torch.Generator().manual_seed(2)).x0
            averaged = sample(
                model, cond, SamplerConfig(num_steps=1, draws=16), generator=torch.Generator().manual_seed(3)
            ).x0
            current = chunk.current[:, None].expand_as(chunk.future)
            static = ((chunk.future - current).abs().amax(dim=-3, keepdim=True) < 1 / 127.5).expand_as(current)
            rows["draw std"].append(first.std())
            rows["difference std"].append((first - second).std())
            predictions = {
                "single": model.decode(first, cond),
                "mean of 16": model.decode(averaged, cond),
                "copy": current,
            }
            for name, prediction in predictions.items():
                rows[name].append((prediction - chunk.future).abs()[static].mean())
    print(f"{args.checkpoint} on {args.split}: {args.clips} clips\n")
    print(f"std of one draw (residual space): {float(torch.stack(rows['draw std']).mean()):.4f}")
    print(f"std of the difference of two draws: {float(torch.stack(rows['difference std']).mean()):.4f}")
    for name in ("single", "mean of 16", "copy"):
        print(f"mean |error| in static pixels, {name}: {float(torch.stack(rows[name]).mean()):.5f}")


if __name__ == "__main__":
    main()
