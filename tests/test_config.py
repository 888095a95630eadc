"""Typed configs: presets, YAML files and --set overrides, with strict errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistworld.config import config_to_dict, resolve_config, save_config
from persistworld.errors import ConfigError
from persistworld.presets import PRESETS, get_preset


def test_every_preset_builds_and_survives_a_yaml_round_trip(tmp_path: Path):
    for name in PRESETS:
        config = get_preset(name)
        save_config(config, tmp_path / f"{name}.yaml")
        assert resolve_config(get_preset("demo"), tmp_path / f"{name}.yaml") == config


def test_yaml_then_overrides(tmp_path: Path):
    path = tmp_path / "override.yaml"
    path.write_text("sim:\n  episodes: {train: 3}\n  scene:\n    image_size: [48, 80]\nclips:\n  num_future: 2\n")
    config = resolve_config(get_preset("demo"), path, ["clips.num_future=3", "sim.tasks=[lift, push]"])
    assert config.sim.episodes == {"train": 3, "val": 8, "test": 32}  # mappings merge
    assert config.sim.scene.image_size == (48, 80)
    assert config.clips.num_future == 3
    assert config.sim.tasks == ("lift", "push")
    assert get_preset("demo").clips.num_future == 4  # presets are not mutated


def test_unknown_key_names_the_source_and_the_valid_keys():
    with pytest.raises(ConfigError, match=r"--set clips.num_futur=3: unknown config key\(s\) \['clips.num_futur'\]"):
        resolve_config(get_preset("demo"), overrides=["clips.num_futur=3"])


def test_wrong_type_and_failed_validation():
    with pytest.raises(ConfigError, match="`clips.num_future` must be an integer. Got 'many'"):
        resolve_config(get_preset("demo"), overrides=["clips.num_future=many"])
    with pytest.raises(ConfigError, match="`num_future` must be >= 1. Got 0"):
        resolve_config(get_preset("demo"), overrides=["clips.num_future=0"])
    with pytest.raises(ConfigError, match="`tasks` must be a non-empty subset"):
        resolve_config(get_preset("demo"), overrides=["sim.tasks=[juggle]"])


def test_malformed_override_and_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="must look like `section.key=value`"):
        resolve_config(get_preset("demo"), overrides=["clips.num_future"])
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(get_preset("demo"), tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown preset `huge`"):
        get_preset("huge")


def test_config_to_dict_is_plain_data():
    data = config_to_dict(get_preset("paper"))
    assert data["data"]["resolution"] == [192, 320]
    assert isinstance(data["data"]["root"], str)


def test_scientific_notation_without_a_dot_is_a_number_for_float_fields(tmp_path: Path):
    # YAML 1.1 reads `3e-5` as a string; a float field still means a number
    config = resolve_config(get_preset("demo"), overrides=["pretrain.optim.lr=3e-5", "pretrain.optim.min_lr=1E-6"])
    assert config.pretrain.optim.lr == 3e-5 and config.pretrain.optim.min_lr == 1e-6
    path = tmp_path / "lr.yaml"
    path.write_text("pretrain:\n  optim:\n    lr: 2e-4\n")
    assert resolve_config(get_preset("demo"), path).pretrain.optim.lr == 2e-4
    with pytest.raises(ConfigError, match="must be a number"):
        resolve_config(get_preset("demo"), overrides=["pretrain.optim.lr=fast"])
    with pytest.raises(ConfigError, match="must be an integer"):
        resolve_config(get_preset("demo"), overrides=["clips.num_future=3e2"])  # not silently an int


def test_the_repositorys_config_files_resolve_and_a_ctrl_world_config_round_trips(tmp_path: Path):
    files = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert files
    for path in files:  # a renamed or removed field breaks a documented command: fail here instead
        resolve_config(get_preset("demo"), path)
    config = resolve_config(get_preset("droid"), None, ["backend=ctrl_world", "ctrl_world.text=null"])
    assert config.architecture is config.ctrl_world and config.ctrl_world.text is None
    save_config(config, tmp_path / "ctrl_world.yaml")
    assert resolve_config(get_preset("demo"), tmp_path / "ctrl_world.yaml") == config
    with pytest.raises(ConfigError, match="backend"):
        resolve_config(get_preset("demo"), None, ["backend=svd"])
