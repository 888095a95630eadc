"""The CLI, in-process with typer's runner, plus the real entry point for exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from persistworld.cli import app
from persistworld.errors import EpisodeDataError

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "env", "data"):
        assert command in result.output
    result = runner.invoke(app, ["data", "--help"])
    for command in ("sim", "show", "info", "convert-lerobot"):
        assert command in result.output


def test_show_writes_a_contact_sheet_and_a_video(droid_mini: Path, tmp_path: Path):
    result = runner.invoke(app, ["data", "show", str(droid_mini), "--split", "val", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    from PIL import Image

    sheet = Image.open(tmp_path / "val_199_sheet.png")
    assert sheet.width > 8 * 320 and sheet.height > 3 * 192  # 8 time steps x 3 views at native size
    from persistworld.data.video import read_video

    video = read_video(tmp_path / "val_199_views.mp4")
    assert video.shape == (33, 192, 3 * 320, 3)


def test_info_summarises_splits(droid_mini: Path):
    result = runner.invoke(app, ["data", "info", str(droid_mini)])
    assert result.exit_code == 0
    assert "train" in result.output and "val" in result.output


def test_user_errors_raise_persistworld_errors(tmp_path: Path):
    result = runner.invoke(app, ["data", "show", str(tmp_path / "missing")])
    assert isinstance(result.exception, EpisodeDataError)


def test_entry_point_prints_one_line_and_exits_2(tmp_path: Path):
    missing = tmp_path / "missing"
    process = subprocess.run(
        [sys.executable, "-c", "from persistworld.cli import main; main()", "data", "show", str(missing)],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2
    assert f"error: {missing}: dataset root not found." in " ".join(process.stderr.split())
    assert "Traceback" not in process.stderr
