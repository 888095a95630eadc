"""Checkpoints that describe themselves: architecture, data layout and normalisation travel with the weights.

A checkpoint is one ``torch.save`` file written atomically. It holds the model's config and layout
(so it can be rebuilt without the run's config), the 7-D state normalisation it was trained with
(actions must be normalised the same way at rollout), the weights, and, for training checkpoints,
the EMA weights, the optimizer and every random-number state needed to resume bit-for-bit.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from persistworld.config import config_from_dict
from persistworld.data.stats import StateStats
from persistworld.errors import PersistWorldError
from persistworld.models.compact import CompactConfig, CompactWorldModel, ModelLayout
from persistworld.models.ctrl_world.config import CtrlWorldConfig
from persistworld.utils.atomic import atomic_path

FORMAT_VERSION = 1
#: What the training code holds: an `nn.Module` that implements the `WorldModel` protocol (either backend).
WorldModelModule = torch.nn.Module
#: The architecture config of either backend.
ModelConfig = CompactConfig | CtrlWorldConfig


class CheckpointError(PersistWorldError):
    """A checkpoint that cannot be used here; the message names the file and the mismatch."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


BACKENDS = ("compact", "ctrl_world")


def backend_classes(name: str, path: str | Path) -> tuple[type, type]:
    """(config class, model class) of a backend; Ctrl-World's import diffusers, so only when asked for."""
    if name == "compact":
        return CompactConfig, CompactWorldModel
    if name == "ctrl_world":
        from persistworld.models.ctrl_world.model import CtrlWorldModel

        return CtrlWorldConfig, CtrlWorldModel
    raise CheckpointError(path, f"backend `{name}` is not supported here (known: {', '.join(BACKENDS)}).")


def build_world_model(config: ModelConfig, layout: ModelLayout) -> WorldModelModule:
    """A fresh model (random weights) of the backend that `config` describes."""
    backend = "ctrl_world" if isinstance(config, CtrlWorldConfig) else "compact"
    _, model_class = backend_classes(backend, "<config>")
    return model_class(config, layout)


def checkpoint_model_config(path: str | Path, payload: dict[str, Any]) -> ModelConfig:
    """The architecture config stored in a checkpoint, as its backend's config class."""
    config_class, _ = backend_classes(payload.get("backend", "compact"), path)
    return config_from_dict(config_class, payload["model_config"], source=str(path))


def save_checkpoint(path: str | Path, model: torch.nn.Module, stats: StateStats, **extra: Any) -> None:
    """Write a checkpoint atomically.

    Args:
        path: Destination file.
        model: The model (its own weights are stored under ``model``).
        stats: The state normalisation the model was trained with.
        **extra: More entries (``ema``, ``optimizer``, ``step``, ``rng``, ``train_config``, ...).
    """
    payload = {
        "format_version": FORMAT_VERSION,
        "backend": model.backend,
        "model_config": asdict(model.config),
        "layout": asdict(model.layout),
        "stats": {"low": stats.low.tolist(), "high": stats.high.tolist()},
        "model": model.state_dict(),
        **extra,
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's raw dict (on CPU), with clear errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint not found.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(path, f"not a readable checkpoint ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(payload, dict) or "model_config" not in payload:
        raise CheckpointError(path, "not a persistworld checkpoint (no `model_config`).")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            path, f"format version {payload.get('format_version')}, this persistworld reads {FORMAT_VERSION}."
        )
    return payload


def checkpoint_layout(payload: dict[str, Any]) -> ModelLayout:
    """The data layout a checkpoint was trained on."""
    layout = dict(payload["layout"])
    layout["resolution"] = tuple(layout["resolution"])
    return ModelLayout(**layout)


def check_layout(path: str | Path, trained: ModelLayout, requested: ModelLayout) -> None:
    """Refuse to use a model on data of another shape, naming each field that differs."""
    if trained == requested:
        return
    differences = [
        f"{name}: checkpoint {getattr(trained, name)}, config {getattr(requested, name)}"
        for name in trained.__dataclass_fields__
        if getattr(trained, name) != getattr(requested, name)
    ]
    raise CheckpointError(
        path,
        "the model was trained on "
        + trained.describe()
        + " but the config asks for "
        + requested.describe()
        + " ("
        + "; ".join(differences)
        + "). Use the preset the model was trained with, or set "
        "data.resolution / clips.history / clips.num_future to match.",
    )


def check_model_config(path: str | Path, trained: ModelConfig, requested: ModelConfig) -> None:
    """Refuse to resume into a different architecture (or backend), naming the differing fields."""
    if type(trained) is not type(requested):
        raise CheckpointError(
            path, f"the checkpoint is a {type(trained).__name__} model and the config asks for a "
            f"{type(requested).__name__} one. Pick the matching --model preset or start a new run directory.",
        )  # fmt: skip
    trained_dict, requested_dict = asdict(trained), asdict(requested)
    differences = [k for k in trained_dict if trained_dict[k] != requested_dict[k]]
    if differences:
        fields = "; ".join(f"{k}: checkpoint {trained_dict[k]}, config {requested_dict[k]}" for k in differences)
        raise CheckpointError(
            path,
            f"the checkpoint is a `{trained.name}` model and the config asks for `{requested.name}` ({fields}). "
            "Pick the matching --model preset or start a new run directory.",
        )


def load_world_model(
    path: str | Path,
    *,
    expected_layout: ModelLayout | None = None,
    weights: str = "ema",
    device: torch.device | str = "cpu",
) -> tuple[WorldModelModule, StateStats, dict[str, Any]]:
    """Rebuild a model from a checkpoint.

    Args:
        path: Checkpoint file.
        expected_layout: The layout of the data it will run on; a mismatch is a clear error.
        weights: ``ema`` (the default, what is evaluated) or ``model`` (the raw training weights).
        device: Where to put the model.

    Returns:
        The model in eval mode, its state normalisation, and the checkpoint's raw dict.
    """
    payload = read_checkpoint(path)
    layout = checkpoint_layout(payload)
    if expected_layout is not None:
        check_layout(path, layout, expected_layout)
    model = build_world_model(checkpoint_model_config(path, payload), layout)
    key = weights if weights in payload else "model"
    if weights not in ("ema", "model"):
        raise ValueError(f"`weights` must be `ema` or `model`. Got `{weights}`.")
    model.load_state_dict(payload[key])
    stats = StateStats(low=np.asarray(payload["stats"]["low"]), high=np.asarray(payload["stats"]["high"]))
    return model.to(device).eval(), stats, payload
