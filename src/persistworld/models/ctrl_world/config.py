"""Configs of the Ctrl-World backend and its two presets (`tiny` for CPU tests, `full` for the real sizes).

The U-Net and VAE settings are the keyword arguments of diffusers' `UNetSpatioTemporalConditionModel`
and `AutoencoderKLTemporalDecoder`, kept as plain dicts: diffusers owns and validates them, and a
mirror dataclass would drift from its versions. Everything Ctrl-World adds on top of SVD (frame
layout, action tokens, EDM settings, conditioning ids) is typed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from persistworld.models.ctrl_world.text import FULL_TEXT, TINY_TEXT
from persistworld.models.edm import EDMConfig

#: SVD-img2vid's U-Net (diffusers' defaults) with Ctrl-World's 11-frame window.
FULL_UNET: dict[str, Any] = {
    "in_channels": 8,
    "out_channels": 4,
    "num_frames": 11,
    "down_block_types": [
        "CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    "up_block_types": [
        "UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "num_attention_heads": [5, 10, 20, 20],
    "cross_attention_dim": 1024,
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,
    "transformer_layers_per_block": 1,
}  # fmt: skip
#: SVD's temporal-decoder VAE.
FULL_VAE: dict[str, Any] = {
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "scaling_factor": 0.18215,
}
PRECISIONS = ("auto", "fp32", "bf16")
#: The tiny recipe of ctrl_world_reading.md section 6 (2.9 M U-Net parameters): every code path on a CPU.
#: Channel counts stay multiples of 32 (diffusers hard-wires GroupNorm(32)); the attention-free block
#: sits at full resolution; four VAE blocks keep its downsampling factor at 8.
TINY_UNET: dict[str, Any] = {
    **FULL_UNET,
    "down_block_types": ["DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"],
    "up_block_types": ["CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"],
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "num_attention_heads": [2, 4],
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 24,
}
TINY_VAE: dict[str, Any] = {**FULL_VAE, "block_out_channels": [32] * 4, "layers_per_block": 1}


@dataclass
class CtrlWorldConfig:
    """Ctrl-World on diffusers' SVD parts: 3 views stacked on the latent height, one token per frame."""

    name: str = "full"
    unet: dict[str, Any] = field(default_factory=lambda: dict(FULL_UNET))
    vae: dict[str, Any] = field(default_factory=lambda: dict(FULL_VAE))
    # Width of the per-frame action tokens (the U-Net's cross-attention width).
    token_dim: int = 1024
    # The frozen CLIP text tower (`CLIPTextConfig` keyword arguments) whose embedding of the episode's
    # instruction is tiled to `token_dim` and added to every action token, as Ctrl-World does; None
    # conditions on the actions alone.
    text: dict[str, Any] | None = field(default_factory=lambda: dict(FULL_TEXT))
    # A local folder with the CLIP tokenizer files (vocab.json, merges.txt); None = the byte-level
    # tokenizer of `text.py`, only meaningful for random text weights.
    tokenizer: str | None = None
    # EDM with sigma_data = 1 and Ctrl-World's log-normal training sigmas; the network is v-parametrised
    # (c_out = -sigma / sqrt(sigma^2 + 1)), see `CtrlWorldModel`.
    edm: EDMConfig = field(default_factory=lambda: EDMConfig(sigma_data=1.0, p_mean=0.7, p_std=1.6))
    # SVD's micro-conditioning ids (fps, motion bucket, noise augmentation). Ctrl-World trains with
    # noise augmentation 0.0 and samples with 0.02 (ctrl_world_reading.md section 7, item 6); we use 0.0 for both.
    added_time_ids: tuple[float, float, float] = (7.0, 127.0, 0.0)
    # Gradient checkpointing inside the U-Net blocks (memory for time, on the GPU path).
    gradient_checkpointing: bool = False
    # Arithmetic of the U-Net and the VAE: "auto" = bf16 autocast on CUDA and float32 elsewhere, "bf16"
    # = bf16 autocast on any device, "fp32" = float32 everywhere. Weights, optimizer states, the EDM
    # preconditioning, the sampler's state and the rewards stay float32 in every case: bf16's 8-bit
    # mantissa is enough for convolutions and attention, not for accumulating small updates.
    precision: str = "auto"

    def __post_init__(self) -> None:
        self.added_time_ids = tuple(self.added_time_ids)
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}. Got {self.precision!r}.")
        if self.unet.get("cross_attention_dim") != self.token_dim:
            raise ValueError(
                f"unet.cross_attention_dim ({self.unet.get('cross_attention_dim')}) must equal token_dim "
                f"({self.token_dim}): the action tokens are the U-Net's cross-attention context."
            )
        if self.text is not None and self.token_dim % self.text.get("projection_dim", 512):
            raise ValueError(
                f"token_dim ({self.token_dim}) must be a multiple of text.projection_dim "
                f"({self.text.get('projection_dim', 512)}): the text embedding is tiled to the token width."
            )
        expected = 3 * self.unet.get("addition_time_embed_dim", 0)
        if self.unet.get("projection_class_embeddings_input_dim") != expected:
            raise ValueError(
                "unet.projection_class_embeddings_input_dim must be 3 x addition_time_embed_dim "
                f"(three micro-conditioning ids) = {expected}."
            )

    @property
    def latent_scale(self) -> float:
        """The VAE's scaling factor: latents are stored and diffused scaled by it."""
        return float(self.vae.get("scaling_factor", 0.18215))


CTRL_WORLD_PRESETS: dict[str, Callable[[], CtrlWorldConfig]] = {
    "tiny": lambda: CtrlWorldConfig(name="tiny", unet=dict(TINY_UNET), vae=dict(TINY_VAE), text=dict(TINY_TEXT)),
    "full": lambda: CtrlWorldConfig(name="full"),
}
