"""Comparison videos: labelled rows (ground truth, one or more models), the views side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from persistworld.data.video import write_video


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) in [-1, 1] -> (..., H, W, 3) uint8."""
    scaled = ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.movedim(-3, -1).cpu().numpy()


def _label(text: str, height: int, width: int = 96) -> np.ndarray:
    """A white panel with `text` word-wrapped to its width (long model names would be cut off otherwise)."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}") <= width - 8:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    block = "\n".join(lines)
    _, top, _, bottom = draw.multiline_textbbox((0, 0), block)
    draw.multiline_text((4, max(0, (height - (bottom - top)) // 2)), block, fill=(0, 0, 0))
    return np.asarray(image)


def views_side_by_side(frames: np.ndarray, scale: int = 2) -> np.ndarray:
    """(T, V, H, W, 3) uint8 -> (T, H * scale, V * W * scale, 3): the views left to right, no label."""
    t, v, h, w, _ = frames.shape
    strip = frames.transpose(0, 2, 1, 3, 4).reshape(t, h, v * w, 3)
    return strip.repeat(scale, axis=1).repeat(scale, axis=2)


def comparison_frames(rows: dict[str, np.ndarray], scale: int = 2) -> np.ndarray:
    """Stack labelled rows: each row (T, V, H, W, 3) uint8 becomes views side by side; rows go top to bottom.

    Returns:
        (T, rows * H * scale, label + V * W * scale, 3) uint8.
    """
    strips = []
    for name, frames in rows.items():
        t, _, h, _, _ = frames.shape
        strip = views_side_by_side(frames, scale)
        label = np.broadcast_to(_label(name, h * scale), (t, h * scale, 96, 3))
        strips.append(np.concatenate([label, strip], axis=2))
    video = np.concatenate(strips, axis=1)
    pad_h, pad_w = video.shape[1] % 2, video.shape[2] % 2  # yuv420p needs even sizes
    return np.pad(video, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=255)


def write_comparison_video(rows: dict[str, np.ndarray], path: str | Path, fps: int = 5) -> Path:
    """Write `comparison_frames(rows)` as an mp4."""
    write_video(path, comparison_frames(rows), fps=fps)
    return Path(path)
