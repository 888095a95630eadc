"""Video files through PyAV: decode to uint8 RGB arrays (resized on load), encode h264 mp4 atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from persistworld.errors import EpisodeDataError
from persistworld.utils.atomic import atomic_path
from persistworld.utils.heap import deterministic_allocations


def read_video(
    path: str | Path,
    size: tuple[int, int] | None = None,
    expected_frames: int | None = None,
) -> np.ndarray:
    """Decode every frame of a video as RGB.

    Args:
        path: The video file.
        size: Optional (height, width) to resize to. Downscaling uses area averaging (no aliasing),
            upscaling bilinear interpolation.
        expected_frames: If given, the video must hold at least this many frames; only the first
            `expected_frames` are returned (and decoding stops there).

    Returns:
        uint8 array of shape (T, H, W, 3).

    Raises:
        EpisodeDataError: If the file is missing, unreadable or truncated, or has too few frames.
    """
    path = Path(path)
    if not path.is_file():
        raise EpisodeDataError(path, "video file not found.")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EpisodeDataError(path, "the file contains no video stream.")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if size is not None and (frame.height, frame.width) != tuple(size):
                    downscale = size[0] * size[1] < frame.height * frame.width
                    frame = frame.reformat(
                        width=size[1], height=size[0], interpolation="AREA" if downscale else "BILINEAR"
                    )
                frames.append(frame.to_ndarray(format="rgb24"))
                if expected_frames is not None and len(frames) == expected_frames:
                    break
    except EpisodeDataError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise EpisodeDataError(path, f"not a readable video, the file is corrupt or truncated ({exc}).") from exc
    if not frames:
        raise EpisodeDataError(path, "the video decodes to zero frames (corrupt or truncated file).")
    if expected_frames is not None and len(frames) < expected_frames:
        raise EpisodeDataError(
            path,
            f"has {len(frames)} decodable frames but the annotation's `video_length` is {expected_frames} "
            "(truncated video or wrong annotation).",
        )
    return np.stack(frames)


def yuv420p_frame(rgb: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame of an RGB image whose row padding is zeros, not whatever was in memory.

    Why: libx264 reads a few bytes past the visible width of each plane row. A frame from
    ``VideoFrame.from_ndarray`` / ``reformat`` leaves that padding uninitialised, so the same pixels
    encoded to different bytes depending on the process's heap history; in simulator workers that
    had rendered with EGL, 1 in ~3 runs wrote an mp4 whose decoded frames differed by up to 8 levels
    from the one written by another process. With zeroed padding the bytes never varied.
    The colour conversion itself is swscale's (BT.601, limited range), as before.
    """
    height, width = rgb.shape[:2]
    converted = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame = av.VideoFrame(width, height, "yuv420p")
    for source, target in zip(converted.planes, frame.planes, strict=True):
        rows = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)[: target.height, : target.width]
        padded = np.zeros((target.height, target.line_size), np.uint8)
        padded[:, : target.width] = rows
        target.update(padded)
    return frame


def write_video(path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: int = 5, crf: int = 15) -> None:
    """Encode RGB frames as an h264 mp4 (yuv420p), atomically.

    The same frames always give the same bytes, in any process: encoding is single-threaded, every
    input frame is built by `yuv420p_frame`, and the encoder runs under `deterministic_allocations`
    (see both for why).

    Args:
        path: Destination ``.mp4``.
        frames: uint8 frames, (T, H, W, 3); H and W must be even (yuv420p).
        fps: Frame rate written into the container.
        crf: x264 constant rate factor; 15 is visually near-lossless.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"h264 with yuv420p needs an even frame size, got {height}x{width}")
    # x264 also reads some of its own memory before writing it: see persistworld.utils.heap
    with atomic_path(path, suffix=".mp4") as tmp, deterministic_allocations():
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "fast", "threads": "1"}
            for array in frames:
                for packet in stream.encode(yuv420p_frame(array)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
