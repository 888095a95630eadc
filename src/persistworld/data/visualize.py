"""Pictures of episodes: a contact sheet (PNG) and a side-by-side 3-view video (mp4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from persistworld.data.layout import FPS, VIEW_NAMES
from persistworld.data.reader import EpisodeDataset
from persistworld.data.video import write_video
from persistworld.utils.atomic import atomic_path

_LABEL_HEIGHT = 14
_BACKGROUND = (255, 255, 255)


def _upscale_factor(height: int, min_height: int = 96) -> int:
    """Integer factor that makes small frames (e.g. 48 px) readable on a sheet."""
    return max(1, -(-min_height // height))


def contact_sheet(frames: np.ndarray, path: str | Path, columns: int = 8, title: str = "") -> Path:
    """Write a grid of frames: one row per view, `columns` evenly spaced time steps.

    Args:
        frames: uint8 (T, V, H, W, 3).
        path: Destination PNG.
        columns: Number of time steps shown.
        title: Text above the grid.

    Returns:
        The written path.
    """
    num_frames, num_views, height, width, _ = frames.shape
    times = np.unique(np.linspace(0, num_frames - 1, min(columns, num_frames)).round().astype(int))
    scale = _upscale_factor(height)
    cell_h, cell_w = height * scale, width * scale
    label_w = 70
    top = _LABEL_HEIGHT * (2 if title else 1)
    sheet = Image.new("RGB", (label_w + len(times) * (cell_w + 2), top + num_views * (cell_h + 2)), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 1), title, fill=(0, 0, 0))
    for column, t in enumerate(times):
        draw.text(
            (label_w + column * (cell_w + 2) + 2, top - _LABEL_HEIGHT + 1),
            f"t={t} ({t / FPS:.1f}s)",
            fill=(0, 0, 0),
        )
    for view in range(num_views):
        name = VIEW_NAMES[view] if view < len(VIEW_NAMES) else f"view {view}"
        draw.text((4, top + view * (cell_h + 2) + cell_h // 2 - 5), name, fill=(0, 0, 0))
        for column, t in enumerate(times):
            image = Image.fromarray(frames[t, view]).resize((cell_w, cell_h), Image.NEAREST)
            sheet.paste(image, (label_w + column * (cell_w + 2), top + view * (cell_h + 2)))
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)


def views_side_by_side(frames: np.ndarray) -> np.ndarray:
    """(T, V, H, W, 3) to (T, H, V*W, 3): the views next to each other, in view order."""
    num_frames, num_views, height, width, channels = frames.shape
    return frames.transpose(0, 2, 1, 3, 4).reshape(num_frames, height, num_views * width, channels)


def write_views_video(frames: np.ndarray, path: str | Path, fps: int = FPS) -> Path:
    """Write the views side by side as an mp4 (upscaled if small, so that players show it sensibly)."""
    strip = views_side_by_side(frames)
    scale = _upscale_factor(frames.shape[2])
    if scale > 1:
        strip = strip.repeat(scale, axis=1).repeat(scale, axis=2)
    write_video(path, strip, fps=fps)
    return Path(path)


def show_episode(dataset: EpisodeDataset, episode_id: str, out_dir: str | Path, columns: int = 8) -> tuple[Path, Path]:
    """Write ``<split>_<id>_sheet.png`` and ``<split>_<id>_views.mp4`` of one episode into `out_dir`."""
    meta = dataset.meta(episode_id)
    frames = dataset.load_frames(episode_id)
    out_dir = Path(out_dir)
    stem = f"{dataset.split}_{meta.episode_id}"
    success = "" if meta.success is None else f", success={meta.success}"
    title = f"{dataset.root.name} / {dataset.split} / {meta.episode_id}: {meta.text or '(no instruction)'}{success}"
    sheet = contact_sheet(frames, out_dir / f"{stem}_sheet.png", columns=columns, title=title)
    video = write_views_video(frames, out_dir / f"{stem}_views.mp4")
    return sheet, video
