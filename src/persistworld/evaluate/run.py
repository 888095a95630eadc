"""Roll every model out on the same held-out episodes with the same seeds and score every frame.

The paired design is what makes two models comparable on a handful of episodes: each model sees the
same episodes, the same start frames and the same per-row noise seeds (`row_seed`), so the
per-episode score differences measure the models, not the luck of the draw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.layout import annotation_path
from persistworld.data.reader import EpisodeDataset
from persistworld.errors import PersistWorldError
from persistworld.evaluate.config import EvaluationConfig
from persistworld.evaluate.slug import slug
from persistworld.metrics.suite import MetricSuite
from persistworld.models.checkpoint import load_world_model
from persistworld.models.compact import ModelLayout
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack, rollout
from persistworld.utils.atomic import atomic_path
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


def _load_tracks(
    root: Path, config: EvaluationConfig, resolution: tuple[int, int], stats, ids: Sequence[str], num_future: int
) -> list[EpisodeTrack]:
    """Episodes with actions normalised by the model's statistics; too-short episodes are a clear error."""
    dataset = EpisodeDataset(root, config.split, resolution=resolution, stats=stats)
    needed = config.start + config.steps * num_future + 1
    for episode_id in ids:
        length = dataset.meta(episode_id).video_length
        if length < needed:
            raise PersistWorldError(
                f"{annotation_path(root, config.split, episode_id)}: video_length {length} is too short to replay "
                f"{config.steps} steps of {num_future} frames from frame {config.start} (needs {needed}); "
                "use fewer --steps or --episodes that are long enough."
            )
    return [EpisodeTrack.load(dataset, i) for i in ids]


def _cache_path(out: Path | None, checkpoint: Path, ids: Sequence[str], settings: dict) -> Path | None:
    """Where the scores of one model under these exact settings are kept, so that a killed evaluation resumes."""
    if out is None:
        return None
    stat = checkpoint.stat()
    key = json.dumps(
        {"checkpoint": str(checkpoint.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ids": list(ids),
         **settings}, sort_keys=True, default=str,
    )  # fmt: skip
    return out / ".cache" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"


def _score_model(checkpoint: Path, name: str, batches: list[list[str]], setup: _Setup, progress, task) -> ModelScores:
    """Roll one checkpoint out on every batch of episodes and score every frame (or load the cached scores)."""
    cache = _cache_path(setup.out, checkpoint, [i for b in batches for i in b], setup.settings)
    if cache is not None and cache.is_file():
        saved = torch.load(cache, weights_only=False)
        progress.advance(task, len(batches))
        return ModelScores(name, str(checkpoint), saved["scores"], saved["frames"], saved["seconds_per_step"])
    model, stats, _ = load_world_model(checkpoint, expected_layout=setup.layout, device=setup.device)
    parts: list[dict[str, np.ndarray]] = []
    kept, seconds = [], []
    config = setup.config
    for batch in batches:
        progress.update(task, status=f"{name}: episodes {batch[0]}..{batch[-1]}")
        tracks = _load_tracks(setup.root, config, setup.resolution, stats, batch, setup.clips.num_future)
        result = rollout(
            model, tracks, [config.start] * len(tracks), setup.clips, setup.sampler, config.steps, seed=config.seed,
            device=setup.device,
        )  # fmt: skip
        parts.append({k: v.numpy() for k, v in setup.suite(result.predicted, result.ground_truth).items()})
        kept.append(result.predicted[: max(0, config.videos - sum(len(k) for k in kept))])
        seconds.append(result.seconds_per_step)
        progress.advance(task)
    scores = ModelScores(name, str(checkpoint), _concat(parts), torch.cat(kept), float(np.mean(seconds)))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache, suffix=".pt") as tmp:
            torch.save(
                {"scores": scores.scores, "frames": scores.frames, "seconds_per_step": scores.seconds_per_step}, tmp
            )
    return scores


