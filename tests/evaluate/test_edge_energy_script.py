"""scripts/edge_energy.py: the edge energy is the Sobel magnitude it says it is, blur lowers it, the rows
compare each model with the truth, and the script rolls a real checkpoint out on real DROID frames."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers.scripts import load_script, run_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    return load_script("edge_energy")


def test_a_ramp_has_its_slope_and_a_flat_image_none(script):
    ramp = torch.arange(12.0).mul(0.05).expand(2, 3, 8, 12)  # rises by 0.05 per pixel along the width
    assert script.edge_energy(ramp) == pytest.approx(0.05, rel=1e-6)
    assert script.edge_energy(ramp.transpose(-1, -2)) == pytest.approx(0.05, rel=1e-6)
    assert script.edge_energy(torch.full((2, 3, 8, 12), 0.3)) == 0.0


def test_blur_lowers_it(script):
    sharp = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool2d(sharp, 3, stride=1, padding=1)
    assert script.edge_energy(blurred) < 0.6 * script.edge_energy(sharp)


def test_rows_give_each_model_its_ratio_to_the_truth_and_change_against_the_first(script):
    truth = torch.rand(2, 4, 3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    rows = script.edge_rows(truth, {"same": truth.clone(), "double contrast": truth * 2})
    split = [[c.strip() for c in r.split("|")[1:6]] for r in rows[2:]]
    cells = {(group, frames): values for group, frames, *values in split}
    assert cells[("wrist", "same")][1:] == ["1.000", "+0.00%"]
    assert cells[("external", "double contrast")][1:] == ["2.000", "+100.00%"]
    assert cells[("wrist", "ground truth")][1] == "1.000"


def test_the_script_rolls_out_the_droid_baseline_on_the_fixture(droid_mini: Path):
    output = run_script(
        "edge_energy", "--config", str(REPO / "configs" / "droid.yaml"), "--set", f"data.root={droid_mini}",
        "--set", "sampler.draws=1", "--episodes", "1", "--steps", "1",
        "--checkpoint", str(REPO / "assets" / "droid_baseline" / "model.pt"), "--name", "baseline",
    )  # fmt: skip
    assert "val, 1 episodes, 1 steps" in output
    assert [line.split("|")[2].strip() for line in output.splitlines() if line.startswith("| wrist")] == [
        "ground truth", "baseline"
    ]  # fmt: skip
