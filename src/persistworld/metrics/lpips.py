"""LPIPS (Zhang et al. 2018) with local weights only: batched, on any device, and honest about its weights.

LPIPS compares unit-normalised deep features of an ImageNet backbone (AlexNet or VGG-16), weighted
per channel by linear heads calibrated on human judgements. The heads (v0.1, a few KB, BSD-2) ship
with persistworld (``assets/lpips_v0.1``, byte-identical to the ``lpips`` package's files). The
backbone weights are torchvision's ImageNet checkpoints, which are downloaded from the internet and
cannot be had on every machine: we look for them in the torch hub cache
(``torch.hub.get_dir()/checkpoints``) or take an explicit path, and if they are missing we stop with
a message that says which file to put where. Nothing is downloaded.

The computation is exactly the ``lpips`` package's ``LPIPS(version="0.1", spatial=False)`` forward
(the tests check it to 1e-5 with identical random backbone weights): scaling layer, backbone stages,
channel-normalised features, squared differences, 1x1 linear heads, spatial mean, sum over stages.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from persistworld.assets import ASSETS
from persistworld.errors import PersistWorldError

LIN_WEIGHTS_DIR = ASSETS / "lpips_v0.1"


@dataclass(frozen=True)
class Backbone:
    """A torchvision ImageNet backbone as LPIPS slices it."""

    torchvision_name: str  # torchvision.models.<name>
    filename: str  # torchvision's checkpoint file name (its 8 hex digits are the sha256 prefix)
    slice_ends: tuple[int, ...]  # LPIPS taps the features after these layer indices (exclusive ends)
    channels: tuple[int, ...]


BACKBONES: dict[str, Backbone] = {
    "alex": Backbone("alexnet", "alexnet-owt-7be5be79.pth", (2, 5, 8, 10, 12), (64, 192, 384, 256, 256)),
    "vgg": Backbone("vgg16", "vgg16-397923af.pth", (4, 9, 16, 23, 30), (64, 128, 256, 512, 512)),
}


class LpipsWeightsMissing(PersistWorldError):
    """LPIPS was asked for but its backbone weights are not on this machine."""


def hub_checkpoint_path(net: str) -> Path:
    """Where torchvision would have cached the backbone: ``<torch hub dir>/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net].filename


def find_backbone_weights(net: str, path: str | Path | None = None) -> Path:
    """The backbone checkpoint: `path` (a file, or a folder with torchvision's file name) if given, else the hub cache.

    Raises:
        LpipsWeightsMissing: With the exact file name and places to put it.
    """
    if net not in BACKBONES:
        raise PersistWorldError(f"unknown LPIPS network `{net}`. Available: {sorted(BACKBONES)}.")
    filename = BACKBONES[net].filename
    if path is not None:
        candidate = Path(path)
        candidate = candidate / filename if candidate.is_dir() else candidate
        if candidate.is_file():
            return candidate
        raise LpipsWeightsMissing(f"--lpips-weights {path}: no such file (LPIPS-{net} expects `{filename}`).")
    cached = hub_checkpoint_path(net)
    if cached.is_file():
        return cached
    raise LpipsWeightsMissing(
        f"LPIPS-{net} needs torchvision's ImageNet {BACKBONES[net].torchvision_name} weights, which cannot be "
        f"downloaded here. Copy `{filename}` (torchvision's {BACKBONES[net].torchvision_name} IMAGENET1K_V1 "
        f"checkpoint) to {cached} (the torch hub cache; set TORCH_HOME to move it), or pass "
        f"--lpips-weights /path/to/{filename}. Or use metrics that need no weights (ssim, psnr, ms_ssim, haarpsi)."
    )


