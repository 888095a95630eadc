"""Held-out 1-step SSIM / PSNR of a checkpoint under several sampler settings, against copying the current frame.

    python scripts/probe_samplers.py runs/baseline/pretrain/model.pt --config configs/baseline_demo.yaml --split val

Picks nothing by itself: it prints a markdown table (and writes it as JSON with --out) so that the
sampler of a baseline is chosen on the validation split and then reported once on the test split.
The clips and the noise are the probe's (fixed by --seed), so rows differ only by the sampler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from persistworld.cli.common import load_config
from persistworld.data.clips import ClipSampler
from persistworld.data.reader import EpisodeDataset
from persistworld.models.checkpoint import load_world_model
from persistworld.models.sampler import SamplerConfig
from persistworld.train.pretrain import data_layout
from persistworld.train.probe import HeldOutProbe, ProbeConfig
from persistworld.utils.atomic import write_json_atomic

SETTINGS = {
    "1 step": SamplerConfig(num_steps=1),
    "2 steps": SamplerConfig(num_steps=2),
    "3 steps": SamplerConfig(num_steps=3),
    "5 steps": SamplerConfig(num_steps=5),
    "10 steps": SamplerConfig(num_steps=10),
    "10 steps, Heun": SamplerConfig(num_steps=10, order=2),
    "10 steps, churn 10": SamplerConfig(num_steps=10, s_churn=10.0),
    "1 step, mean of 2 draws": SamplerConfig(num_steps=1, draws=2),
    "1 step, mean of 4 draws": SamplerConfig(num_steps=1, draws=4),
    "1 step, mean of 8 draws": SamplerConfig(num_steps=1, draws=8),
    "1 step, mean of 16 draws": SamplerConfig(num_steps=1, draws=16),
}


def main() -> None:
    """Parse the arguments, probe every sampler setting, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--split", default="val")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--data-root", type=Path, default=None, help="Dataset root (default: the config's).")
    parser.add_argument("--only", nargs="*", default=None, help="Probe only these settings (names as in the table).")
    parser.add_argument(
        "--weights", choices=("ema", "model"), default="ema", help="The checkpoint's EMA or raw training weights."
    )
    args = parser.parse_args()

    cfg = load_config(args.preset, args.config, [])
    if args.data_root is not None:
        cfg.data.root = args.data_root
    layout = data_layout(cfg.data.resolution, cfg.clips)
    model, stats, _ = load_world_model(args.checkpoint, expected_layout=layout, weights=args.weights)
    dataset = EpisodeDataset(cfg.data.root, args.split, resolution=cfg.data.resolution, stats=stats)
    probe = HeldOutProbe(ClipSampler(dataset, cfg.clips), ProbeConfig(num_clips=args.clips, seed=args.seed))
    rows = {}
    print(f"{args.checkpoint} ({args.weights} weights) on {args.split}: {args.clips} clips, seed {args.seed}\n")
    print(
        "| sampler | SSIM | PSNR (dB) | copy SSIM | copy PSNR (dB) | motion PSNR (dB) | copy motion PSNR (dB) "
        "| action gain (dB) |\n|---|---|---|---|---|---|---|---|"
    )
    for name, sampler in SETTINGS.items():
        if args.only is not None and name not in args.only:
            continue
        scores = probe(model, sampler, model.config.edm)
        rows[name] = scores | {"sampler": vars(sampler)}
        print(
            f"| {name} | {scores['ssim']:.4f} | {scores['psnr']:.2f} | {scores['copy_ssim']:.4f} | "
            f"{scores['copy_psnr']:.2f} | {scores['motion_psnr']:.2f} | {scores['copy_motion_psnr']:.2f} | "
            f"{scores['action_gain_db']:.3f} |",
            flush=True,
        )
    if args.out is not None:
        meta = {"checkpoint": str(args.checkpoint), "weights": args.weights, "split": args.split}
        write_json_atomic(args.out, meta | {"rows": rows})


if __name__ == "__main__":
    main()
