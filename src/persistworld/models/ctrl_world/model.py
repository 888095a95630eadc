"""The Ctrl-World backend behind the `WorldModel` protocol.

Layout (ctrl_world_reading.md section 2): the 3 views of a frame are VAE-encoded separately and
stacked on the latent height, (4, 3h, w). One U-Net call sees 11 frames: the history latents (clean,
in front, along the frame axis) and the noisy latents of the current frame and the F = 4 future
frames. The current frame is predicted again (Ctrl-World's first target), so the diffusion target
x0 holds F + 1 latent frames; `decode` returns the F future ones. The current frame's unscaled latent,
repeated over all 11 frames, is concatenated on channels (SVD's image condition). The action tokens
(7-D states of the history and predicted frames, plus the text embedding) enter through
cross-attention, one token per frame, and classifier-free guidance zeroes them.

EDM with sigma_data = 1 and v-parametrisation: D = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) F,
F being the U-Net output. `persistworld.models.edm.precondition` uses c_out = +sigma / sqrt(sigma^2 + 1),
so the network here returns -F: same D, and Ctrl-World weights load unchanged.

The VAE is frozen. Its latents of the conditioning frames are cached (the sampler calls `denoise`
several times on one condition), so a rollout step encodes its history once.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLTemporalDecoder
from torch import nn

from persistworld.models.compact import ModelLayout
from persistworld.models.ctrl_world.config import CtrlWorldConfig
from persistworld.models.ctrl_world.frozen import weights_state
from persistworld.models.ctrl_world.network import CtrlWorldNetwork
from persistworld.models.ctrl_world.text import TextEmbedder, build_text_encoder, load_tokenizer
from persistworld.models.edm import precondition
from persistworld.models.protocol import Condition

LATENT_DOWNSAMPLING = 8
ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
# Conditioning tensors whose latents are kept: history and current per row chunk of the sampler
# (`SamplerConfig.max_batch`); CFG's unconditional branch shares them with the conditional one.
CACHED_CONDITIONS = 16


class CtrlWorldModel(nn.Module):
    """Ctrl-World: SVD U-Net + frame-level action tokens + SVD VAE, as a persistworld world model."""

    backend = "ctrl_world"

    def __init__(self, config: CtrlWorldConfig, layout: ModelLayout):
        super().__init__()
        h, w = layout.resolution
        if h % LATENT_DOWNSAMPLING or w % LATENT_DOWNSAMPLING:
            raise ValueError(f"the VAE needs a resolution divisible by {LATENT_DOWNSAMPLING}. Got {h}x{w}.")
        frames = layout.num_history + layout.num_future + 1
        if config.unet.get("num_frames") != frames:
            raise ValueError(
                f"unet.num_frames is {config.unet.get('num_frames')}, but the layout has {layout.num_history} "
                f"history + 1 current + {layout.num_future} future = {frames} frames."
            )
        self.config, self.layout = config, layout
        self.network = CtrlWorldNetwork(config, layout.action_dim)
        self.vae = AutoencoderKLTemporalDecoder(**config.vae).requires_grad_(False)
        # Same attribute name as Ctrl-World's, so that its `text_encoder.*` keys load unchanged.
        self.text_encoder = None if config.text is None else build_text_encoder(config.text)
        self._texts = None if config.text is None else TextEmbedder(load_tokenizer(config.tokenizer))
        self._cache: list[tuple[torch.Tensor, tuple, torch.Tensor]] = []

    @property
    def sigma_data(self) -> float:
        """1: Ctrl-World's latents are scaled to about unit variance."""
        return self.config.edm.sigma_data

    def check_condition(self, cond: Condition) -> None:
        """A clear error when the condition does not match the layout."""
        self.layout.check(cond)

    def autocast(self, device: torch.device) -> torch.autocast:
        """bf16 autocast of the U-Net and VAE calls on `device`, as `config.precision` asks.

        Only the network calls run under it; their outputs come back as float32, so that the EDM
        preconditioning, the sampler and the losses around them keep full precision.
        """
        precision = self.config.precision
        enabled = precision == "bf16" or (precision == "auto" and device.type == "cuda")
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

    # --- VAE --------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(..., V, 3, H, W) frames in [-1, 1] -> (..., 4, V*h, w) scaled latents, views stacked on the height.

        The posterior mean, not a sample (Ctrl-World samples): the same frames give the same latents.
        """
        lead, views = frames.shape[:-4], frames.shape[-4]
        flat = frames.reshape(-1, *frames.shape[-3:]).to(self.vae.dtype)
        with self.autocast(frames.device):
            latents = self.vae.encode(flat).latent_dist.mean.float() * self.config.latent_scale
        latents = latents.reshape(-1, views, *latents.shape[1:])  # (N, V, 4, h, w)
        stacked = latents.permute(0, 2, 1, 3, 4).flatten(2, 3)  # (N, 4, V*h, w)
        return stacked.reshape(*lead, *stacked.shape[1:])

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, T, 4, V*h, w) scaled latents -> (B, T, V, 3, H, W) frames in [-1, 1].

        Each view's T frames are decoded together by the temporal decoder (and never mixed with another
        view's frames, unlike Ctrl-World's chunking, ctrl_world_reading.md section 7, item 8).
        """
        b, t, c, vh, w = latents.shape
        views = self.layout.num_views
        per_view = latents.reshape(b, t, c, views, vh // views, w).permute(0, 3, 1, 2, 4, 5)  # (B, V, T, 4, h, w)
        flat = per_view.reshape(-1, c, vh // views, w).to(self.vae.dtype) / self.config.latent_scale
        with self.autocast(latents.device):
            frames = self.vae.decode(flat, num_frames=t).sample.float()  # (B*V*T, 3, H, W)
        frames = frames.reshape(b, views, t, *frames.shape[1:]).permute(0, 2, 1, 3, 4, 5)
        return frames.clamp(-1, 1)

    def _cached_latents(self, frames: torch.Tensor) -> torch.Tensor:
        """`encode_frames` of a conditioning tensor, remembered while that very tensor is unchanged.

        The cache holds the tensor itself (compared by identity and version counter, so a freed
        tensor's memory cannot be mistaken for it) and the VAE weights' storage and versions (so that
        loading or moving weights invalidates it).
        """
        key = (frames._version, weights_state(self.vae))
        for tensor, cached_key, latents in self._cache:
            if tensor is frames and cached_key == key:
                return latents
        latents = self.encode_frames(frames)
        self._cache = [*self._cache[-(CACHED_CONDITIONS - 1) :], (frames, key, latents)]
        return latents

    # --- the protocol -----------------------------------------------------------------------------

    def encode(self, frames: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Future frames (B, F, V, 3, H, W) -> x0 (B, F + 1, 4, V*h, w): the current frame's latent first."""
        return self.encode_frames(torch.cat([cond.current[:, None], frames], dim=1))

    def decode(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        """x0 -> the F future frames (the regenerated current frame is dropped)."""
        return self.decode_latents(x0[:, 1:])

    def target_shape(self, cond: Condition) -> tuple[int, ...]:
        """(B, F + 1, 4, V*h, w)."""
        h, w = (size // LATENT_DOWNSAMPLING for size in self.layout.resolution)
        channels = self.config.vae.get("latent_channels", 4)
        return (len(cond), self.layout.num_future + 1, channels, self.layout.num_views * h, w)

    def target_views(self, cond: Condition) -> torch.Tensor:
        """(1, 1, 1, V*h, 1): the views are stacked on the latent height, h rows each (`encode_frames`)."""
        rows = self.target_shape(cond)[-2] // self.layout.num_views
        views = torch.arange(self.layout.num_views, device=cond.current.device).repeat_interleave(rows)
        return views.view(1, 1, 1, -1, 1)

    def denoise(self, x_sigma: torch.Tensor, sigma: torch.Tensor, cond: Condition) -> torch.Tensor:
        """EDM x0-prediction in latent space (differentiable in the U-Net and the action encoder)."""
        self.check_condition(cond)
        history = self._cached_latents(cond.history)  # (B, Hn, 4, V*h, w)
        current = self._cached_latents(cond.current)  # (B, 4, V*h, w)
        tokens = self.action_tokens(cond)
        image = (current / self.config.latent_scale)[:, None]  # SVD's image condition: unscaled latent
        ids = torch.tensor(self.config.added_time_ids, device=x_sigma.device, dtype=x_sigma.dtype)
        ids = ids.expand(len(cond), -1)

        def network(scaled: torch.Tensor, c_noise: torch.Tensor, _: object) -> torch.Tensor:
            frames = torch.cat([history.to(scaled.dtype), scaled], dim=1)
            sample = torch.cat([frames, image.to(scaled.dtype).expand_as(frames)], dim=2)
            with self.autocast(scaled.device):
                velocity = self.network.unet(sample, c_noise, tokens.to(scaled.dtype), ids)
            return -velocity[:, history.shape[1] :].to(scaled.dtype)  # the predicted frames; sign: module doc

        return precondition(network, x_sigma, sigma, cond, self.sigma_data)

    def action_tokens(self, cond: Condition) -> torch.Tensor:
        """(B, Hn + F + 1, D) tokens of the history and predicted frames' states (+ the instruction's embedding).

        Where the actions are dropped (CFG's unconditional branch, action dropout in training) the whole
        token is zeroed, text included, as in Ctrl-World.
        """
        states = torch.cat([cond.history_actions, cond.actions], dim=1)
        text = None
        if self.text_encoder is not None:
            texts = cond.texts if cond.texts is not None else [""] * len(cond)
            text = self._texts(self.text_encoder, texts).to(states.dtype)
        tokens = self.network.action_encoder(states, text)
        return tokens * cond.action_mask.to(tokens.dtype).view(-1, 1, 1)

    def lora_targets(self) -> list[str]:
        """The U-Net's attention projections (full module names, so that the VAE's attention is not matched)."""
        return [
            f"network.unet.{name}"
            for name, _ in self.network.unet.named_modules()
            if name.endswith(ATTENTION_PROJECTIONS)
        ]