def backbone_state_of_lpips_package(model: nn.Module) -> dict[str, torch.Tensor]:
    """The backbone of an ``lpips.LPIPS`` model in torchvision's keys (``net.slice<k>.<i>.w`` -> ``features.<i>.w``).

    For comparing with the reference implementation on identical (e.g. random) weights.
    """
    state = {}
    for key, value in model.net.state_dict().items():
        _, index, kind = key.split(".")
        state[f"features.{index}.{kind}"] = value
    return state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LPIPS(nn.Module):
    """Learned perceptual distance between images (lower = more similar), batched over leading dims.

    Args:
        net: ``alex`` or ``vgg``.
        backbone_state: The torchvision backbone's state dict (keys ``features.<i>.weight`` ...), or None
            for random weights (tests and benchmarks only).
        source: What the backbone weights are, for every result file (e.g. the checkpoint path and hash).
    """

    def __init__(self, net: str, backbone_state: dict[str, torch.Tensor] | None, source: str):
        super().__init__()
        import torchvision

        spec = BACKBONES[net]
        self.net, self.source = net, source
        features = getattr(torchvision.models, spec.torchvision_name)(weights=None).features
        if backbone_state is not None:
            wanted = {k.removeprefix("features."): v for k, v in backbone_state.items() if k.startswith("features.")}
            missing, unexpected = features.load_state_dict(wanted, strict=False)
            if missing or unexpected:
                raise PersistWorldError(
                    f"LPIPS-{net} backbone weights ({source}) do not fit torchvision's {spec.torchvision_name}: "
                    f"missing {missing[:4]}, unexpected {unexpected[:4]}."
                )
        starts = (0, *spec.slice_ends[:-1])
        self.stages = nn.ModuleList(
            nn.Sequential(*(features[i] for i in range(a, b))) for a, b in zip(starts, spec.slice_ends, strict=True)
        )
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in spec.channels)
        heads = torch.load(LIN_WEIGHTS_DIR / f"{net}.pth", map_location="cpu", weights_only=True)
        for k, head in enumerate(self.heads):
            head.weight.data.copy_(heads[f"lin{k}.model.1.weight"])
        # the package's input scaling ((2 x - 1) - shift) / scale for x in [0, 1], as x * gain + offset
        shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        self.register_buffer("gain", 2 / scale)
        self.register_buffer("offset", (-1 - shift) / scale)
        self._cast_stages: dict[torch.dtype, nn.ModuleList] = {}  # not a submodule: not in the state dict
        for stage in self.stages:  # inplace ReLUs save a pass; they would overwrite a tapped feature
            if isinstance(stage[0], nn.ReLU):  # only if one started a stage (none does in either backbone)
                stage[0].inplace = False
        self.requires_grad_(False).eval()

    @classmethod
    def from_local_weights(cls, net: str = "alex", path: str | Path | None = None) -> LPIPS:
        """The real LPIPS, with backbone weights from `path` or the torch hub cache (see `find_backbone_weights`)."""
        weights = find_backbone_weights(net, path)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file: say which one
            raise PersistWorldError(f"{weights}: cannot read LPIPS-{net} backbone weights ({exc}).") from exc
        digest = _sha256(weights)
        expected = BACKBONES[net].filename.rsplit("-", 1)[-1].removesuffix(".pth")
        check = "matches torchvision's" if digest.startswith(expected) else f"differs from torchvision's {expected}"
        return cls(net, state, source=f"{weights} (sha256 {digest[:12]}, {check})")

    def describe(self) -> str:
        """One line naming the implementation and the weights, written into every result file."""
        return f"LPIPS v0.1 {self.net} (persistworld = lpips 0.1.4 forward), lpips v0.1 heads, backbone {self.source}"

    def _features(
        self, images: torch.Tensor, backbone_dtype: torch.dtype | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every stage's float32 features and 1 / their channel norm; `backbone_dtype` runs the backbone in it.

        The normalisation is left to the caller, so that `score` can fuse it with the difference.
        """
        # the package's ((2 x - 1) - shift) / scale as one multiply-add, written in channels-last layout
        # (~1.3x faster convolutions on CPU)
        h = torch.empty_like(images, memory_format=torch.channels_last)
        torch.addcmul(self.offset, images, self.gain, out=h)
        stages = self.stages if backbone_dtype is None else self._stages_in(backbone_dtype, images.device)
        h = h if backbone_dtype is None else h.to(backbone_dtype)
        features = []
        for stage in stages:
            h = stage(h)
            f = h.float()
            features.append((f, torch.linalg.vector_norm(f, dim=1, keepdim=True).add_(1e-10).reciprocal_()))
        return features

    def _stages_in(self, dtype: torch.dtype, device: torch.device) -> nn.ModuleList:
        """A copy of the backbone in `dtype` on `device`, made once (autocast would cast the weights at every call)."""
        cast = self._cast_stages.get(dtype)
        if cast is None or next(cast.parameters()).device != device:
            cast = copy.deepcopy(self.stages).to(device=device, dtype=dtype)
            self._cast_stages[dtype] = cast
        return cast

    def reference(self, y: torch.Tensor, backbone_dtype: torch.dtype | None = None) -> list[torch.Tensor]:
        """Normalised features of targets (M, 3, H, W) in [0, 1]: computed once when candidates share a target."""
        return [f * inverse_norm for f, inverse_norm in self._features(y, backbone_dtype)]

    def score(
        self, x: torch.Tensor, reference: list[torch.Tensor], backbone_dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """Distance of images x (R, M, 3, H, W) in [0, 1], row r's image m to target m of `reference` -> (R, M)."""
        rows, targets = x.shape[:2]
        total = torch.zeros(rows, targets, device=x.device, dtype=torch.float32)
        for (fx, inverse_norm), fy, head in zip(
            self._features(x.flatten(0, 1), backbone_dtype), reference, self.heads, strict=True
        ):
            # (fy - fx / |fx|)^2 in one pass: the normalisation fused into the difference
            difference = torch.addcmul(
                fy, fx.unflatten(0, (rows, targets)), inverse_norm.unflatten(0, (rows, targets)), value=-1
            )
            difference = difference.square_().flatten(0, 1)
            total = total + head(difference).mean(dim=(-3, -2, -1)).view(rows, targets)
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distance of each image pair. x, y: (..., 3, H, W) in [0, 1] -> (...)."""
        *batch, channels, height, width = x.shape
        x, y = x.reshape(1, -1, channels, height, width), y.reshape(-1, channels, height, width)
        return self.score(x, self.reference(y)).reshape(batch)
