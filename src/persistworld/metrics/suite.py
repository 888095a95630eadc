"""Every metric by name, computed batched over candidates x frames x views in one pass on one device.

A `MetricSuite` is built once (LPIPS networks load once) and then scores frame stacks of any
leading shape, e.g. (K, F, V, 3, H, W), against the ground truth of the same shape. Inputs are
checked and converted once (`persistworld.metrics.frames`), images are processed in chunks of
`chunk` to bound memory, and each metric returns one score per image.

Metric names: ``ssim``, ``psnr``, ``ms_ssim``, ``haarpsi`` (no weights needed) and ``lpips_alex``,
``lpips_vgg`` (need the backbone weights, see `persistworld.metrics.lpips`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from persistworld.errors import PersistWorldError
from persistworld.metrics.frames import check_pair
from persistworld.metrics.image import haarpsi_unit, ms_ssim_levels, ms_ssim_unit, psnr_unit, ssim_unit
from persistworld.metrics.lpips import LPIPS


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is: its direction and how to describe it in result files."""

    name: str
    higher_is_better: bool
    needs_weights: bool
    description: str


METRICS: dict[str, MetricInfo] = {
    "ssim": MetricInfo("ssim", True, False, "SSIM, Gaussian window 11 / sigma 1.5, K=(0.01, 0.03), = skimage"),
    "psnr": MetricInfo("psnr", True, False, "PSNR in dB on [0, 1], capped at 100 dB"),
    "ms_ssim": MetricInfo("ms_ssim", True, False, "MS-SSIM (piq), scales as fit the image"),
    "haarpsi": MetricInfo("haarpsi", True, False, "HaarPSI (piq, default constants)"),
    "lpips_alex": MetricInfo("lpips_alex", False, True, "LPIPS v0.1 AlexNet"),
    "lpips_vgg": MetricInfo("lpips_vgg", False, True, "LPIPS v0.1 VGG-16"),
}
WEIGHT_FREE = tuple(name for name, info in METRICS.items() if not info.needs_weights)


def metric_info(name: str) -> MetricInfo:
    """The metric's description, or a clear error listing the names."""
    if name not in METRICS:
        raise PersistWorldError(f"unknown metric `{name}`. Available: {sorted(METRICS)}.")
    return METRICS[name]


class MetricSuite:
    """Named metrics ready to score frame stacks on `device`.

    Args:
        names: Metric names (see `METRICS`).
        device: Where to compute (the model's device).
        lpips_weights: Backbone checkpoint for LPIPS (file, or a folder with torchvision's file names);
            None looks in the torch hub cache.
        chunk: Images per forward pass (memory bound for LPIPS on large stacks).
        lpips_random_backbone: Use random backbone weights (tests and speed benchmarks only: the
            numbers are not LPIPS).
    """

    def __init__(
        self,
        names: Sequence[str],
        device: torch.device | str = "cpu",
        lpips_weights: str | Path | None = None,
        chunk: int = 256,
        lpips_random_backbone: bool = False,
    ):
        if not names:
            raise PersistWorldError("no metrics requested.")
        self.names = tuple(dict.fromkeys(metric_info(n).name for n in names))
        self.device, self.chunk = torch.device(device), chunk
        self._lpips: dict[str, LPIPS] = {}
        for name in self.names:
            if name.startswith("lpips_"):
                net = name.removeprefix("lpips_")
                model = (
                    LPIPS(net, None, source="RANDOM weights (not LPIPS; for tests/benchmarks)")
                    if lpips_random_backbone
                    else LPIPS.from_local_weights(net, lpips_weights)
                )
                self._lpips[name] = model.to(self.device)
        self._functions: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
            "ssim": ssim_unit,
            "psnr": psnr_unit,
            "ms_ssim": ms_ssim_unit,
            "haarpsi": haarpsi_unit,
            **self._lpips,
        }

    def describe(self, image_size: tuple[int, int] | None = None) -> dict[str, str]:
        """Implementation and weights of every metric: goes into every result file and report."""
        described = {}
        for name in self.names:
            text = self._lpips[name].describe() if name in self._lpips else METRICS[name].description
            if name == "ms_ssim" and image_size is not None:
                text += f" ({ms_ssim_levels(*image_size)} scales at {image_size[0]}x{image_size[1]})"
            described[name] = text
        return described

    @torch.no_grad()
    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score every image: (..., 3, H, W) pairs -> ``{name: (...)}`` on the CPU, float32."""
        x, y = check_pair(prediction, target)
        batch = x.shape[:-3]
        x, y = x.reshape(-1, *x.shape[-3:]), y.reshape(-1, *y.shape[-3:])
        scores: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}
        for begin in range(0, x.shape[0], self.chunk):
            xs = x[begin : begin + self.chunk].to(self.device)
            ys = y[begin : begin + self.chunk].to(self.device)
            for name in self.names:
                scores[name].append(self._functions[name](xs, ys).float().cpu())
        return {name: torch.cat(parts).reshape(batch) for name, parts in scores.items()}
