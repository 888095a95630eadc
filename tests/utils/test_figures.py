"""save_figure: every plot of a run is redrawn in place, so a failed write must keep the last good PNG."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from persistworld.utils.figures import save_figure


def test_writes_a_png_and_closes_the_figure(tmp_path):
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    path = save_figure(figure, tmp_path / "curves.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(figure.number)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left behind


def test_a_failed_write_keeps_the_previous_png(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    save_figure(plt.figure(), path)
    before = path.read_bytes()

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("disk full")

    figure = plt.figure()
    monkeypatch.setattr(figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(figure, path)
    assert path.read_bytes() == before
    assert not plt.fignum_exists(figure.number)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
