"""`persistworld evaluate` end to end on held-out simulator episodes: numbers, pairing, files, report."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.checkpoints import perturbed_copy
from persistworld.assets import BASELINE_DEMO
from persistworld.cli import app
from persistworld.metrics.lpips import LpipsWeightsMissing

SIM_HELDOUT = Path(__file__).parents[1] / "fixtures" / "sim_heldout"
EPISODES, STEPS = 2, 3


def run_cli(*args: str) -> object:
    # 2 draws instead of the preset's 16: these tests check the pipeline, not the numbers
    return CliRunner().invoke(app, ["evaluate", "--set", f"data.root={SIM_HELDOUT}", "--set", "sampler.draws=2", *args])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    perturbed = perturbed_copy(root / "perturbed" / "model.pt")
    out = root / "out"
    result = run_cli(
        "--checkpoint", str(BASELINE_DEMO), "--checkpoint", str(BASELINE_DEMO), "--checkpoint", str(perturbed),
        "--name", "baseline", "--name", "baseline again", "--name", "perturbed",
        "--episodes", str(EPISODES), "--steps", str(STEPS), "--videos", "1", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.output.replace("\n", "")
    return out


def test_summary_and_csv_agree_with_the_frame_scores(evaluated: Path):
    results = json.loads((evaluated / "results.json").read_text())
    assert results["episode_ids"] == ["200000", "200001"] and results["steps"] == STEPS
    assert set(results["metrics"]) == {"ssim", "psnr", "ms_ssim", "haarpsi", "gmsd", "fsim"}
    assert "3 scales at 48x80" in results["metrics"]["ms_ssim"]
    with open(evaluated / "frames.csv") as handle:
        rows = list(csv.DictReader(handle))
    frames = STEPS * results["frames_per_step"]
    metrics = len(results["metrics"])
    assert len(rows) == 4 * metrics * EPISODES * frames * 3  # (3 models + copy reference) x metrics x ... x views
    for model in ("perturbed", "copy start frame"):
        per_episode = [
            np.mean([float(r["value"]) for r in rows if r["model"] == model and r["metric"] == "psnr"
                     and r["episode"] == episode and r["view"] == "2"])
            for episode in results["episode_ids"]
        ]  # fmt: skip
        wrist = results["summary"][model]["wrist"]["psnr"]
        assert wrist["mean"] == pytest.approx(np.mean(per_episode), abs=1e-4) and wrist["n"] == EPISODES
        assert wrist["low"] < wrist["mean"] < wrist["high"]
        curve = results["per_step"][model]["wrist"]["psnr"]["mean"]
        assert len(curve) == STEPS and np.mean(curve) == pytest.approx(wrist["mean"], abs=1e-4)


def test_the_same_model_twice_ties_on_every_episode_because_seeds_are_paired(evaluated: Path):
    comparisons = {c["b"]: c for c in json.loads((evaluated / "results.json").read_text())["comparisons"]}
    assert set(comparisons) == {"baseline again", "perturbed"} and comparisons["perturbed"]["a"] == "baseline"
    for group in ("external", "wrist"):
        for metric, r in comparisons["baseline again"]["results"][group].items():
            assert (r["ties"], r["mean_delta"]["mean"], r["wilcoxon_p"]) == (EPISODES, 0.0, 1.0), metric
    moved = [r["mean_delta"]["mean"] for g in comparisons["perturbed"]["results"].values() for r in g.values()]
    assert any(abs(delta) > 0 for delta in moved)  # a different model gives different rollouts


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.references: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.references += [value for name, value in attrs if name in ("src", "href", "poster") and value]


def test_report_references_only_files_that_exist_and_nothing_online(evaluated: Path):
    html = (evaluated / "report.html").read_text()
    parser = _References()
    parser.feed(html)
    local = [r for r in parser.references if not r.startswith("data:image/png;base64,")]
    assert len(parser.references) - len(local) >= 2  # the two plots are embedded
    assert {"videos/test_200000.mp4", "videos/test_200000.png", "results.json", "frames.csv"} <= set(local)
    results = json.loads((evaluated / "results.json").read_text())
    singles = results["videos"][0]["single"]
    assert set(singles) == {"ground truth", "baseline", "baseline again", "perturbed"}
    assert all((evaluated / path).is_file() for path in singles.values())
    for reference in local:
        assert "://" not in reference and not reference.startswith("/"), reference
        assert (evaluated / reference).is_file(), reference
    for name in ("baseline", "baseline again", "perturbed", "copy start frame", "Wilcoxon"):
        assert name in html


def test_report_opens_in_headless_chromium_with_plots_and_playing_videos(evaluated: Path, artifacts_dir: Path):
    from helpers.browser import chromium_page

    with chromium_page(width=1280, height=900) as page:
        page.goto((evaluated / "report.html").as_uri())
        page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)", timeout=15000)
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 300)")
        assert page.evaluate("[...document.querySelectorAll('video')].map(v => v.videoWidth)")[0] > 300
        shot = artifacts_dir / "evaluation_report.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000


def test_lpips_without_weights_and_unknown_metrics_are_clear_errors(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = run_cli("--checkpoint", str(BASELINE_DEMO), "--metrics", "ssim,lpips_alex", "--out", str(tmp_path))
    assert isinstance(result.exception, LpipsWeightsMissing)
    assert "alexnet-owt-7be5be79.pth" in str(result.exception)
    result = run_cli("--checkpoint", str(BASELINE_DEMO), "--metrics", "ssim,fid", "--out", str(tmp_path))
    assert "unknown metric `fid`" in str(result.exception)
    result = run_cli("--checkpoint", str(BASELINE_DEMO), "--name", "a", "--name", "b", "--out", str(tmp_path))
    assert "1 checkpoints but 2 names" in str(result.exception)


def test_a_rerun_reuses_finished_models_and_short_episodes_are_named(evaluated: Path, monkeypatch, tmp_path: Path):
    import persistworld.evaluate.run as run_module

    before = json.loads((evaluated / "results.json").read_text())

    def no_rollout(*args, **kwargs):
        raise AssertionError("a finished model was rolled out again")

    monkeypatch.setattr(run_module, "rollout", no_rollout)
    again = run_cli(
        "--checkpoint", str(BASELINE_DEMO), "--checkpoint", str(evaluated.parent / "perturbed" / "model.pt"),
        "--name", "baseline", "--name", "perturbed", "--episodes", str(EPISODES), "--steps", str(STEPS),
        "--videos", "1", "--out", str(evaluated),
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    after = json.loads((evaluated / "results.json").read_text())
    assert after["summary"]["perturbed"] == before["summary"]["perturbed"]
    result = run_cli("--checkpoint", str(BASELINE_DEMO), "--steps", "40", "--out", str(tmp_path))
    assert "200000.json: video_length 64 is too short to replay 40 steps" in str(result.exception)
