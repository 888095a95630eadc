"""LPIPS: same numbers as the `lpips` package with identical random backbones; weights found or a clear error."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from persistworld.metrics.lpips import (
    BACKBONES,
    LPIPS,
    LpipsWeightsMissing,
    backbone_state_of_lpips_package,
    find_backbone_weights,
)

lpips_package = pytest.importorskip("lpips")


def _their_model_and_our_copy(net: str) -> tuple[torch.nn.Module, LPIPS]:
    torch.manual_seed(0)
    with warnings.catch_warnings():  # the reference package builds torchvision nets with the deprecated `pretrained=`
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision.models._utils")
        theirs = lpips_package.LPIPS(net=net, pnet_rand=True, verbose=False).eval()  # random backbone, real heads
    return theirs, LPIPS(net, backbone_state_of_lpips_package(theirs), source="test copy")


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_the_lpips_package_with_identical_random_backbone(net: str):
    theirs, ours = _their_model_and_our_copy(net)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 3, 64, 64, generator=generator)  # extra leading dim: ours is batched over any shape
    y = (x + 0.2 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    with torch.no_grad():
        reference = theirs(x.flatten(0, 1), y.flatten(0, 1), normalize=True).flatten()
        value = ours(x, y)
    assert value.shape == (2, 3)
    assert torch.allclose(value.flatten(), reference, atol=1e-5, rtol=0)
    assert float(reference.min()) > 0 and torch.allclose(ours(x, x), torch.zeros(2, 3), atol=1e-6)


def test_inplace_relus_never_overwrite_a_tapped_feature(monkeypatch: pytest.MonkeyPatch):
    """The backbones' ReLUs run in place (a pass saved); one that starts a stage must not, or it would
    overwrite the previous stage's tapped output. Neither real slicing has one, so make one."""
    import copy
    import dataclasses

    monkeypatch.setitem(BACKBONES, "alex", dataclasses.replace(BACKBONES["alex"], slice_ends=(1, 5, 8, 10, 12)))
    torch.manual_seed(0)
    ours = LPIPS("alex", None, source="random")
    assert isinstance(ours.stages[1][0], torch.nn.ReLU) and not ours.stages[1][0].inplace
    assert ours.stages[1][-1].inplace  # the others stay in place
    out_of_place = copy.deepcopy(ours)
    for module in out_of_place.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 64, 64, generator=generator), torch.rand(2, 3, 64, 64, generator=generator)
    assert torch.equal(ours(x, y), out_of_place(x, y))


def test_missing_backbone_says_which_file_goes_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(LpipsWeightsMissing) as error:
        find_backbone_weights("alex")
    message = str(error.value)
    assert BACKBONES["alex"].filename in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / BACKBONES["alex"].filename) in message
    assert "--lpips-weights" in message
    with pytest.raises(LpipsWeightsMissing, match="no such file"):
        find_backbone_weights("vgg", tmp_path / "nowhere.pth")


def test_backbone_found_in_the_hub_cache_and_named_in_the_description(tmp_path: Path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / BACKBONES["alex"].filename
    cached.parent.mkdir(parents=True)
    torch.manual_seed(3)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), cached)
    model = LPIPS.from_local_weights("alex")
    assert str(cached) in model.describe() and "differs from torchvision's 7be5be79" in model.describe()
    explicit = LPIPS.from_local_weights("alex", path=cached.parent)  # a folder holding torchvision's file name
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x, y), explicit(x, y))
    cached.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="cannot read LPIPS-alex backbone weights"):
        LPIPS.from_local_weights("alex")
