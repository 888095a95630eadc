"""The analysis scripts that docs/baseline.md and docs/posttrain.md quote run end to end on the shipped demo
baseline and the committed held-out simulator episodes, and print what their docstrings promise.

Small sizes (a few clips, one or two samplers): these check the scripts' wiring and the properties their
tables rely on, not the numbers in the docs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers.scripts import run_script
from persistworld.assets import BASELINE_DEMO
from persistworld.train.logger import MetricLogger

SIM_HELDOUT = Path(__file__).parent / "fixtures" / "sim_heldout"  # 3 test episodes of the demo preset


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the markdown table in `output` (header and `|---|` line dropped), as lists of cells."""
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in output.splitlines() if line.startswith("| ")
    ]
    return rows[1:]


def test_probe_samplers_scores_every_setting_on_the_same_clips(tmp_path: Path):
    out = tmp_path / "samplers.json"
    output = run_script(
        "probe_samplers", str(BASELINE_DEMO), "--data-root", str(SIM_HELDOUT), "--split", "test", "--clips", "4",
        "--only", "1 step", "1 step, mean of 2 draws", "--out", str(out),
    )  # fmt: skip
    assert [row[0] for row in table_rows(output)] == ["1 step", "1 step, mean of 2 draws"]
    rows = json.loads(out.read_text())["rows"]
    # the clips are the probe's: copying the current frame scores the same under every sampler
    assert rows["1 step"]["copy_ssim"] == rows["1 step, mean of 2 draws"]["copy_ssim"]
    assert rows["1 step"]["ssim"] != rows["1 step, mean of 2 draws"]["ssim"]
    assert rows["1 step, mean of 2 draws"]["sampler"]["draws"] == 2


def test_single_draw_noise_reports_draws_that_differ_and_the_three_static_errors():
    output = run_script("single_draw_noise", "--data-root", str(SIM_HELDOUT), "--split", "test", "--clips", "4")
    numbers = {key.strip(): float(value) for key, value in re.findall(r"^(.+): ([\d.]+)$", output, re.MULTILINE)}
    assert numbers["std of the difference of two draws"] > 0  # two noises, two different draws
    assert numbers["std of one draw (residual space)"] > 0
    static = [v for k, v in numbers.items() if k.startswith("mean |error| in static pixels")]
    assert len(static) == 3 and all(v >= 0 for v in static)


def test_probe_candidate_spread_collects_groups_and_reports_their_spread():
    output = run_script(
        "probe_candidate_spread", "--data-root", str(SIM_HELDOUT), "--split", "test", "--groups", "1",
        "--candidates", "3", "--only", "1 step",
    )  # fmt: skip
    (row,) = table_rows(output)
    name, _, std, spread = row[:4]
    assert name == "1 step" and float(std) > 0 and float(spread.rstrip("%")) > 0  # 3 candidates, 3 noises


def test_plot_probe_window_plots_and_lists_the_rows_from_the_window(tmp_path: Path):
    logger = MetricLogger(tmp_path / "run", tensorboard=False)
    for step in range(0, 1001, 100):
        logger.log("probe", step, {"ssim": 0.5 + step / 1e4, "copy_ssim": 0.55, "psnr": 20.0, "copy_psnr": 21.0,
                                   "loss": 1.0 - step / 2e3})  # fmt: skip
    out = tmp_path / "window.png"
    output = run_script("plot_probe_window", str(tmp_path / "run"), "--from-step", "800", "--out", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [line for line in output.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows] == ["800", "900", "1000"]
    assert rows[-1].split("|")[2].strip() == "0.6000"
