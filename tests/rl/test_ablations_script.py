"""scripts/ablations.py's tables: the seed table and the marks outside the default's seed range.

The docs quote these tables, so a wrong range or a missing mark would put a wrong claim in them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers.scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablations.py"


@pytest.fixture(scope="module")
def ablations():
    return load_script("ablations")


def evaluation(changes: dict[str, float]) -> dict:
    """A results.json where every column of ablation `name` is the baseline's mean x (1 + change)."""
    groups = ("external", "wrist")
    metrics = ("ssim", "psnr", "haarpsi", "gmsd", "ms_ssim")
    summary = {"baseline": {g: {m: {"mean": 1.0} for m in metrics} for g in groups}}
    comparisons = []
    for name, change in changes.items():
        summary[name] = {g: {m: {"mean": 1.0 + change} for m in metrics} for g in groups}
        paired = {g: {m: {"wins": 3, "n": 4} for m in metrics} for g in groups}
        comparisons.append({"a": "baseline", "b": name, "results": paired})
    return {"summary": summary, "comparisons": comparisons, "split": "test", "episode_ids": ["e0"], "steps": 2,
            "seed": 0}  # fmt: skip


def write_folder(root: Path, changes: dict[str, float]) -> Path:
    (root / "evaluate").mkdir(parents=True)
    (root / "evaluate" / "results.json").write_text(json.dumps(evaluation(changes)))
    for name in changes:
        (root / name).mkdir()
        records = [
            {"stream": "train", "step": 1, "time_rollout": 1.0, "time_reward": 0.5, "time_update": 0.5, "spread": 0.01},
            {"stream": "probe", "step": 0, "reward": 1.0},
        ]
        (root / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


def test_seed_range_and_marks(ablations):
    per_seed = [evaluation({"default": d}) for d in (-0.01, 0.02, 0.005)]
    ranges = ablations.seed_ranges(per_seed)
    assert ranges[("wrist", "ssim")] == pytest.approx((-0.01, 0.02))
    names = ["default", "big", "small"]
    lines = ablations.table(evaluation({"default": 0.0, "big": 0.05, "small": 0.01}), names, ranges)
    assert " *" not in lines[2] and " *" not in lines[4]  # inside the default's range
    assert lines[3].count(" *") == len(ablations.COLUMNS)  # +5 % is outside on every column
    assert " *" not in "".join(ablations.table(per_seed[0], ["default"]))  # no marks without seeds


def test_seed_table_leaves_out_ablations_missing_in_a_folder(ablations, tmp_path, monkeypatch, capsys):
    main = write_folder(tmp_path / "seed0", {"default": 0.01, "k4": 0.05, "k8": -0.03})
    other = write_folder(tmp_path / "seed1", {"default": -0.01, "k4": 0.04})
    argv = ["ablations.py", "--table-only", "--out", str(main), "--across", str(other)]
    monkeypatch.setattr(sys, "argv", [*argv, "--only", "default", "k4", "k8"])
    ablations.main()
    out = capsys.readouterr().out
    assert "left out of the seed table: ['k8']" in out
    seed_table = out.split("over 2 seeds")[1]
    assert "| k4 | +4.50% (2/2; +4.00%..+5.00%)" in seed_table and "k8" not in seed_table
    assert "| k8 | -3.00% (3/4) *" in out  # outside the default's -1 %..+1 %
    assert out.rstrip().endswith("k4: below the default on 2 of 10: external gmsd, wrist gmsd")  # the rule's line


def test_table_only_names_ablations_not_evaluated(ablations, tmp_path, monkeypatch):
    main = write_folder(tmp_path / "seed0", {"default": 0.01})
    monkeypatch.setattr(sys, "argv", ["ablations.py", "--table-only", "--out", str(main), "--only", "default", "k2"])
    with pytest.raises(SystemExit, match=r"\['k2'\] not evaluated there"):
        ablations.main()


def test_every_ablation_resolves_against_the_config(ablations):
    """A mistyped override key would only fail after hours of the runs before it."""
    from persistworld.cli.common import load_config

    config = SCRIPT.parents[1] / "configs" / "posttrain_sim.yaml"
    for name, overrides in ablations.ABLATIONS.items():
        resolved = load_config("demo", config, overrides)
        assert resolved.posttrain is not None, name
    churn = load_config("demo", config, ablations.ABLATIONS["churn3"]).posttrain.branching.sampler
    assert (churn.num_steps, churn.s_churn) == (3, 3.0)


def test_evaluating_new_ablations_keeps_the_ones_already_evaluated(ablations, tmp_path, monkeypatch, capsys):
    """One new ablation evaluated into a folder must not drop the others from its results.json and table."""
    out = write_folder(tmp_path / "seed0", {"default": 0.01, "switch_b": 0.02, "k4": 0.03})
    for name in ("default", "switch_b", "probe_guard"):  # k4's model is gone: it cannot be evaluated again
        (out / name).mkdir(exist_ok=True)
        (out / name / "model.pt").write_bytes(b"")
    calls = []

    def fake_evaluate(command, check):  # stands in for `persistworld evaluate`: writes what it was given
        names = [command[i + 1] for i, arg in enumerate(command) if arg == "--name" and command[i + 1] != "baseline"]
        calls.append(names)
        (out / "evaluate" / "results.json").write_text(json.dumps(evaluation(dict.fromkeys(names, 0.01))))

    monkeypatch.setattr(ablations.subprocess, "run", fake_evaluate)
    monkeypatch.setattr(sys, "argv", ["ablations.py", "--out", str(out), "--only", "default", "probe_guard"])
    (out / "probe_guard" / "metrics.jsonl").write_text((out / "default" / "metrics.jsonl").read_text())
    ablations.main()
    assert calls == [["default", "switch_b", "probe_guard"]]
    assert "| probe_guard |" in capsys.readouterr().out
    kept = json.loads((out / "evaluate" / "results.json").read_text())
    assert ablations.evaluated(kept) == {"default", "switch_b", "probe_guard"}


def test_rule_verdicts_follow_each_metrics_direction(ablations):
    """The pre-registered rule: at least the default's mean change on every column, GMSD lower-is-better."""
    per_seed = [
        evaluation({"default": d, "same": d, "higher": d + 0.01, "lower": d - 0.01}) for d in (-0.01, 0.02, 0.005)
    ]
    verdicts = dict(
        line.split(": ", 1) for line in ablations.rule_verdicts(per_seed, ["default", "same", "higher", "lower"])
    )
    assert set(verdicts) == {"same", "higher", "lower"}
    assert verdicts["same"] == "passes"
    assert verdicts["higher"] == "below the default on 2 of 10: external gmsd, wrist gmsd"  # a higher GMSD is worse
    assert verdicts["lower"].startswith("below the default on 8 of 10: external ssim, wrist ssim")
    assert "gmsd" not in verdicts["lower"]


def test_runs_post_train_the_baseline_they_are_compared_with(ablations, tmp_path, monkeypatch, capsys):
    """`--base` must reach `persistworld posttrain`, not only the evaluation: otherwise every run would start
    from the shipped simulator baseline while the table compares it with `--base` (e.g. a DROID baseline)."""
    out = tmp_path / "droid_seed0"
    base = tmp_path / "droid_baseline.pt"
    commands = []

    def fake_run(command, check):  # posttrain writes the run's log and model; evaluate its results
        commands.append(command)
        if command[3] == "posttrain":
            write_folder(tmp_path / "scratch", {"default": 0.0})
            run_dir = Path(command[command.index("--run-dir") + 1])
            run_dir.mkdir(parents=True)
            (run_dir / "metrics.jsonl").write_text((tmp_path / "scratch" / "default" / "metrics.jsonl").read_text())
            (run_dir / "model.pt").write_bytes(b"")
        else:
            (out / "evaluate_val").mkdir(parents=True)
            (out / "evaluate_val" / "results.json").write_text(json.dumps(evaluation({"default": 0.01})))

    monkeypatch.setattr(ablations.subprocess, "run", fake_run)
    argv = ["--config", "configs/droid.yaml", "--base", str(base), "--out", str(out), "--only", "default",
            "--split", "val", "--episodes", "0", "--steps", "8"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["ablations.py", *argv])
    ablations.main()
    posttrain, evaluate = commands
    assert posttrain[posttrain.index("--base") + 1] == str(base)
    assert not any(arg.startswith("posttrain.iterations=") for arg in posttrain)  # the config's, unless given
    assert evaluate[evaluate.index("--checkpoint") + 1] == str(base)
    assert evaluate[evaluate.index("--steps") + 1] == "8" and evaluate[evaluate.index("--episodes") + 1] == "0"
    assert "configs/droid.yaml's iterations each" in capsys.readouterr().out
