"""Typed dataclass configs with plain-data YAML overrides.

Each part of the package owns a small dataclass next to its code (e.g. `ClipConfig` in
`data/clips.py`); the root config in `presets.py` nests them. This module turns YAML files and
``key.sub=value`` overrides into those dataclasses, strictly: an unknown key or a value of the wrong
type is an error that names the source and the dotted key, never silently ignored. YAML is data
only (``yaml.safe_load``): no tags, no code.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from persistworld.errors import ConfigError

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Convert a (nested) config dataclass to plain YAML-able data (tuples become lists, paths strings)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


_YAML11_MISSED_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _convert(value: Any, annotation: Any, key: str, source: str) -> Any:
    """Check and convert one value against a type annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{source}: `{key}` must be {expected}. Got {value!r} ({type(value).__name__}).")

    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise fail(" or ".join(str(a) for a in args))
    if origin is typing.Literal:
        if value not in args:
            raise fail(f"one of {list(args)}")
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise fail(f"a mapping of {annotation.__name__} fields")
        return config_from_dict(annotation, value, source=source, prefix=f"{key}.")
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} items")
            items = [_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=False))]
        else:
            item_type = args[0] if args else Any
            items = [_convert(v, item_type, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise fail("a mapping")
        value_type = args[1] if len(args) == 2 else Any
        return {k: _convert(v, value_type, f"{key}.{k}", source) for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if annotation is float:
        if isinstance(value, str) and _YAML11_MISSED_FLOAT.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads `3e-5` (no dot) as a string; a float field means a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if annotation is Path:
        if not isinstance(value, (str, Path)):
            raise fail("a path")
        return Path(value)
    raise ConfigError(f"{source}: `{key}` has an unsupported config type {annotation!r}")  # pragma: no cover


def config_from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "<dict>", prefix: str = "") -> T:
    """Build the dataclass `cls` from plain data, checking every key and type.

    Args:
        cls: The config dataclass.
        data: Plain data (e.g. parsed YAML). Missing keys keep their defaults.
        source: Where the data came from, for error messages (a file name or ``"--set"``).
        prefix: Dotted prefix of `cls` inside the root config, for error messages.

    Raises:
        ConfigError: On an unknown key, a value of the wrong type, or a failed validation.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown config key(s) {[prefix + k for k in unknown]}. "
            f"Valid keys under `{prefix.rstrip('.') or 'root'}`: {sorted(fields)}."
        )
    kwargs = {name: _convert(value, hints[name], prefix + name, source) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: invalid `{prefix.rstrip('.') or cls.__name__}`: {exc}") from exc


def merge_dicts(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge `update` into a copy of `base` (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(override: str) -> dict[str, Any]:
    """Turn ``"a.b.c=value"`` into ``{"a": {"b": {"c": value}}}``; the value is parsed as YAML.

    Raises:
        ConfigError: If the override has no ``=`` or an empty key.
    """
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set: override {override!r} must look like `section.key=value`.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set: cannot parse the value of {override!r}: {exc}") from exc
    nested: dict[str, Any] = {}
    node = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from `path` with a clear error for missing, malformed or non-mapping files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping of config sections, got {type(data).__name__}.")
    return dict(data)


def resolve_config(base: T, yaml_path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Apply a YAML file and then ``key=value`` overrides on top of a preset.

    Args:
        base: The preset's config dataclass.
        yaml_path: Optional YAML file with a subset of the config's keys.
        overrides: Dotted overrides, applied last, e.g. ``["sim.num_train=8"]``.

    Returns:
        A new config of the same type; `base` is not modified.
    """
    data = config_to_dict(base)
    cls = type(base)
    if yaml_path is not None:
        file_data = load_yaml_file(yaml_path)
        config_from_dict(cls, merge_dicts(data, file_data), source=str(yaml_path))  # validate in its own name
        data = merge_dicts(data, file_data)
    for override in overrides:
        data = merge_dicts(data, parse_override(override))
        config_from_dict(cls, data, source=f"--set {override}")
    return config_from_dict(cls, data, source=str(yaml_path or "preset"))


def save_config(config: Any, path: str | Path) -> None:
    """Write `config` as YAML, atomically, so that a run can be reproduced from its folder."""
    from persistworld.utils.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))
