"""Build the Ctrl-World backend from local folders only: SVD, CLIP's text tower and a Ctrl-World checkpoint.

Nothing is downloaded. Every missing or mismatching file is an error that names it and shows the
layout expected:

    <svd folder>/                      stabilityai/stable-video-diffusion-img2vid, diffusers layout
        model_index.json
        unet/config.json  unet/diffusion_pytorch_model.safetensors (or .bin)
        vae/config.json   vae/diffusion_pytorch_model.safetensors (or .bin)
    <clip folder>/                     openai/clip-vit-base-patch32, transformers layout
        config.json                    a CLIPModel config (its text_config is used) or a CLIPTextConfig
        model.safetensors (or pytorch_model.bin)
        vocab.json  merges.txt         the tokenizer
    <ctrl-world checkpoint>.pt         torch.save of CrtlWorld.state_dict(): unet.*, vae.*, action_encoder.*,
                                       text_encoder.*, image_encoder.*

Ctrl-World's keys map onto ours by prefix (`CHECKPOINT_PREFIXES`); the model's CLIP text tower is
called `text_encoder`, as in Ctrl-World, so those keys load unchanged. Its CLIP image encoder is
loaded and saved by Ctrl-World but never used, so it is skipped (and so is the text tower when the
model is built without text conditioning); the skipped groups are reported to the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from persistworld.errors import PersistWorldError
from persistworld.models.compact import ModelLayout
from persistworld.models.ctrl_world.config import CtrlWorldConfig
from persistworld.models.ctrl_world.model import CtrlWorldModel

CHECKPOINT_PREFIXES = {
    "unet.": "network.unet.", "action_encoder.": "network.action_encoder.", "vae.": "vae.",
    "text_encoder.": "text_encoder.",
}  # fmt: skip
SKIPPED_PREFIXES = ("image_encoder.",)
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
CLIP_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CLIP_TEXT_PREFIXES = ("text_model.", "text_projection.")
# Keys of a transformers config.json that are bookkeeping, not architecture.
CONFIG_BOOKKEEPING = ("architectures", "model_type", "transformers_version", "torch_dtype", "dtype")
LAYOUT = __doc__.split("\n\n")[2]
BYTE_LEVEL_VOCAB = 514  # the vocabulary of text.byte_level_tokenizer


class CtrlWorldLoadError(PersistWorldError):
    """A Ctrl-World file that is missing or does not fit; the message names it and the expected layout."""


@dataclass
class LoadReport:
    """What a checkpoint load did besides loading: the key groups it skipped (and why)."""

    skipped: dict[str, int] = field(default_factory=dict)  # prefix -> number of tensors


def _component(folder: Path, name: str) -> tuple[dict, Path]:
    """The config and weight file of one diffusers component (``unet`` or ``vae``)."""
    return _config_and_weights(folder / name, WEIGHT_FILES)


def _config_and_weights(folder: Path, weight_files: tuple[str, ...]) -> tuple[dict, Path]:
    """A model folder's parsed ``config.json`` and its first weight file that exists (errors name the missing one)."""
    config_file = folder / "config.json"
    weights = next((folder / f for f in weight_files if (folder / f).is_file()), None)
    if not config_file.is_file() or weights is None:
        missing = config_file if not config_file.is_file() else folder / weight_files[0]
        raise CtrlWorldLoadError(f"{missing} not found. The folders must look like this:\n{LAYOUT}")
    try:
        return json.loads(config_file.read_text()), weights
    except json.JSONDecodeError as exc:
        raise CtrlWorldLoadError(f"{config_file}: not valid JSON ({exc}).") from exc


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def config_from_svd_folder(
    folder: str | Path, layout: ModelLayout, name: str = "svd", clip_folder: str | Path | None = None
) -> CtrlWorldConfig:
    """A `CtrlWorldConfig` with the U-Net and VAE settings of a diffusers SVD folder and the layout's frame count.

    With `clip_folder`, the text tower and tokenizer are CLIP's from that folder; without, there is no
    text conditioning.
    """
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise CtrlWorldLoadError(f"{folder / 'model_index.json'} not found. The folders must look like this:\n{LAYOUT}")
    unet, _ = _component(folder, "unet")
    vae, _ = _component(folder, "vae")
    settings = {key: value for key, value in unet.items() if not key.startswith("_")}
    settings["num_frames"] = layout.num_history + 1 + layout.num_future
    vae_settings = {key: value for key, value in vae.items() if not key.startswith("_")}
    text = None if clip_folder is None else text_config_from_clip_folder(Path(clip_folder))
    return CtrlWorldConfig(
        name=name, unet=settings, vae=vae_settings, token_dim=settings["cross_attention_dim"], text=text,
        tokenizer=None if clip_folder is None else str(clip_folder),
    )  # fmt: skip


def load_svd_folder(model: CtrlWorldModel, folder: str | Path) -> None:
    """Load an SVD folder's U-Net and VAE weights into `model` (strict: every tensor must fit)."""
    folder = Path(folder)
    for component, target in (("unet", model.network.unet), ("vae", model.vae)):
        _, weights = _component(folder, component)
        _load_strict(target, _read_weights(weights), weights)


