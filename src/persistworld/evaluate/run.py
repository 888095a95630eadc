"""Roll every model out on the same held-out episodes with the same seeds and score every frame.

The paired design is what makes two models comparable on a handful of episodes: each model sees the
same episodes, the same start frames and the same per-row noise seeds (`row_seed`), so the
per-episode score differences measure the models, not the luck of the draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.reader import EpisodeDataset
from persistworld.errors import PersistWorldError
from persistworld.evaluate.config import EvaluationConfig
from persistworld.metrics.suite import MetricSuite
from persistworld.models.checkpoint import load_world_model
from persistworld.models.compact import ModelLayout
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout
from persistworld.utils.progress import progress_bar

#: The frozen-world reference: every predicted frame is the ground-truth start frame.
COPY_START = "copy start frame"


@dataclass
class ModelScores:
    """Every metric of every predicted frame of one model (or reference)."""

    name: str
    checkpoint: str | None
    scores: dict[str, np.ndarray]  # metric -> (E, N*F, V)
    frames: torch.Tensor | None = None  # (E_video, N*F, V, 3, H, W) predictions kept for the videos
    seconds_per_step: float = 0.0


@dataclass
class Evaluation:
    """The scored rollouts of all models on the same episodes."""

    config: EvaluationConfig
    episode_ids: list[str]
    num_future: int
    models: list[ModelScores]
    references: list[ModelScores]
    metric_descriptions: dict[str, str]
    truth: torch.Tensor  # (E_video, N*F, V, 3, H, W) ground truth for the videos
    sampler: dict[str, object] = field(default_factory=dict)


def _load_tracks(root: Path, split: str, resolution: tuple[int, int], stats, ids: Sequence[str]) -> list[EpisodeTrack]:
    dataset = EpisodeDataset(root, split, resolution=resolution, stats=stats)
    return [EpisodeTrack.load(dataset, i) for i in ids]


def evaluate_models(
    checkpoints: Sequence[Path],
    names: Sequence[str],
    data_root: Path,
    resolution: tuple[int, int],
    clips: ClipConfig,
    sampler: SamplerConfig,
    config: EvaluationConfig,
    layout: ModelLayout,
    device: torch.device,
) -> Evaluation:
    """Roll out each checkpoint on the first `config.episodes` episodes of `config.split` and score every frame."""
    if len(names) != len(checkpoints):
        raise PersistWorldError(f"got {len(checkpoints)} checkpoints but {len(names)} names.")
    if len(set(names)) != len(names):
        raise PersistWorldError(f"model names must differ, got {list(names)}.")
    if config.split is None:
        raise PersistWorldError("EvaluationConfig.split is not set (the CLI fills in the data config's test split).")
    ids = EpisodeDataset(data_root, config.split, resolution=resolution).episode_ids
    ids = ids[: config.episodes] if config.episodes else ids
    if not ids:
        raise PersistWorldError(f"{data_root}: split `{config.split}` has no episodes to evaluate.")
    suite = MetricSuite(config.metrics, device, lpips_weights=config.lpips_weights)
    batches = [ids[i : i + config.batch_episodes] for i in range(0, len(ids), config.batch_episodes)]
    models: list[ModelScores] = []
    truth_parts, copy_parts = [], []
    with progress_bar() as progress:
        task = progress.add_task("evaluate", total=len(checkpoints) * len(batches), status="")
        for checkpoint, name in zip(checkpoints, names, strict=True):
            model, stats, _ = load_world_model(checkpoint, expected_layout=layout, device=device)
            parts: list[dict[str, np.ndarray]] = []
            kept, seconds = [], []
            for batch in batches:
                progress.update(task, status=f"{name}: episodes {batch[0]}..{batch[-1]}")
                tracks = _load_tracks(data_root, config.split, resolution, stats, batch)
                result = rollout(
                    model, tracks, [config.start] * len(tracks), clips, sampler, config.steps, seed=config.seed,
                    device=device,
                )  # fmt: skip
                parts.append({k: v.numpy() for k, v in suite(result.predicted, result.ground_truth).items()})
                kept.append(result.predicted[: max(0, config.videos - sum(len(k) for k in kept))])
                seconds.append(result.seconds_per_step)
                if not models:  # the ground truth and the copy reference are the same for every model
                    truth_parts.append(result.ground_truth[: max(0, config.videos - sum(len(t) for t in truth_parts))])
                    copy = result.start_frames[:, None].expand_as(result.ground_truth)
                    copy_parts.append({k: v.numpy() for k, v in suite(copy, result.ground_truth).items()})
                progress.advance(task)
            models.append(ModelScores(name, str(checkpoint), _concat(parts), torch.cat(kept), float(np.mean(seconds))))
            del model
    return Evaluation(
        config=config,
        episode_ids=list(ids),
        num_future=clips.num_future,
        models=models,
        references=[ModelScores(COPY_START, None, _concat(copy_parts))],
        metric_descriptions=suite.describe(resolution),
        truth=torch.cat(truth_parts),
        sampler=vars(sampler),
    )


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
