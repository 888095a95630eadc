"""The baseline table of docs/baseline.md, rebuilt from committed `scripts/motion_eval.py` JSON files.

    python scripts/motion_table.py "old baseline=docs/results/motion_old_baseline.json" \
        "action-following=docs/results/motion_follow.json"

One row per model and condition (freeze, copy, teacher-forced 1-step, rollout), per camera group: SSIM,
PSNR and robot-region PSNR, then each model's action sensitivity and drift gap. tests/test_docs_tables.py
checks that docs/baseline.md holds exactly what this prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = ("freeze", "copy", "teacher-forced", "rollout")
LABELS = {
    "freeze": "freeze the start frame",
    "copy": "copy the current frame",
    "teacher-forced": "teacher-forced 1-step",
    "rollout": "rollout, 14 steps",
}
GROUPS = ("external", "wrist")


def table(models: list[tuple[str, dict]]) -> str:
    """The markdown table and the summary lines for (label, motion JSON) pairs."""
    header = ["| model | prediction | " + " | ".join(f"{g} SSIM | {g} PSNR | {g} robot PSNR" for g in GROUPS) + " |"]
    header.append("|---|---|" + "---|" * 3 * len(GROUPS))
    rows, notes = [], []
    for label, result in models:
        means = result["means"]
        for condition in ROWS:
            cells = []
            for group in GROUPS:
                m = means[condition][group]
                cells += [f"{m['ssim']:.4f}", f"{m['psnr']:.2f}", f"{m['robot_psnr']:.2f}"]
            rows.append(f"| {label} | {LABELS[condition]} | " + " | ".join(cells) + " |")
        sensitivity = result["action_sensitivity_db"]
        gap = {g: means["teacher-forced"][g]["psnr"] - means["rollout"][g]["psnr"] for g in GROUPS}
        beat = {g: means["rollout"][g]["psnr"] - means["freeze"][g]["psnr"] for g in GROUPS}
        robot = {g: means["rollout"][g]["robot_psnr"] - means["freeze"][g]["robot_psnr"] for g in GROUPS}
        edge = {g: means["rollout"][g]["edge_ratio"] for g in GROUPS}
        notes.append(
            f"- **{label}**: action sensitivity {', '.join(f'{g} {sensitivity[g]:+.2f} dB' for g in GROUPS)}; "
            f"rollout minus freeze {', '.join(f'{g} {beat[g]:+.2f} dB' for g in GROUPS)} "
            f"(robot region {', '.join(f'{g} {robot[g]:+.2f} dB' for g in GROUPS)}); "
            f"drift gap (teacher-forced minus rollout PSNR) {', '.join(f'{g} {gap[g]:.2f} dB' for g in GROUPS)}; "
            f"edge energy of the rollout / truth {', '.join(f'{g} {edge[g]:.2f}' for g in GROUPS)}."
        )
    return "\n".join(header + rows) + "\n\n" + "\n".join(notes)


def probe_table(probe: dict) -> str:
    """The pretraining probe's action sensitivity along training, from its rows (metrics.jsonl's probe stream)."""
    lines = [
        "| step | SSIM | copy SSIM | motion PSNR (dB) | swapped actions | copy | action sensitivity (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in probe["rows"]:
        lines.append(
            f"| {row['step']} | {row['ssim']:.4f} | {row['copy_ssim']:.4f} | {row['motion_psnr']:.2f} | "
            f"{row['motion_psnr_swapped']:.2f} | {row['copy_motion_psnr']:.2f} | {row['action_gain_db']:+.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse `label=path` pairs and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="label=path of a scripts/motion_eval.py JSON file")
    parser.add_argument("--probe", type=Path, default=None, help="print the probe table of this JSON instead")
    args = parser.parse_args()
    if args.probe is not None:
        print(probe_table(json.loads(args.probe.read_text())))
        return
    models = []
    for item in args.models:
        label, _, path = item.partition("=")
        models.append((label, json.loads(Path(path).read_text())))
    print(table(models))


if __name__ == "__main__":
    main()
