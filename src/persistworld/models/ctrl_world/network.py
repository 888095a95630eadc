"""Ctrl-World's trainable part: SVD's spatio-temporal U-Net with one action token per frame, and the action encoder.

Ctrl-World changes one thing in SVD's U-Net: the cross-attention context is one token per frame
(``frame_level_cond``) instead of one token repeated over all frames. `FrameTokenUNet` is diffusers'
`UNetSpatioTemporalConditionModel` (same modules, same state-dict keys) with a forward pass of our
own that feeds those per-frame tokens to diffusers' blocks. With a single key per frame, each spatial
cross-attention adds ``to_out(to_v(token_t))`` to every pixel of frame t; the temporal blocks see
frame 0's token only (diffusers takes their context from the first frame), as in Ctrl-World.
"""

from __future__ import annotations

import torch
from diffusers import UNetSpatioTemporalConditionModel
from torch import nn

from persistworld.models.ctrl_world.config import CtrlWorldConfig


class ActionEncoder(nn.Module):
    """Per-frame MLP 7 -> width -> width -> width (Ctrl-World's ``Action_encoder2``, same key names).

    A text embedding, when given, is tiled to the token width and added to every frame's token.
    """

    def __init__(self, action_dim: int = 7, width: int = 1024):
        super().__init__()
        self.action_encode = nn.Sequential(
            nn.Linear(action_dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)
        )
        for layer in (self.action_encode[0], self.action_encode[2]):
            nn.init.kaiming_normal_(layer.weight)

    def forward(self, actions: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, 7) actions (and (B, width / n) text embeddings) -> (B, T, width) tokens."""
        tokens = self.action_encode(actions)
        if text is not None:
            repeats = tokens.shape[-1] // text.shape[-1]
            tokens = tokens + text.repeat(1, repeats)[:, None]
        return tokens


class FrameTokenUNet(UNetSpatioTemporalConditionModel):
    """SVD's U-Net whose cross-attention sees frame t's own token at frame t."""

    def forward(  # type: ignore[override]
        self, sample: torch.Tensor, timestep: torch.Tensor, frame_tokens: torch.Tensor, added_time_ids: torch.Tensor
    ) -> torch.Tensor:
        """(B, F, C_in, h, w) sample, (B,) timestep, (B, F, D) tokens, (B, 3) ids -> (B, F, C_out, h, w)."""
        batch, frames = sample.shape[:2]
        if frame_tokens.shape[:2] != (batch, frames):
            raise ValueError(
                f"need one token per frame: sample {tuple(sample.shape)}, tokens {tuple(frame_tokens.shape)}"
            )
        emb = self.time_embedding(self.time_proj(timestep.expand(batch)).to(sample.dtype))
        ids = self.add_time_proj(added_time_ids.flatten()).reshape(batch, -1).to(emb.dtype)
        emb = (emb + self.add_embedding(ids)).repeat_interleave(frames, dim=0)
        context = frame_tokens.reshape(batch * frames, 1, frame_tokens.shape[-1])  # Ctrl-World's frame_level_cond
        only_images = torch.zeros(batch, frames, dtype=sample.dtype, device=sample.device)
        hidden = self.conv_in(sample.flatten(0, 1))
        skips = [hidden]
        for block in self.down_blocks:
            hidden, residuals = block(hidden_states=hidden, temb=emb, image_only_indicator=only_images,
                                      **self._context(block, context))  # fmt: skip
            skips.extend(residuals)
        hidden = self.mid_block(
            hidden_states=hidden, temb=emb, encoder_hidden_states=context, image_only_indicator=only_images
        )
        for i, block in enumerate(self.up_blocks):
            residuals, skips = tuple(skips[-len(block.resnets) :]), skips[: -len(block.resnets)]
            size = skips[-1].shape[2:] if i < len(self.up_blocks) - 1 else None
            hidden = block(hidden_states=hidden, temb=emb, res_hidden_states_tuple=residuals, upsample_size=size,
                           image_only_indicator=only_images, **self._context(block, context))  # fmt: skip
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return hidden.reshape(batch, frames, *hidden.shape[1:])

    @staticmethod
    def _context(block: nn.Module, context: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}


class CtrlWorldNetwork(nn.Module):
    """What post-training touches: the U-Net (LoRA targets) and the action encoder (trained in full)."""

    def __init__(self, config: CtrlWorldConfig, action_dim: int = 7):
        super().__init__()
        self.unet = FrameTokenUNet(**config.unet)
        self.action_encoder = ActionEncoder(action_dim, config.token_dim)
        if config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
