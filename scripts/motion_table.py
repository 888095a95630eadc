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


def verdict_table(models: list[tuple[str, dict]]) -> str:
    """The targets of a base model that follows the robot, with each model's value (external / wrist).

    "met?" judges the last model; the ones before it are there for comparison.
    """

    def pair(values: dict, fmt: str) -> str:
        return " / ".join(format(values[g], fmt) for g in GROUPS)

    def gains(result: dict, metric: str, better: str, worse: str) -> dict:
        means = result["means"]
        return {g: means[better][g][metric] - means[worse][g][metric] for g in GROUPS}

    targets = [
        ("rollout beats freezing by >= 0.03 SSIM", lambda r: gains(r, "ssim", "rollout", "freeze"), "+.3f", 0.03),
        ("rollout beats freezing by >= 2 dB PSNR", lambda r: gains(r, "psnr", "rollout", "freeze"), "+.2f", 2.0),
        ("robot region >= 3 dB over freezing", lambda r: gains(r, "robot_psnr", "rollout", "freeze"), "+.2f", 3.0),
        ("action sensitivity >= 3 dB", lambda r: r["action_sensitivity_db"], "+.2f", 3.0),
        (
            "teacher-forced 1-step beats copying by >= 1 dB",
            lambda r: gains(r, "psnr", "teacher-forced", "copy"),
            "+.2f",
            1.0,
        ),
        (
            "rollout edge energy within 25 % of the truth's",
            lambda r: {g: r["means"]["rollout"][g]["edge_ratio"] for g in GROUPS},
            ".2f",
            None,
        ),
        (
            "drift gap: teacher-forced minus rollout PSNR > 0",
            lambda r: gains(r, "psnr", "teacher-forced", "rollout"),
            ".2f",
            0.0,
        ),
    ]
    lines = ["| target (external / wrist) | " + " | ".join(label for label, _ in models) + " | met? |"]
    lines.append("|---|" + "---|" * (len(models) + 1))
    for name, measure, fmt, threshold in targets:
        values = [measure(result) for _, result in models]
        last = values[-1]
        if threshold is None:
            met = [abs(last[g] - 1) <= 0.25 for g in GROUPS]
        else:
            met = [last[g] >= threshold if threshold else last[g] > 0 for g in GROUPS]
        verdict = "yes" if all(met) else ("no" if not any(met) else " / ".join("yes" if m else "no" for m in met))
        lines.append(f"| {name} | " + " | ".join(pair(v, fmt) for v in values) + f" | {verdict} |")
    return "\n".join(lines)


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
    parser.add_argument("--verdict", action="store_true", help="print the targets table (the last model is judged)")
    args = parser.parse_args()
    if args.probe is not None:
        print(probe_table(json.loads(args.probe.read_text())))
        return
    models = []
    for item in args.models:
        label, _, path = item.partition("=")
        models.append((label, json.loads(Path(path).read_text())))
    print(verdict_table(models) if args.verdict else table(models))


if __name__ == "__main__":
    main()
