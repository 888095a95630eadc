"""Video encoding: the same frames give the same bytes, whatever the process did before."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from persistworld.data.video import read_video, write_video, yuv420p_frame


def smooth_frames(num_frames: int = 6, height: int = 48, width: int = 80) -> np.ndarray:
    """A moving colour gradient with a little noise: content on which x264 makes real decisions."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    frames = [
        np.stack([(x * 3 + 20 * t) % 256, (y * 5) % 256, (x + y + 10 * t) % 256], axis=-1)
        + rng.integers(0, 12, (height, width, 3))
        for t in range(num_frames)
    ]
    return np.clip(frames, 0, 255).astype(np.uint8)


def dirty_the_heap(fill: int) -> None:
    """Allocate and free many frame buffers full of `fill`, as a long-running process would."""
    junk = [av.VideoFrame(80, 48, "yuv420p") for _ in range(200)]
    for frame in junk:
        for plane in frame.planes:
            plane.update(np.full(plane.buffer_size, fill, np.uint8))
    del junk


def test_encoder_frame_has_zero_padding_and_swscale_pixels():
    rgb = smooth_frames(1)[0]
    frame = yuv420p_frame(rgb)
    reference = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    assert any(plane.line_size > plane.width for plane in frame.planes), "the test needs row padding to mean anything"
    for plane, expected in zip(frame.planes, reference.planes, strict=True):
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        expected_rows = np.frombuffer(expected, np.uint8).reshape(-1, expected.line_size)[: plane.height]
        np.testing.assert_array_equal(rows[:, : plane.width], expected_rows[:, : plane.width])
        assert not rows[:, plane.width :].any()


def test_same_frames_give_same_bytes_whatever_was_in_memory(tmp_path: Path):
    """libx264 reads past the visible row; stale heap bytes there once changed the encoded video."""
    frames = smooth_frames()
    encoded = []
    for fill in (0, 255, 0, 255):
        dirty_the_heap(fill)
        path = tmp_path / f"{len(encoded)}.mp4"
        write_video(path, frames)
        encoded.append(path.read_bytes())
    assert all(data == encoded[0] for data in encoded)
    assert np.abs(read_video(tmp_path / "0.mp4").astype(int) - frames).mean() < 6  # and it is the video (noisy chroma)
