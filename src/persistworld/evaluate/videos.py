"""Videos of an evaluation.

- ``<split>_<episode>.mp4``: ground truth and every model one under the other, labelled, the 3 views
  side by side (for the report);
- ``<slug>/<split>_<episode>.mp4``: one unlabelled video per model and for the ground truth
  (``ground_truth/``), the 3 views side by side, for the blind preference study (names would give
  the models away).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from persistworld.data.video import write_video
from persistworld.evaluate.run import Evaluation
from persistworld.evaluate.slug import slug
from persistworld.rollout.video import comparison_frames, to_uint8, views_side_by_side
from persistworld.utils.atomic import atomic_path


@dataclass(frozen=True)
class EvaluationVideo:
    """One episode's comparison video and its poster (the last frame, where drift shows most)."""

    episode_id: str
    video: Path
    poster: Path
    single: dict[str, Path]  # model name (and "ground truth") -> its unlabelled video


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
        single = {}
        for name, frames_of_one in rows.items():
            path = out / slug(name) / f"{evaluation.config.split}_{episode}.mp4"
            write_video(path, views_side_by_side(frames_of_one), fps=fps)
            single[name] = path
        written.append(EvaluationVideo(episode, stem.with_suffix(".mp4"), stem.with_suffix(".png"), single))
    return written
