"""The compact backend: a pixel-space EDM U-Net that a CPU can train (DESIGN §3).

One forward pass predicts the F future frames of all V views jointly. Views are stacked along the
image height (as Ctrl-World stacks them in latent space), so one 2-D U-Net sees all cameras and its
coarsest, attention-equipped level relates them. The noisy future frames, the current frame and the
sparse history frames enter as input channels; the noise level and the per-frame 7-D actions enter
every residual block through adaptive group norm.

The diffusion target is a switch. ``residual`` (default) predicts the change from the current frame:
in a toy run (`reference/feasibility_toy_rl.md`) a raw-pixel target did not learn on CPU in 13 minutes
while the residual one did. ``frames`` predicts the frames themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from persistworld.errors import ConfigError
from persistworld.models.blocks import AdaGroupNorm, FourierFeatures, ResBlock, SelfAttention2d, num_groups, zero_
from persistworld.models.edm import EDMConfig, precondition
from persistworld.models.protocol import Condition

TARGETS = ("residual", "frames")


@dataclass(frozen=True)
class ModelLayout:
    """What the model's tensors look like; fixed by the data and clip configs, stored in checkpoints."""

    resolution: tuple[int, int]  # (H, W) per view
    num_views: int = 3
    num_history: int = 4
    num_future: int = 4
    action_dim: int = 7

    def check(self, cond: Condition) -> None:
        """Raise a clear error when a condition's tensors do not have this layout's shapes."""
        h, w = self.resolution
        b = len(cond)
        expected = {
            "history": (b, self.num_history, self.num_views, 3, h, w),
            "current": (b, self.num_views, 3, h, w),
            "history_actions": (b, self.num_history, self.action_dim),
            "actions": (b, self.num_future + 1, self.action_dim),
            "action_mask": (b,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(cond, name).shape)
            if got != shape:
                raise ValueError(f"condition `{name}` has shape {got}, the model expects {shape} ({self.describe()}).")

    def describe(self) -> str:
        """One line for error messages."""
        h, w = self.resolution
        return (
            f"{self.num_views} views at {h}x{w}, {self.num_history} history + 1 current + {self.num_future} "
            f"future frames, {self.action_dim}-D actions"
        )


@dataclass
class CompactConfig:
    """Architecture and diffusion target of the compact U-Net."""

    # Name of the size preset (`tiny`, `demo`, `large`); checkpoints record it for error messages.
    name: str = "demo"
    # Channels per U-Net level; the image is halved between levels.
    channels: tuple[int, ...] = (32, 64, 96)
    # Residual blocks per level on the way down (the way up has one more, for the skip).
    blocks_per_level: int = 2
    # Levels (0 = full resolution) that get self-attention after their blocks; -1 = the coarsest. The
    # middle blocks get attention when the coarsest level does. Attention cost grows with the square of
    # the positions: keep it at the coarsest level on a CPU.
    attention_levels: tuple[int, ...] = (-1,)
    # Width of the conditioning vector (noise level + actions) fed to every AdaGroupNorm.
    cond_dim: int = 128
    # Width of the per-frame action embedding, before it is flattened over frames.
    action_embed_dim: int = 32
    # `residual`: predict future minus current frame; `frames`: predict the frames.
    target: str = "residual"
    # Append 2 channels with the (y, x) position, so the convolutions know which view they are in.
    coordinate_channels: bool = True
    # Channels of the learned spatial action map (0 = off). An MLP turns the actions into a coarse
    # per-view map (the size of the U-Net's coarsest level), upsampled and fed in as input channels.
    # Why: adaptive group norm gives every pixel the same action-dependent scale and shift, so placing
    # the arm needs the convolutions to build "where" from the coordinate channels; a map lets the
    # action say "here" directly, as Ctrl-World's per-position attention to action tokens does.
    action_map: int = 0
    edm: EDMConfig = field(default_factory=lambda: EDMConfig(sigma_data=0.2))

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.attention_levels = tuple(self.attention_levels)
        if self.target not in TARGETS:
            raise ValueError(f"`target` must be one of {TARGETS}. Got `{self.target}`.")
        if not self.channels or min(self.channels) < 4:
            raise ValueError(f"`channels` must be non-empty, each >= 4. Got {self.channels}.")
        if self.action_map < 0:
            raise ValueError(f"`action_map` must be >= 0 (0 = off). Got {self.action_map}.")


def tiny() -> CompactConfig:
    """Seconds to train: for tests."""
    return CompactConfig(
        name="tiny", channels=(8, 16), blocks_per_level=1, attention_levels=(), cond_dim=32, action_embed_dim=8
    )


def demo() -> CompactConfig:
    """The CPU demo model: 3.0 M parameters, ~1.1 s per training step of 16 clips at 3 x 48x80 on 2 cores."""
    return CompactConfig(name="demo", channels=(16, 32, 64, 128), blocks_per_level=1)


def large() -> CompactConfig:
    """A bigger model for a GPU."""
    return CompactConfig(name="large", channels=(64, 128, 256, 256), blocks_per_level=2, cond_dim=256)


COMPACT_PRESETS = {"tiny": tiny, "demo": demo, "large": large}


def stack_views(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, V, 3, H, W) -> (B, T*3, V*H, W): views stacked along height, frames along channels."""
    b, t, v, c, h, w = frames.shape
    return frames.permute(0, 1, 3, 2, 4, 5).reshape(b, t * c, v * h, w)


def unstack_views(image: torch.Tensor, num_frames: int, num_views: int) -> torch.Tensor:
    """Inverse of `stack_views`."""
    b, _, vh, w = image.shape
    h = vh // num_views
    return image.reshape(b, num_frames, 3, num_views, h, w).permute(0, 1, 3, 2, 4, 5)


class ActionEncoder(nn.Module):
    """Per-frame MLP on the 7-D actions plus a learned frame-position embedding, flattened to one vector.

    Dropped actions (``action_mask = 0``) give a zero embedding, the unconditional branch of CFG.
    """

    def __init__(self, num_frames: int, action_dim: int, embed_dim: int, cond_dim: int):
        super().__init__()
        self.per_frame = nn.Sequential(nn.Linear(action_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.position = nn.Parameter(torch.zeros(num_frames, embed_dim))
        self.project = nn.Sequential(nn.SiLU(), nn.Linear(num_frames * embed_dim, cond_dim))

    def forward(self, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Actions (B, T, 7), mask (B,) -> (B, cond_dim)."""
        embedded = self.per_frame(actions) + self.position
        return self.project(embedded.flatten(1)) * mask[:, None]


class ActionMap(nn.Module):
    """Actions -> a coarse spatial map per view, upsampled to the stacked image.

    The MLP sees every frame's absolute state and the future frames' change from the current one
    (the motion the clip asks for). Dropped actions give a zero map, as `ActionEncoder` does.
    """

    def __init__(
        self,
        num_frames: int,
        num_future: int,
        *,
        action_dim: int,
        channels: int,
        grid: tuple[int, int],
        num_views: int,
        hidden: int = 256,
    ):
        super().__init__()
        self.channels, self.grid, self.num_views, self.num_future = channels, grid, num_views, num_future
        inputs = (num_frames + num_future) * action_dim
        outputs = channels * num_views * grid[0] * grid[1]
        self.mlp = nn.Sequential(
            nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, outputs)
        )

    def forward(self, actions: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Actions (B, T, 7) of history, current and future frames, mask (B,) -> (B, C, V*H, W)."""
        future = actions[:, -self.num_future :]
        current = actions[:, -self.num_future - 1 : -self.num_future]
        features = torch.cat([actions.flatten(1), (future - current).flatten(1)], dim=1)
        h, w = self.grid
        coarse = self.mlp(features).view(-1, self.channels, self.num_views * h, w) * mask[:, None, None, None]
        return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


class CompactUNet(nn.Module):
    """The network F inside the EDM preconditioning: (c_in x, c_noise, cond) -> F, target-shaped."""

    def __init__(self, config: CompactConfig, layout: ModelLayout):
        super().__init__()
        self.config, self.layout = config, layout
        levels = len(config.channels)
        height, width = layout.resolution
        factor = 2 ** (levels - 1)
        if (height * layout.num_views) % factor or width % factor:
            raise ConfigError(
                f"model `{config.name}` halves the image {levels - 1} times, so the stacked height "
                f"{layout.num_views}x{height} and the width {width} must be divisible by {factor}."
            )
        in_channels = 3 * (layout.num_future + 1 + layout.num_history) + 2 * config.coordinate_channels
        in_channels += config.action_map
        attention = {level % levels for level in config.attention_levels}
        cond_dim = config.cond_dim

        self.noise_embedding = nn.Sequential(
            FourierFeatures(cond_dim), nn.Linear(cond_dim, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim)
        )
        self.action_encoder = ActionEncoder(
            layout.num_history + 1 + layout.num_future, layout.action_dim, config.action_embed_dim, cond_dim
        )
        self.action_map = None
        if config.action_map:
            self.action_map = ActionMap(
                layout.num_history + 1 + layout.num_future,
                layout.num_future,
                action_dim=layout.action_dim,
                channels=config.action_map,
                grid=(height // factor, width // factor),
                num_views=layout.num_views,
            )
        self.conv_in = nn.Conv2d(in_channels, config.channels[0], 3, padding=1)

        self.down = nn.ModuleList()
        self.down_attention = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_channels = [config.channels[0]]
        previous = config.channels[0]
        for level, channels in enumerate(config.channels):
            blocks = nn.ModuleList()
            for _ in range(config.blocks_per_level):
                blocks.append(ResBlock(previous, channels, cond_dim))
                previous = channels
                skip_channels.append(channels)
            self.down.append(blocks)
            self.down_attention.append(SelfAttention2d(channels) if level in attention else nn.Identity())
            if level < levels - 1:
                self.downsample.append(nn.Conv2d(channels, channels, 3, stride=2, padding=1))
                skip_channels.append(channels)

        self.middle = nn.ModuleList([ResBlock(previous, previous, cond_dim), ResBlock(previous, previous, cond_dim)])
        self.middle_attention = SelfAttention2d(previous) if levels - 1 in attention else nn.Identity()

        self.up = nn.ModuleList()
        self.up_attention = nn.ModuleList()
        for level in reversed(range(levels)):
            channels = config.channels[level]
            blocks = nn.ModuleList()
            for _ in range(config.blocks_per_level + 1):
                blocks.append(ResBlock(previous + skip_channels.pop(), channels, cond_dim))
                previous = channels
            self.up.append(blocks)
            self.up_attention.append(SelfAttention2d(channels) if level in attention else nn.Identity())

        self.norm_out = AdaGroupNorm(previous, cond_dim)
        self.conv_out = zero_(nn.Conv2d(previous, 3 * layout.num_future, 3, padding=1))
        assert num_groups(previous) >= 1 and not skip_channels

    def _coordinates(self, reference: torch.Tensor) -> torch.Tensor:
        b, _, h, w = reference.shape
        ys = torch.linspace(-1, 1, h, device=reference.device, dtype=reference.dtype)
        xs = torch.linspace(-1, 1, w, device=reference.device, dtype=reference.dtype)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))
        return grid.expand(b, 2, h, w)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: Condition) -> torch.Tensor:
        """x_in (B, F, V, 3, H, W) scaled noisy target -> F, same shape."""
        layout = self.layout
        image = stack_views(x_in)
        inputs = [image, stack_views(cond.current[:, None]), stack_views(cond.history)]
        if self.config.coordinate_channels:
            inputs.append(self._coordinates(image))
        actions = torch.cat([cond.history_actions, cond.actions], dim=1)
        if self.action_map is not None:
            inputs.append(self.action_map(actions, cond.action_mask, image.shape[-2:]))
        embedding = self.noise_embedding(c_noise) + self.action_encoder(actions, cond.action_mask)

        h = self.conv_in(torch.cat(inputs, dim=1))
        skips = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, embedding)
                skips.append(h)
            h = self.down_attention[level](h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        for block in self.middle:
            h = block(h, embedding)
            h = self.middle_attention(h) if block is self.middle[0] else h
        for index, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), embedding)
            h = self.up_attention[index](h)
            if index < len(self.up) - 1:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        out = self.conv_out(F.silu(self.norm_out(h, embedding)))
        return unstack_views(out, layout.num_future, layout.num_views)


class CompactWorldModel(nn.Module):
    """The compact backend behind the `WorldModel` protocol."""

    backend = "compact"

    def __init__(self, config: CompactConfig, layout: ModelLayout):
        super().__init__()
        self.config, self.layout = config, layout
        self.network = CompactUNet(config, layout)

    @property
    def sigma_data(self) -> float:
        """Std of the diffusion target."""
        return self.config.edm.sigma_data

    def check_condition(self, cond: Condition) -> None:
        """Raise a clear error when a condition does not match the layout the model was built for."""
        self.layout.check(cond)

    def denoise(self, x_sigma: torch.Tensor, sigma: torch.Tensor, cond: Condition) -> torch.Tensor:
        """EDM x0-prediction in target space."""
        self.check_condition(cond)
        return precondition(self.network, x_sigma, sigma, cond, self.config.edm.sigma_data)

    def encode(self, frames: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Future frames -> target (minus the current frame for the residual target)."""
        return frames - cond.current[:, None] if self.config.target == "residual" else frames

    def decode(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Target -> frames in [-1, 1]."""
        frames = x0 + cond.current[:, None] if self.config.target == "residual" else x0
        return frames.clamp(-1, 1)

    def target_shape(self, cond: Condition) -> tuple[int, ...]:
        """(B, F, V, 3, H, W)."""
        h, w = self.layout.resolution
        return (len(cond), self.layout.num_future, self.layout.num_views, 3, h, w)

    def target_views(self, cond: Condition) -> torch.Tensor:
        """(1, 1, V, 1, 1, 1): the target keeps the frames' view dim."""
        return torch.arange(self.layout.num_views, device=cond.current.device).view(1, 1, -1, 1, 1, 1)

    def lora_targets(self) -> list[str]:
        """Convolutions and attention projections of the U-Net blocks."""
        return ["conv1", "conv2", "qkv", "out"]
