"""Atomic writes: all or nothing, with normal file permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from persistworld.utils.atomic import atomic_directory, atomic_path, write_json_atomic


def test_failed_write_leaves_the_old_file(tmp_path: Path):
    target = tmp_path / "result.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_files_and_folders_get_umask_permissions(tmp_path: Path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {})
        with atomic_directory(tmp_path / "folder") as folder:
            (folder / "x").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


def test_atomic_directory_replaces_a_stale_folder(tmp_path: Path):
    stale = tmp_path / "episode"
    stale.mkdir()
    (stale / "old.mp4").write_text("stale")
    with atomic_directory(stale) as folder:
        (folder / "0.mp4").write_text("new")
    assert sorted(p.name for p in stale.iterdir()) == ["0.mp4"]