def load_ctrl_world_checkpoint(model: CtrlWorldModel, path: str | Path) -> LoadReport:
    """Load a Ctrl-World state dict (its own key names) into `model`; strict apart from the skipped groups."""
    path = Path(path)
    if not path.is_file():
        raise CtrlWorldLoadError(f"Ctrl-World checkpoint {path} not found.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or truncated files
        raise CtrlWorldLoadError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {exc}).") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    skipped = SKIPPED_PREFIXES if model.text_encoder is not None else (*SKIPPED_PREFIXES, "text_encoder.")
    report, mapped, unknown = LoadReport(), {}, []
    for key, value in state.items():
        prefix = next((p for p in CHECKPOINT_PREFIXES if key.startswith(p)), None)
        if key.startswith(skipped):
            group = key.split(".", 1)[0]
            report.skipped[group] = report.skipped.get(group, 0) + 1
        elif prefix is not None:
            mapped[CHECKPOINT_PREFIXES[prefix] + key[len(prefix) :]] = value
        else:
            unknown.append(key)
    if unknown:
        raise CtrlWorldLoadError(
            f"{path}: {len(unknown)} keys outside Ctrl-World's layout, e.g. {unknown[:5]}. Expected prefixes: "
            f"{sorted([*CHECKPOINT_PREFIXES, *SKIPPED_PREFIXES])}."
        )
    if model.text_encoder is not None and any(k.startswith("text_encoder.") for k in mapped):
        _check_tokenizer(model, path)
    _load_strict(model, mapped, path)
    return report


def _check_tokenizer(model: CtrlWorldModel, source: Path) -> None:
    """Refuse text weights that the model's tokenizer cannot feed (real CLIP weights need CLIP's tokenizer)."""
    vocab = (model.config.text or {}).get("vocab_size")
    if model.config.tokenizer is None and vocab != BYTE_LEVEL_VOCAB:
        raise CtrlWorldLoadError(
            f"{source} holds CLIP text weights with a {vocab}-token vocabulary, but the model has no tokenizer "
            "folder (config `tokenizer`), and the built-in byte-level tokenizer only suits random weights. Pass "
            f"the CLIP folder (clip_folder=...). The folders must look like this:\n{LAYOUT}"
        )


def text_config_from_clip_folder(folder: Path) -> dict:
    """`CLIPTextConfig` keyword arguments of a CLIP folder (a full CLIP model's `text_config`, or a text model's)."""
    settings, _ = _config_and_weights(folder, CLIP_WEIGHT_FILES)
    settings = settings.get("text_config", settings)
    return {k: v for k, v in settings.items() if not k.startswith("_") and k not in CONFIG_BOOKKEEPING}


def load_clip_folder(model: CtrlWorldModel, folder: str | Path) -> None:
    """Load the text tower's weights (`text_model.*`, `text_projection.*`) of a local CLIP folder into `model`."""
    folder = Path(folder)
    if model.text_encoder is None:
        raise CtrlWorldLoadError(f"{folder}: this model is built without text conditioning (config `text` is None).")
    _, weights = _config_and_weights(folder, CLIP_WEIGHT_FILES)
    state = {k: v for k, v in _read_weights(weights).items() if k.startswith(CLIP_TEXT_PREFIXES)}
    _load_strict(model.text_encoder, state, weights)


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """`load_state_dict` whose errors name the file, the keys and the shapes."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
             for k in state if k in own and state[k].shape != own[k].shape]  # fmt: skip
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors missing from the file, e.g. {missing[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors the model does not have, e.g. {unexpected[:5]}")
    if wrong:
        problems.append(f"{len(wrong)} tensors of another shape, e.g. {wrong[:3]}")
    if problems:
        raise CtrlWorldLoadError(
            f"{source} does not fit this model ({'; '.join(problems)}). Check that the file belongs to the same "
            "SVD variant (img2vid, 14 frames) and that the U-Net settings match."
        )
    module.load_state_dict(state, strict=False)  # only the model's own keys are present; checked above


def from_local_folders(
    svd_folder: str | Path,
    layout: ModelLayout,
    checkpoint: str | Path | None = None,
    clip_folder: str | Path | None = None,
) -> tuple[CtrlWorldModel, LoadReport]:
    """The backend with SVD's architecture and weights, CLIP's text tower, then (optionally) a Ctrl-World checkpoint.

    Without `clip_folder` the model conditions on the actions alone (its text tower would have no
    tokenizer); a checkpoint's `text_encoder.*` keys are then skipped and reported.
    """
    model = CtrlWorldModel(config_from_svd_folder(svd_folder, layout, clip_folder=clip_folder), layout)
    load_svd_folder(model, svd_folder)
    if clip_folder is not None:
        load_clip_folder(model, clip_folder)
    report = load_ctrl_world_checkpoint(model, checkpoint) if checkpoint is not None else LoadReport()
    return model, report
