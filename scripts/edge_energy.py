r"""How much edge each model's predictions carry, against the ground truth's: blur or spurious detail?

    python scripts/edge_energy.py --config configs/droid.yaml --episodes 0 --steps 8 \
        --checkpoint runs/droid/pretrain/model.pt --name "teacher-forced baseline" \
        --checkpoint runs/droid/guard_balanced_seed0/model.pt --name "guard and balance seed 0"

Why: when post-training raises SSIM and PSNR but lowers the gradient- and wavelet-based metrics
(HaarPSI, GMSD, FSIM), the predictions may have become smoother than the truth or sharper than it
(spurious edges); both lower those metrics. The edge energy (mean Sobel gradient magnitude of the
grey image, per camera group) of the predictions against the truth's tells which.

Rolls the checkpoints out exactly as `persistworld evaluate` does (same episodes, start frames and
seeds; nothing is written) and prints one markdown row per model and camera group: the edge energy,
its ratio to the truth's and its change against the first model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from persistworld.cli.common import load_config
from persistworld.evaluate.cli_run import evaluate_with_config
from persistworld.metrics.sharpness import edge_energy
from persistworld.rollout.report import GROUPS  # external = views 0 + 1, wrist = view 2


def edge_rows(truth: torch.Tensor, predictions: dict[str, torch.Tensor]) -> list[str]:
    """Markdown rows per camera group: the truth's edge energy, then each model's with its ratio to the truth's.

    Each model's change is against the first model. Frames are (E, T, V, 3, H, W).
    """
    lines = ["| group | frames | edge energy | / truth | change vs first model |", "|---|---|---|---|---|"]
    for group, views in GROUPS.items():
        reference = edge_energy(truth[:, :, views])
        lines.append(f"| {group} | ground truth | {reference:.5f} | 1.000 | |")
        first = None
        for name, frames in predictions.items():
            energy = edge_energy(frames[:, :, views])
            first = energy if first is None else first
            lines.append(f"| {group} | {name} | {energy:.5f} | {energy / reference:.3f} | {energy / first - 1:+.2%} |")
    return lines


def main() -> None:
    """Parse the evaluation's options, roll the checkpoints out, print the rows."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--checkpoint", action="append", type=Path, required=True)
    parser.add_argument("--name", action="append", required=True)
    parser.add_argument("--episodes", type=int, help="0 = every episode of the split (as `persistworld evaluate`)")
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()

    cfg = load_config(args.preset, args.config, args.overrides)
    evaluation_config = cfg.evaluate
    for field, value in (("episodes", args.episodes), ("steps", args.steps)):
        if value is not None:
            setattr(evaluation_config, field, value)
    evaluation_config.videos = 10**6  # keep every episode's predicted frames, not only the videos' ones
    evaluation = evaluate_with_config(cfg, args.checkpoint, args.name, out=None)
    print(
        f"{evaluation_config.split}, {len(evaluation.episode_ids)} episodes, {evaluation_config.steps} steps, "
        f"seed {evaluation_config.seed}"
    )
    print("\n".join(edge_rows(evaluation.truth, {m.name: m.frames for m in evaluation.models})))


if __name__ == "__main__":
    main()
