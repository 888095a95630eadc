"""Post-training ablations: one run per switch, all evaluated together against the baseline.

    python scripts/ablations.py --list
    python scripts/ablations.py --only k4 prefix_fixed3 --iterations 100      # a subset, shorter runs
    python scripts/ablations.py                                               # all of them (hours on a CPU)
    python scripts/ablations.py --only default k2 --iterations 40 --set posttrain.rollback=false   # short runs
    python scripts/ablations.py --only default prefix_fixed3 --split val --set posttrain.seed=1 --out runs/seed1
    python scripts/ablations.py --table-only --across runs/seed1 runs/seed2          # seed table and marks

Each ablation is `persistworld posttrain --config <config>` with a few `--set` overrides, in
``<out>/<name>``; an interrupted run resumes, a finished one is reused. Then one `persistworld evaluate`
rolls out the baseline and every finished ablation on the same held-out episodes with the same seeds
(``<out>/evaluate``; models already scored are read from its cache, and the ablations evaluated there
before stay in its results). With ``--split val`` the
evaluation (in ``<out>/evaluate_val``) is on validation episodes: that is where a choice read off
the test table is confirmed. The table printed at the end gives, per ablation, the paired change
against the baseline of SSIM, PSNR and HaarPSI (reward terms) and of GMSD and MS-SSIM (outside the
reward) per camera group, with paired wins.

With ``--across runs/seed1 runs/seed2`` (the same ablations run with other ``--set posttrain.seed=N``
into other folders) a second table gives each ablation's change over the seeds, and the first table
marks with `*` every change outside the default's lowest..highest change over those seeds: one seed's
run says something about a switch only there. Its last lines apply docs/results.md's pre-registered
rule to each switch: it may become the default only if its mean change over the seeds is at least the
default's on every column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from persistworld.train.logger import read_stream

ABLATIONS: dict[str, list[str]] = {
    "default": [],
    "k2": ["posttrain.branching.candidates=2"],
    "k4": ["posttrain.branching.candidates=4"],
    "k8": ["posttrain.branching.candidates=8"],
    "prefix_fixed3": ["posttrain.branching.min_prefix=3"],
    "prefix_none": ["posttrain.branching.max_prefix=0"],  # always branch at a ground-truth state
    "reward_ssim": ["posttrain.reward.terms.haarpsi=0", "posttrain.reward.terms.psnr=0"],
    "reward_haarpsi": ["posttrain.reward.terms.ssim=0", "posttrain.reward.terms.psnr=0"],
    "reward_psnr": ["posttrain.reward.terms.ssim=0", "posttrain.reward.terms.haarpsi=0"],
    "beta0.5": ["posttrain.objective.beta=0.5"],
    "beta2": ["posttrain.objective.beta=2"],
    "kl": ["posttrain.objective.kl_weight=1e-4"],  # the spec's weight
    "kl1": ["posttrain.objective.kl_weight=1"],  # 1e-4 moves nothing: the KL is ~1e-5 after 40 steps
    "no_crn": ["posttrain.crn=false"],
    # the reward over 1 clip: the toy run traded long-horizon PSNR for SSIM this way
    "continuation1": ["posttrain.branching.min_continuation=1", "posttrain.branching.max_continuation=1"],
    "groups1": ["posttrain.groups_per_step=1"],  # groups accumulated per optimizer step (default 2)
    "groups4": ["posttrain.groups_per_step=4"],
    # per-view balance: the wrist camera weighs as much as the two external ones together (default 1:1:1)
    "views_balanced": ["posttrain.reward.view_weights=[0.5,0.5,1.0]"],
    "global_std": ["posttrain.advantages.std=global"],
    "normalize_terms": ["posttrain.advantages.normalize_terms=true"],
    # Stochastic collection: 3 Euler steps with EDM churn. Candidates differ 5x more in pixels but only
    # 1.4x more in reward (docs/posttrain.md), and collection costs about twice as much.
    "churn3": ["posttrain.branching.sampler.num_steps=3", "posttrain.branching.sampler.s_churn=3"],
    "switch_b": ["posttrain.branching.train_clips=all"],  # train on every clip of a continuation, not the first
    # model selection that no camera's term may pay for (needs rollback and several probes: full length)
    "probe_guard": ["posttrain.probe_guard=0.002"],
    # both wrist-minded switches: the balance helped the wrist on seeds 0-1, the guard held it on seed 2
    "guard_balanced": ["posttrain.probe_guard=0.002", "posttrain.reward.view_weights=[0.5,0.5,1.0]"],
    # SWITCH-B with per-clip credit: clip j weighted by the reward of clips j..L, not the candidate's mean
    "switch_b_to_go": ["posttrain.branching.train_clips=all", "posttrain.advantages.clip_credit=to_go"],
    # the control for the reward to go: each clip credited with its own reward only (the spec's r^{k,j})
    "switch_b_clip": ["posttrain.branching.train_clips=all", "posttrain.advantages.clip_credit=clip"],
    # a larger step: the adapters move by ~3e-6 RMS per run at 1e-4 (the toy run's limit, full fine-tuning)
    "lr3e-4": ["posttrain.lr=3e-4"],
    "lr1e-3": ["posttrain.lr=1e-3"],
    # each camera group's pixels weighted by its own reward's r, not the candidate's (pre-registered on DROID first)
    "camera_credit": ["posttrain.advantages.view_credit=camera_group"],
    # model selection on twice the probe episodes (all 8 of the simulator's val split): less noise in the choice
    "probe8": ["posttrain.probe_episodes=8"],
    # model selection and rollback on the probe's SSIM + HaarPSI, without PSNR (the probe8 study's seed 2)
    "select_ssim_haarpsi": ["posttrain.selection_terms={ssim: 1, haarpsi: 1}"],
    # the same at half the step: at the default lr it made DROID training unstable (docs/results.md)
    "camera_credit_half": ["posttrain.advantages.view_credit=camera_group", "posttrain.lr=5e-5"],
    # does the guard keep per-clip credit's wrist gain and limit what it costs the external cameras?
    "guard_clip": [
        "posttrain.probe_guard=0.002",
        "posttrain.branching.train_clips=all",
        "posttrain.advantages.clip_credit=clip",
    ],
}
COLUMNS = [("external", "ssim"), ("wrist", "ssim"), ("external", "psnr"), ("wrist", "psnr"),
           ("external", "haarpsi"), ("wrist", "haarpsi"), ("external", "gmsd"), ("wrist", "gmsd"),
           ("external", "ms_ssim"), ("wrist", "ms_ssim")]  # fmt: skip
LOWER_IS_BETTER = {"gmsd"}
CLI = [sys.executable, "-m", "persistworld"]


def sets(values: list[str]) -> list[str]:
    """`--set` arguments."""
    return [arg for value in values for arg in ("--set", value)]


def train(name: str, args: argparse.Namespace) -> Path:
    """Post-train one ablation (resume or reuse); returns its model file."""
    run_dir = args.out / name
    model = run_dir / "model.pt"
    if model.is_file():
        return model
    resume = ["--resume"] if (run_dir / "checkpoints" / "latest.pt").is_file() else []
    iterations = [] if args.iterations is None else [f"posttrain.iterations={args.iterations}"]
    overrides = sets([*args.set, *ABLATIONS[name], *iterations])
    command = [*CLI, "posttrain", "--config", str(args.config), "--base", str(args.base), "--run-dir", str(run_dir),
               *resume, *overrides]  # fmt: skip
    print(f"[{name}] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    return model


def training_table(out: Path, names: list[str]) -> list[str]:
    """Per ablation, from its own log: median seconds per step, mean candidate spread, first and last probe."""
    lines = ["| ablation | seconds per step (median) | within-group reward std / mean | probe reward, first -> last |",
             "|---|---|---|---|"]  # fmt: skip
    for name in names:
        train_rows, probes = read_stream(out / name, "train"), read_stream(out / name, "probe")
        seconds = statistics.median(r["time_rollout"] + r["time_reward"] + r["time_update"] for r in train_rows)
        spread = statistics.mean(r["spread"] for r in train_rows)
        first, last = probes[0], probes[-1]
        probe = f"{first['reward']:.4f} (step {first['step']}) -> {last['reward']:.4f} (step {last['step']})"
        lines.append(f"| {name} | {seconds:.1f} | {spread:.2%} | {probe} |")
    return lines


def relative_changes(results: dict, names: list[str]) -> dict[str, dict[tuple[str, str], tuple[float, int, int]]]:
    """Per ablation and (group, metric): (change of the mean against the baseline / |baseline|, wins, episodes)."""
    comparisons = {comparison["b"]: comparison for comparison in results["comparisons"]}
    changes = {}
    for name in names:
        comparison = comparisons[name]
        cells = {}
        for group, metric in COLUMNS:
            a = results["summary"][comparison["a"]][group][metric]["mean"]
            b = results["summary"][name][group][metric]["mean"]
            paired = comparison["results"][group][metric]
            cells[(group, metric)] = ((b - a) / abs(a), paired["wins"], paired["n"])
        changes[name] = cells
    return changes


def header() -> list[str]:
    """The table's first two lines."""
    return ["| ablation | " + " | ".join(f"{g} {m}" for g, m in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]


Range = tuple[float, float]


def table(results: dict, names: list[str], noise: dict[tuple[str, str], Range] | None = None) -> list[str]:
    """Paired change against the baseline, per ablation and (group, metric).

    With `noise` (per column, the lowest and highest change of the default over seeds), a change outside
    that range is marked: one seed's run says something about a switch only where it leaves the range
    that the seed alone moves the default over.
    """
    lines = header()
    for name, cells in relative_changes(results, names).items():
        texts = []
        for column, (d, w, n) in cells.items():
            outside = noise is not None and not noise[column][0] <= d <= noise[column][1]
            texts.append(f"{d:+.2%} ({w}/{n}){' *' if outside else ''}")
        lines.append(f"| {name} | " + " | ".join(texts) + " |")
    return lines


def seed_ranges(per_seed: list[dict], name: str = "default") -> dict[tuple[str, str], Range]:
    """Per column, the lowest and highest change of one ablation over the seeds' evaluations."""
    changes = [relative_changes(results, [name])[name] for results in per_seed]
    return {column: (min(c[column][0] for c in changes), max(c[column][0] for c in changes)) for column in COLUMNS}


def evaluated(results: dict) -> set[str]:
    """The ablations compared with the baseline in one evaluation."""
    return {comparison["b"] for comparison in results["comparisons"]}


def seeds_table(per_seed: list[dict], names: list[str]) -> list[str]:
    """Per ablation and column over several seeds' evaluations: mean change, seeds where it helped, range.

    One 40-step run is noisy; a switch is worth reading only where the seeds agree.
    """
    changes = [relative_changes(results, names) for results in per_seed]
    lines = header()
    for name in names:
        cells = []
        for group, metric in COLUMNS:
            deltas = [seed[name][(group, metric)][0] for seed in changes]
            helped = sum(d < 0 if metric in LOWER_IS_BETTER else d > 0 for d in deltas)
            spread = f"{min(deltas):+.2%}..{max(deltas):+.2%}"
            cells.append(f"{statistics.mean(deltas):+.2%} ({helped}/{len(deltas)}; {spread})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def rule_verdicts(per_seed: list[dict], names: list[str]) -> list[str]:
    """docs/results.md's pre-registered rule for each switch over the seeds' evaluations, one line each.

    A switch becomes the default only if its mean change over the seeds is at least the default's on
    every column (at most, for a metric where lower is better). Compared unrounded: a column that the
    table shows equal to two decimals can still fail.
    """
    compared = list(dict.fromkeys(["default", *names]))
    changes = [relative_changes(results, compared) for results in per_seed]
    means = {name: {c: statistics.mean(seed[name][c][0] for seed in changes) for c in COLUMNS} for name in compared}

    def worse(metric: str, value: float, reference: float) -> bool:
        return value > reference if metric in LOWER_IS_BETTER else value < reference

    lines = []
    for name in compared[1:]:
        failed = [f"{g} {m}" for g, m in COLUMNS if worse(m, means[name][(g, m)], means["default"][(g, m)])]
        verdict = f"below the default on {len(failed)} of {len(COLUMNS)}: {', '.join(failed)}" if failed else "passes"
        lines.append(f"{name}: {verdict}")
    return lines


def main() -> None:
    """Train, evaluate, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/posttrain_sim.yaml"))
    parser.add_argument("--base", type=Path, default=Path("src/persistworld/assets/baseline_demo/model.pt"))
    parser.add_argument("--out", type=Path, default=Path("runs/ablations"))
    parser.add_argument("--iterations", type=int, help="post-training steps per run (default: the config's)")
    parser.add_argument("--episodes", type=int, default=32, help="held-out episodes for the evaluation (0: all)")
    parser.add_argument("--steps", type=int, help="rollout steps of the evaluation (default: evaluate's, 14)")
    parser.add_argument("--split", help="split of the evaluation episodes (default: the config's test split)")
    parser.add_argument("--only", nargs="+", choices=sorted(ABLATIONS), help="run these ablations only")
    parser.add_argument("--list", action="store_true", help="print the ablations and their overrides")
    parser.add_argument("--set", action="append", default=[], help="an override for every run (repeatable)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the existing evaluation")
    parser.add_argument(
        "--across", nargs="+", type=Path, default=[],
        help="--out folders of the same ablations with other seeds (--set posttrain.seed=N): adds a table over "
        "all, and marks the changes outside the default's range over the seeds",
    )  # fmt: skip
    args = parser.parse_args()
    names = args.only or list(ABLATIONS)
    if args.list:
        for name in names:
            print(f"{name}: {' '.join(ABLATIONS[name]) or '(the config as is)'}")
        return
    evaluation = args.out / ("evaluate" if args.split is None else f"evaluate_{args.split}")
    if not args.table_only:
        models = {name: train(name, args) for name in names}
        evaluate({**kept_models(evaluation, args.out), **models}, evaluation, args)
    results = json.loads((evaluation / "results.json").read_text())
    setting = f"{results['split']}, {len(results['episode_ids'])} episodes x {results['steps']} steps"
    iterations = args.iterations or f"{args.config}'s"
    print(
        f"\nchange of the mean against the baseline (paired wins / episodes); {iterations} iterations each"
        f"{'; ' + ', '.join(args.set) if args.set else ''}; {setting}, seed {results['seed']}; GMSD: lower is "
        "better, wins counted that way\n"
    )
    folders = [args.out, *args.across]
    per_seed = [results, *(json.loads((f / evaluation.name / "results.json").read_text()) for f in args.across)]
    missing = {folder: sorted(set(names) - evaluated(r)) for folder, r in zip(folders, per_seed, strict=True)}
    if missing[args.out]:
        sys.exit(f"{evaluation}: {missing[args.out]} not evaluated there; run them without --table-only first")
    noise = seed_ranges(per_seed) if args.across and all("default" in evaluated(r) for r in per_seed) else None
    print("\n".join(table(results, names, noise)))
    if noise is not None:
        print(f"\n* outside the default's range over the {len(folders)} seeds of {', '.join(map(str, folders))}")
    print("\ntraining, from each run's metrics.jsonl:\n")
    print("\n".join(training_table(args.out, names)))
    if args.across:
        in_every = [name for name in names if not any(name in m for m in missing.values())]
        for folder, names_missing in missing.items():
            if names_missing:
                print(f"\nleft out of the seed table: {names_missing}, not evaluated in {folder / evaluation.name}")
        if not in_every:
            sys.exit("no ablation is evaluated in every --across folder; run them there with that --out first")
        print(f"\nover {len(folders)} seeds ({', '.join(map(str, folders))}): mean change of the mean against the "
              "baseline (seeds where it helped; lowest..highest change)\n")  # fmt: skip
        print("\n".join(seeds_table(per_seed, in_every)))
        if "default" in in_every and len(in_every) > 1:
            print("\nthe rule (mean change over the seeds at least the default's on every column; GMSD: at most):")
            print("\n".join(rule_verdicts(per_seed, in_every)))


def kept_models(evaluation: Path, out: Path) -> dict[str, Path]:
    """The ablations already in `evaluation`'s results whose model is still in `out`: evaluated again with the new ones.

    `persistworld evaluate` writes results.json for the models of one call; without these, evaluating
    one new ablation into a folder would drop the others from its table (their scores come from the
    evaluation's cache, so keeping them costs nothing).
    """
    results = evaluation / "results.json"
    if not results.is_file():
        return {}
    names = sorted(evaluated(json.loads(results.read_text())) & set(ABLATIONS))
    return {name: out / name / "model.pt" for name in names if (out / name / "model.pt").is_file()}


def evaluate(models: dict[str, Path], evaluation: Path, args: argparse.Namespace) -> None:
    """One `persistworld evaluate` of the baseline and the ablations (scores of models seen before are cached)."""
    command = [
        *CLI, "evaluate", "--config", str(args.config), "--episodes", str(args.episodes), "--out", str(evaluation),
        "--videos", "0", *(["--split", args.split] if args.split else []),
        *(["--steps", str(args.steps)] if args.steps else []), "--checkpoint", str(args.base),
        "--name", "baseline",
        *[a for name, model in models.items() for a in ("--checkpoint", str(model), "--name", name)],
    ]  # fmt: skip
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
