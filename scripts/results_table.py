"""Markdown result tables from a `persistworld evaluate` folder (its results.json), as docs/results.md shows them.

    python scripts/results_table.py runs/rl/eval_test32
    python scripts/results_table.py runs/rl/eval_test32 --reward ssim haarpsi psnr
    python scripts/results_table.py runs/droid/eval_seeds --models "PersistWorld seed 0" "PersistWorld seed 1"

Prints, for every model against the first one (the reference of the paired comparisons):
1. every metric per camera group: both means, the relative change, the paired mean delta with its 95%
   CI, wins / episodes and the sign-test and Wilcoxon p-values; metrics in the post-training reward
   are marked, so that a model that wins on them and loses on the others shows as such;
2. the same means by horizon (rollout steps 1-4, 5-9, 10-14 for 14 steps);
3. the paper's targets (external perceptual distance -14%, wrist SSIM +9%, >= 95% paired wins with
   sign-test p < 1e-6), each with the measured value;
4. with several models against the reference (e.g. post-training seeds), one row per metric and camera
   group: each model's change (wins), the mean change over the models, on how many it helped, and the
   lowest..highest change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from persistworld.metrics.suite import metric_info


def relative(a: float, b: float) -> float:
    """Relative change from a to b."""
    return (b - a) / abs(a)


def comparison_table(results: dict, reward_terms: set[str]) -> list[str]:
    """Table 1: every metric and camera group, paired against the reference."""
    lines = []
    for comparison in results["comparisons"]:
        a, b = comparison["a"], comparison["b"]
        lines += [
            f"**{b}** against **{a}** ({results['split']}, {len(results['episode_ids'])} episodes, "
            f"{results['steps']} steps, seed {results['seed']}; delta = {b} - {a}, oriented so that > 0 is better)",
            "",
            "| group | metric | in reward | "
            + a
            + " | "
            + b
            + " | change | delta (95% CI) | wins | sign p | Wilcoxon p |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for group, metrics in comparison["results"].items():
            for metric, c in metrics.items():
                mean_a = results["summary"][a][group][metric]["mean"]
                mean_b = results["summary"][b][group][metric]["mean"]
                d = c["mean_delta"]
                lines.append(
                    f"| {group} | {metric}{'' if metric_info(metric).higher_is_better else ' (lower better)'} | "
                    f"{'yes' if metric in reward_terms else 'no'} | {mean_a:.4f} | {mean_b:.4f} | "
                    f"{relative(mean_a, mean_b):+.2%} | {d['mean']:+.4f} ({d['low']:+.4f}, {d['high']:+.4f}) | "
                    f"{c['wins']}/{c['n']} | {c['sign_test_p']:.2g} | {c['wilcoxon_p']:.2g} |"
                )
        lines.append("")
    return lines


def horizon_table(results: dict, metrics: list[str]) -> list[str]:
    """Table 2: means over the first, middle and last third of the rollout (each step alone if fewer than 3)."""
    steps = results["steps"]
    bounds = np.array_split(np.arange(steps), min(3, steps))
    names = [f"steps {int(b[0]) + 1}-{int(b[-1]) + 1}" for b in bounds]
    models = [m["name"] for m in results["models"]]
    lines = ["| group | metric | model | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for group in results["groups"]:
        for metric in metrics:
            for model in models:
                curve = np.asarray(results["per_step"][model][group][metric]["mean"])
                cells = " | ".join(f"{curve[b].mean():.4f}" for b in bounds)
                lines.append(f"| {group} | {metric} | {model} | {cells} |")
    return lines + [""]


def targets_table(results: dict) -> list[str]:
    """Table 3: the issue's targets from the paper's DROID result."""
    lines = ["| target (paper, DROID) | model | measured | met |", "|---|---|---|---|"]
    perceptual = next((m for m in ("lpips_alex", "lpips_vgg") if m in results["metrics"]), None)
    for comparison in results["comparisons"]:
        a, b = comparison["a"], comparison["b"]
        summary = results["summary"]
        if perceptual is None:
            lines.append(f"| external LPIPS -14% | {b} | LPIPS not evaluated (no backbone weights) | - |")
        else:
            change = relative(summary[a]["external"][perceptual]["mean"], summary[b]["external"][perceptual]["mean"])
            lines.append(f"| external {perceptual} -14% | {b} | {change:+.2%} | {'yes' if change <= -0.14 else 'no'} |")
        change = relative(summary[a]["wrist"]["ssim"]["mean"], summary[b]["wrist"]["ssim"]["mean"])
        lines.append(f"| wrist SSIM +9% | {b} | {change:+.2%} | {'yes' if change >= 0.09 else 'no'} |")
        for group in ("external", "wrist"):
            c = comparison["results"][group]["ssim"]
            met = c["win_rate"] >= 0.95 and c["sign_test_p"] < 1e-6
            lines.append(
                f"| {group} SSIM: >= 95% paired wins, sign p < 1e-6 | {b} | {c['wins']}/{c['n']}, "
                f"p = {c['sign_test_p']:.2g} | {'yes' if met else 'no'} |"
            )
    return lines + [""]


def models_table(results: dict) -> list[str]:
    """Table 4: every model's change against the reference side by side, with the mean and range over them.

    For models that differ only by a seed, this is what a claim about the method can rest on: one seed's
    change is worth reading only where the others agree.
    """
    comparisons = results["comparisons"]
    reference = comparisons[0]["a"]
    names = [c["b"] for c in comparisons]
    lines = [
        f"| group | metric | {' | '.join(names)} | mean change | models where better | lowest..highest |",
        "|---|---|" + "---|" * (len(names) + 3),
    ]
    summary = results["summary"]
    for group, metrics in comparisons[0]["results"].items():
        for metric in metrics:
            better = 1 if metric_info(metric).higher_is_better else -1
            changes, cells = [], []
            for c in comparisons:
                change = relative(summary[reference][group][metric]["mean"], summary[c["b"]][group][metric]["mean"])
                paired = c["results"][group][metric]
                changes.append(change)
                cells.append(f"{change:+.2%} ({paired['wins']}/{paired['n']})")
            helped = sum(better * change > 0 for change in changes)
            lines.append(
                f"| {group} | {metric}{'' if better > 0 else ' (lower better)'} | {' | '.join(cells)} | "
                f"{np.mean(changes):+.2%} | {helped}/{len(changes)} | {min(changes):+.2%}..{max(changes):+.2%} |"
            )
    return lines + [""]


def only_models(results: dict, names: list[str] | None) -> dict:
    """`results` with only the comparisons of `names` (and the reference), e.g. one group of seeds of several."""
    if names is None:
        return results
    compared = [c["b"] for c in results["comparisons"]]
    unknown = sorted(set(names) - set(compared))
    if unknown:
        raise SystemExit(f"--models: {unknown} not compared in this evaluation; it has {compared}.")
    reference = results["comparisons"][0]["a"]
    return results | {
        "comparisons": [c for c in results["comparisons"] if c["b"] in names],
        "models": [m for m in results["models"] if m["name"] in {reference, *names}],
    }


def main() -> None:
    """Print the tables (the fourth only with several models against the reference)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="a `persistworld evaluate` output folder")
    parser.add_argument("--reward", nargs="+", default=["ssim", "haarpsi", "psnr"], help="the reward's terms")
    parser.add_argument("--horizon-metrics", nargs="+", default=["ssim", "psnr", "gmsd"])
    parser.add_argument("--models", nargs="+", help="only these models against the reference (default: all)")
    args = parser.parse_args()
    results = only_models(json.loads((args.evaluation / "results.json").read_text()), args.models)
    print("\n".join(comparison_table(results, set(args.reward))))
    print("\n".join(horizon_table(results, [m for m in args.horizon_metrics if m in results["metrics"]])))
    print("\n".join(targets_table(results)))
    if len(results["comparisons"]) > 1:
        print("\n".join(models_table(results)))


if __name__ == "__main__":
    main()
