"""Layers of the compact U-Net, after DIAMOND's ``blocks.py``.

Conditioning enters through adaptive group norm (scale and shift from the noise + action
embedding), and the last conv of every residual branch and of the output starts at zero, so that an
untrained network is the identity around its skip connections.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def zero_(module: nn.Module) -> nn.Module:
    """Zero a module's parameters in place (returns it)."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


def num_groups(channels: int) -> int:
    """Group-norm groups: the most (up to 32) that divide `channels` with at least 4 channels each."""
    return max(g for g in range(1, 33) if channels % g == 0 and (channels // g >= 4 or g == 1))


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar (the noise level), as in EDM/DIAMOND."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2:
            raise ValueError(f"Fourier feature dim must be even. Got {dim}.")
        self.register_buffer("weight", torch.randn(1, dim // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, dim)."""
        angles = 2 * math.pi * x[:, None] @ self.weight
        return torch.cat([angles.cos(), angles.sin()], dim=-1)


class AdaGroupNorm(nn.Module):
    """Group norm whose scale and shift are predicted from the conditioning vector."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.groups = num_groups(channels)
        self.linear = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """X (B, C, H, W), cond (B, cond_dim)."""
        x = F.group_norm(x, self.groups)
        scale, shift = self.linear(cond)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class ResBlock(nn.Module):
    """Pre-activation residual block with AdaGroupNorm conditioning."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int):
        super().__init__()
        self.norm1 = AdaGroupNorm(in_channels, cond_dim)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = AdaGroupNorm(out_channels, cond_dim)
        self.conv2 = zero_(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """X (B, C_in, H, W) -> (B, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over all positions of a feature map.

    Used at the coarsest level, where it lets the three stacked views exchange information across the
    whole image.
    """

    def __init__(self, channels: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(num_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = zero_(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attended = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))
