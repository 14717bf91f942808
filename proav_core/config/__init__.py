"""Configs: TOML -> validated `ExperimentConfig`, with `extends` and `--set` overrides."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proav_core.config.components import (
    Component,
    ComponentConfig,
    resolve_components,
    to_plain,
)
from proav_core.config.schema import ExperimentConfig, LoopConfig, ModelConfig, OptimConfig, TrainConfig
from proav_core.config.toml_files import apply_overrides, merge, parse_value, read_config_tree, to_toml
from proav_core.errors import ConfigError
from proav_core.registry import Registry
from proav_core.validation import describe_errors


def config_from_dict(
    tree: dict[str, Any], registry: Registry | None = None, source: str = "<config>"
) -> ExperimentConfig:
    """Validate a plain config tree and resolve every component section against the registry."""
    try:
        cfg = ExperimentConfig.model_validate(tree)
    except ValidationError as err:
        first, lines = describe_errors(err, "", known_keys=ExperimentConfig.model_fields, model=ExperimentConfig)
        raise ConfigError(f"{source}: invalid config:\n{lines}", path=first) from None
    if registry is None:
        from proav_core.plugin_manager import get_registry

        registry = get_registry()
    try:
        resolve_components(cfg, registry)
    except ConfigError as err:
        raise type(err)(f"{source}: {err}", path=err.path) from None
    return cfg


def load_config(
    path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None
) -> ExperimentConfig:
    """Read a TOML config (following `extends`), apply `--set` overrides, validate, resolve."""
    overrides = list(overrides)
    tree = apply_overrides(read_config_tree(path), overrides)
    try:
        return config_from_dict(tree, registry=registry, source=str(path))
    except ConfigError as err:
        culprit = _override_at(err.path, overrides)
        if culprit is None:
            raise
        raise type(err)(f"--set {culprit} (on {path}): {str(err).removeprefix(f'{path}: ')}", path=err.path) from None


def _override_at(key_path: str | None, overrides: list[str]) -> str | None:
    """The last --set override whose key is `key_path` or holds it (the one an error there came from)."""
    if not key_path:
        return None
    for override in reversed(overrides):
        key = override.split("=", 1)[0].strip()
        if key_path == key or key_path.startswith(key + ".") or key.startswith(key_path + "."):
            return override
    return None


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as a plain tree, every default spelt out."""
    return to_plain(cfg)


def config_to_toml(cfg: ExperimentConfig) -> str:
    return to_toml(config_to_dict(cfg))


__all__ = [
    "Component",
    "ComponentConfig",
    "ExperimentConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "load_config",
    "merge",
    "parse_value",
    "read_config_tree",
    "resolve_components",
    "to_toml",
]