def _score_reference(batches: list[list[str]], setup: _Setup) -> tuple[ModelScores, torch.Tensor]:
    """The copy-start-frame reference and the ground truth kept for the videos."""
    parts, truth = [], []
    horizon = setup.config.steps * setup.clips.num_future
    start = setup.config.start
    for batch in batches:
        tracks = _load_tracks(setup.root, setup.config, setup.resolution, None, batch, setup.clips.num_future)
        ground_truth = torch.stack([t.frames[start + 1 : start + 1 + horizon] for t in tracks])
        copy = torch.stack([t.frames[start] for t in tracks])[:, None].expand_as(ground_truth)
        parts.append({k: v.numpy() for k, v in setup.suite(copy, ground_truth).items()})
        truth.append(ground_truth[: max(0, setup.config.videos - sum(len(t) for t in truth))])
    return ModelScores(COPY_START, None, _concat(parts)), torch.cat(truth)


@dataclass
class _Setup:
    """What every model of one evaluation shares."""

    root: Path
    resolution: tuple[int, int]
    clips: ClipConfig
    sampler: SamplerConfig
    config: EvaluationConfig
    layout: ModelLayout
    device: torch.device
    suite: MetricSuite
    out: Path | None

    @property
    def settings(self) -> dict:
        """Everything besides the checkpoint and episodes that the scores depend on (the cache key)."""
        return {
            "resolution": list(self.resolution), "clips": vars(self.clips), "sampler": vars(self.sampler),
            "split": self.config.split, "steps": self.config.steps, "start": self.config.start,
            "seed": self.config.seed, "videos": self.config.videos, "metrics": self.suite.describe(self.resolution),
            "device": str(self.device),
        }  # fmt: skip


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
    out: Path | None = None,
) -> Evaluation:
    """Roll out each checkpoint on the first `config.episodes` episodes of `config.split` and score every frame.

    With `out`, each model's scores are kept in ``<out>/.cache`` (keyed by the checkpoint file and every
    setting), so that a killed evaluation resumes with the models it had finished.
    """
    if len(names) != len(checkpoints):
        raise PersistWorldError(f"got {len(checkpoints)} checkpoints but {len(names)} names.")
    slugs = [slug(n) for n in names]
    if len(set(slugs)) != len(slugs) or "ground_truth" in slugs:
        raise PersistWorldError(
            f"model names must differ in their file-name form and not be `ground truth`, got {list(names)} -> {slugs}."
        )
    if config.split is None:
        raise PersistWorldError("EvaluationConfig.split is not set (the CLI fills in the data config's test split).")
    for checkpoint in checkpoints:
        if not Path(checkpoint).is_file():
            raise PersistWorldError(f"{checkpoint}: no such checkpoint file.")
    ids = EpisodeDataset(data_root, config.split, resolution=resolution).episode_ids
    ids = ids[: config.episodes] if config.episodes else ids
    if not ids:
        raise PersistWorldError(f"{data_root}: split `{config.split}` has no episodes to evaluate.")
    suite = MetricSuite(config.metrics, device, lpips_weights=config.lpips_weights)
    setup = _Setup(data_root, resolution, clips, sampler, config, layout, device, suite, out)
    batches = [ids[i : i + config.batch_episodes] for i in range(0, len(ids), config.batch_episodes)]
    reference, truth = _score_reference(batches, setup)
    with progress_bar() as progress:
        task = progress.add_task("evaluate", total=len(checkpoints) * len(batches), status="")
        models = [
            _score_model(Path(checkpoint), name, batches, setup, progress, task)
            for checkpoint, name in zip(checkpoints, names, strict=True)
        ]
    return Evaluation(
        config=config,
        episode_ids=list(ids),
        num_future=clips.num_future,
        models=models,
        references=[reference],
        metric_descriptions=suite.describe(resolution),
        truth=truth,
        sampler=vars(sampler),
    )


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
