"""scripts/results_table.py, on a results.json made by the real `summarize`: the docs paste its tables.

Scores are built so that each model's change against the reference is known in advance; a table that
misread the JSON (wrong model, wrong sign for GMSD, wrong range) would print other numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers.scripts import load_script, run_script
from persistworld.evaluate.config import EvaluationConfig
from persistworld.evaluate.run import Evaluation, ModelScores
from persistworld.evaluate.summary import summarize

EPISODES, STEPS, FUTURE, VIEWS = 4, 2, 2, 3


@pytest.fixture(scope="module")
def tables():
    return load_script("results_table")


def model(name: str, scale: float, noise_seed: int) -> ModelScores:
    """SSIM and GMSD of every frame = reference value x `scale` (x a tiny per-episode wobble)."""
    noise = np.random.default_rng(noise_seed).standard_normal((EPISODES, 1, 1))
    wobble = 1 + 1e-4 * (noise - noise.mean())  # zero mean: the model's mean is exactly the scaled one
    shape = (EPISODES, STEPS * FUTURE, VIEWS)
    return ModelScores(name, None, {"ssim": np.full(shape, 0.5 * scale) * wobble, "gmsd": np.full(shape, 0.2 * scale)})


def results(scales: dict[str, float]) -> dict:
    models = [model(name, scale, i) for i, (name, scale) in enumerate(scales.items())]
    evaluation = Evaluation(
        EvaluationConfig(steps=STEPS), [f"e{i}" for i in range(EPISODES)], FUTURE, models, [],
        {"ssim": "SSIM", "gmsd": "GMSD"}, torch.zeros(0),
    )  # fmt: skip
    return json.loads(json.dumps(summarize(evaluation)))  # as read back from results.json


def row(lines: list[str], group: str, metric: str) -> list[str]:
    line = next(line for line in lines if line.startswith(f"| {group} | {metric}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_models_table_gives_each_model_its_change_and_the_range(tables):
    lines = tables.models_table(results({"base": 1.0, "seed 0": 1.02, "seed 1": 0.99, "seed 2": 1.04}))
    assert lines[0].split("|")[3:6] == [" seed 0 ", " seed 1 ", " seed 2 "]
    ssim = row(lines, "wrist", "ssim")
    assert [c.split(" (")[0] for c in ssim[2:5]] == ["+2.00%", "-1.00%", "+4.00%"]
    assert ssim[5:] == ["+1.67%", "2/3", "-1.00%..+4.00%"]
    gmsd = row(lines, "external", "gmsd (lower better)")  # a rise of GMSD is worse: helped on 1 model only
    assert gmsd[5:] == ["+1.67%", "1/3", "-1.00%..+4.00%"]


def test_comparison_table_orients_the_paired_delta(tables):
    lines = tables.comparison_table(results({"base": 1.0, "new": 1.1}), {"ssim"})
    ssim, gmsd = row(lines, "external", "ssim"), row(lines, "external", "gmsd (lower better)")
    assert ssim[2] == "yes" and ssim[5] == "+10.00%" and ssim[7] == "4/4"
    assert gmsd[2] == "no" and gmsd[5] == "+10.00%" and gmsd[6].startswith("-0.0200") and gmsd[7] == "0/4"


def test_the_script_prints_the_models_table_only_for_several_models(tmp_path):
    for name, scales in (("two", {"base": 1.0, "new": 1.1}), ("four", {"b": 1.0, "s0": 1.1, "s1": 1.2, "s2": 0.9})):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(results(scales)))
        out = run_script("results_table", str(folder))
        assert ("models where better" in out) == (name == "four")
        assert "| wrist SSIM +9% |" in out
        assert "| steps 1-1 | steps 2-2 |" in out  # a 2-step rollout has no thirds: one column a step


def test_only_models_keeps_the_reference_and_the_named_models(tables):
    full = results({"base": 1.0, "a0": 1.02, "a1": 1.04, "b0": 0.9})
    lines = tables.models_table(tables.only_models(full, ["a0", "a1"]))
    assert row(lines, "wrist", "ssim")[4:] == ["+3.00%", "2/2", "+2.00%..+4.00%"]  # b0 left out of the mean
    assert [m["name"] for m in tables.only_models(full, ["b0"])["models"]] == ["base", "b0"]
    with pytest.raises(SystemExit, match="not compared"):
        tables.only_models(full, ["a9"])
