"""Side-by-side videos of an evaluation: ground truth | model A | model B ... (rows), the 3 views side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from persistworld.data.video import write_video
from persistworld.evaluate.run import Evaluation
from persistworld.rollout.video import comparison_frames, to_uint8
from persistworld.utils.atomic import atomic_path


@dataclass(frozen=True)
class EvaluationVideo:
    """One episode's comparison video and its poster (the last frame, where drift shows most)."""

    episode_id: str
    video: Path
    poster: Path


def write_videos(evaluation: Evaluation, out: Path, fps: int = 5) -> list[EvaluationVideo]:
    """Write ``<out>/<split>_<episode>.mp4`` and a ``.png`` poster for the first episodes kept for videos."""
    written = []
    for row in range(evaluation.truth.shape[0]):
        episode = evaluation.episode_ids[row]
        rows = {"ground truth": to_uint8(evaluation.truth[row])}
        rows.update({model.name: to_uint8(model.frames[row]) for model in evaluation.models})
        frames = comparison_frames(rows)
        stem = out / f"{evaluation.config.split}_{episode}"
        write_video(stem.with_suffix(".mp4"), frames, fps=fps)
        with atomic_path(stem.with_suffix(".png"), suffix=".png") as tmp:
            Image.fromarray(frames[-1]).save(tmp, format="PNG")
        written.append(EvaluationVideo(episode, stem.with_suffix(".mp4"), stem.with_suffix(".png")))
    return written
