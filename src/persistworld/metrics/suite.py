"""Every metric by name, computed batched over candidates x frames x views in one pass on one device.

A `MetricSuite` is built once (LPIPS networks load once) and then scores frame stacks of any
leading shape, e.g. (K, F, V, 3, H, W), against the ground truth of the same shape. Inputs are
checked and converted once (`persistworld.metrics.frames`), images are processed in chunks of
`chunk` to bound memory, and each metric returns one score per image.

Metric names: ``ssim``, ``psnr``, ``ms_ssim``, ``haarpsi``, ``gmsd``, ``fsim`` (no weights needed) and ``lpips_alex``,
``lpips_vgg`` (need the backbone weights, see `persistworld.metrics.lpips`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from persistworld.errors import PersistWorldError
from persistworld.metrics.frames import check_pair, unit_range
from persistworld.metrics.image import (
    fsim_unit,
    gmsd_unit,
    haarpsi_unit,
    ms_ssim_levels,
    ms_ssim_unit,
    psnr_unit,
    ssim_reference,
    ssim_score,
)
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
    "gmsd": MetricInfo("gmsd", False, False, "GMSD (piq, default constants)"),
    "fsim": MetricInfo("fsim", True, False, "FSIM with colour, FSIMc (piq, default constants)"),
    "lpips_alex": MetricInfo("lpips_alex", False, True, "LPIPS v0.1 AlexNet"),
    "lpips_vgg": MetricInfo("lpips_vgg", False, True, "LPIPS v0.1 VGG-16"),
}
WEIGHT_FREE = tuple(name for name, info in METRICS.items() if not info.needs_weights)
#: LPIPS backbone precisions: None = float32 throughout. bfloat16 ran LPIPS-AlexNet's convolutions 1.9x
#: faster on an AVX512-BF16 CPU at 192x320 and moved LPIPS by up to 1.7 % of its value on real DROID
#: frames, with a random backbone (benchmarks/rewards.py, docs/benchmarks.md).
LPIPS_PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}


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
        chunk: Images per pass. Small chunks stay in cache: 16 ran 2.5x faster than 192 on CPU at
            192x320 (benchmarks/rewards.py's workload).
        lpips_random_backbone: Use random backbone weights (tests and speed benchmarks only: the
            numbers are not LPIPS).
        lpips_models: Already-built LPIPS modules by metric name (share one between a reward and an
            evaluation, or use specific weights); they take precedence over loading.
        lpips_precision: ``float32`` (exact) or ``bfloat16``: LPIPS's backbone in bfloat16 (a copy of
            it, made once), the rest in float32. For speed where bfloat16 is fast (GPUs; CPUs with
            AVX512-BF16 or AMX), at a small cost in accuracy (see `LPIPS_PRECISIONS`).
    """

    def __init__(
        self,
        names: Sequence[str],
        device: torch.device | str = "cpu",
        lpips_weights: str | Path | None = None,
        chunk: int = 16,
        lpips_random_backbone: bool = False,
        lpips_models: Mapping[str, LPIPS] | None = None,
        lpips_precision: str = "float32",
    ):
        if not names:
            raise PersistWorldError("no metrics requested.")
        if lpips_precision not in LPIPS_PRECISIONS:
            raise PersistWorldError(f"lpips_precision `{lpips_precision}`: use one of {sorted(LPIPS_PRECISIONS)}.")
        self.lpips_precision = lpips_precision
        self.names = tuple(dict.fromkeys(metric_info(n).name for n in names))
        self.device, self.chunk = torch.device(device), chunk
        self._lpips: dict[str, LPIPS] = {}
        for name in self.names:
            if lpips_models and name in lpips_models:
                self._lpips[name] = lpips_models[name].to(self.device)
            elif name.startswith("lpips_"):
                net = name.removeprefix("lpips_")
                model = (
                    LPIPS(net, None, source="RANDOM weights (not LPIPS; for tests/benchmarks)")
                    if lpips_random_backbone
                    else LPIPS.from_local_weights(net, lpips_weights)
                )
                self._lpips[name] = model.to(self.device)
        self._metrics: dict[str, _PairMetric] = {
            "ssim": _SSIM(),
            "psnr": _Elementwise(psnr_unit),
            "ms_ssim": _Elementwise(ms_ssim_unit),
            "haarpsi": _Elementwise(haarpsi_unit),
            "gmsd": _Elementwise(gmsd_unit),
            "fsim": _Elementwise(fsim_unit),
            **{name: _LpipsIn(model, LPIPS_PRECISIONS[lpips_precision]) for name, model in self._lpips.items()},
        }

    def describe(self, image_size: tuple[int, int] | None = None) -> dict[str, str]:
        """Implementation and weights of every metric: goes into every result file and report."""
        described = {}
        for name in self.names:
            text = self._lpips[name].describe() if name in self._lpips else METRICS[name].description
            if name in self._lpips and self.lpips_precision != "float32":
                text += f"; backbone run in {self.lpips_precision}"
            if name == "ms_ssim" and image_size is not None:
                text += f" ({ms_ssim_levels(*image_size)} scales at {image_size[0]}x{image_size[1]})"
            described[name] = text
        return described

    @torch.no_grad()
    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score every image: (..., 3, H, W) pairs -> ``{name: (...)}`` on the CPU, float32.

        `target` may also be shaped like the trailing dimensions of `prediction` (one ground truth for
        K candidates, e.g. prediction (K, C, F, V, 3, H, W) and target (C, F, V, 3, H, W)): the
        target's share of each metric (SSIM's local statistics, LPIPS features) is then computed once.
        """
        x, y = check_pair(prediction, target, broadcast=True, convert=False)  # converted chunk by chunk, in cache
        batch, image = x.shape[:-3], x.shape[-3:]
        y = y.reshape(-1, *image)  # M distinct targets
        targets = y.shape[0]
        x = x.reshape(-1, targets, *image)  # (R repeats, M, ...): image r*M + m is scored against target m
        repeats = x.shape[0]
        out = {name: torch.empty(repeats, targets) for name in self.names}
        for begin in range(0, targets, self.chunk):
            y_chunk = unit_range(y[begin : begin + self.chunk].to(self.device))
            m = y_chunk.shape[0]
            references = {name: self._metrics[name].reference(y_chunk) for name in self.names}
            step = max(1, self.chunk // m)  # repeats per pass, so that a pass holds about `chunk` images
            for r in range(0, repeats, step):
                x_chunk = unit_range(x[r : r + step, begin : begin + m].to(self.device))  # (rows, m, 3, H, W)
                for name in self.names:
                    values = self._metrics[name].score(x_chunk, references[name])
                    out[name][r : r + len(x_chunk), begin : begin + m] = values.float().cpu()
        return {name: values.reshape(batch) for name, values in out.items()}


class _PairMetric(Protocol):
    """A metric split into the target's share (computed once per target) and the per-prediction part.

    `reference` takes M targets (M, 3, H, W); `score` takes predictions (R, M, 3, H, W), row r's image
    m scored against target m, and returns (R, M). SSIM, PSNR and LPIPS broadcast the targets over the
    rows instead of copying them.
    """

    def reference(self, y: torch.Tensor) -> Any: ...  # noqa: D102

    def score(self, x: torch.Tensor, reference: Any) -> torch.Tensor: ...  # noqa: D102


class _Elementwise:
    """A metric with nothing to precompute per target: f(x, y) on image pairs."""

    def __init__(self, function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.function = function

    def reference(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def score(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return self.function(x, reference.expand_as(x))


class _SSIM:
    """SSIM with the target's local statistics computed once (`ssim_reference`)."""

    reference = staticmethod(ssim_reference)
    score = staticmethod(ssim_score)


class _LpipsIn:
    """An LPIPS module used with a backbone precision of this suite's (the module may be shared)."""

    def __init__(self, model: LPIPS, backbone_dtype: torch.dtype | None):
        self.model, self.backbone_dtype = model, backbone_dtype

    def reference(self, y: torch.Tensor) -> list[torch.Tensor]:
        return self.model.reference(y, self.backbone_dtype)

    def score(self, x: torch.Tensor, reference: list[torch.Tensor]) -> torch.Tensor:
        return self.model.score(x, reference, self.backbone_dtype)
