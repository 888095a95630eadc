"""docs/posttrain.md's switch table names every `posttrain.*` config field, so a new field comes with docs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from persistworld.rl.posttrain import PosttrainConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "posttrain.md"


def config_field_paths(cls: type, prefix: str = "") -> list[str]:
    """Dotted paths of a config's settings: nested configs by their fields (the sampler as a whole, since
    its fields are `SamplerConfig`'s, documented with it)."""
    paths = []
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and path != "branching.sampler":
            paths += config_field_paths(type(default), path + ".")
        else:
            paths.append(path)
    return paths


def test_every_posttrain_field_is_in_the_switch_table():
    table = DOC.read_text().split("## Switches", 1)[1].split("\n## ", 1)[0]
    documented = {name.rstrip(".") for name in re.findall(r"`([\w.]+)", table)}  # `reward.terms.<metric>`
    missing = [path for path in config_field_paths(PosttrainConfig) if path not in documented]
    assert not missing, f"docs/posttrain.md's switch table does not mention: {missing}"


def test_the_walk_sees_nested_fields():
    paths = config_field_paths(PosttrainConfig)
    assert {"lora.init_seed", "objective.adv_clip", "branching.sampler", "probe_guard"} <= set(paths)
    assert "lora" not in paths and "branching.sampler.num_steps" not in paths
