"""proav: synchronized audio-video generation, every part a plugin.

Assemble in Python:

    import proav_core
    proav_core.list_components("attention")
    block = proav_core.build("attention", "gcm_attn", dim=64)
    cfg = proav_core.load_config("configs/demo.toml", overrides=["model.generator.depth=2"])
    parts = proav_core.build_from_config(cfg)
"""

from __future__ import annotations

from proav_core._version import __version__
from proav_core.build import (
    Assembly,
    GenerationParts,
    build,
    build_component,
    build_from_config,
    build_generation,
    register_component,
)
from proav_core.config import (
    Component,
    ComponentConfig,
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    load_config,
)
from proav_core.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DuplicateComponentError,
    MissingWeightsError,
    ParameterError,
    PluginError,
    ProavError,
    UnknownComponentError,
    UsageError,
)
from proav_core.hookspecs import hookimpl
from proav_core.interfaces import KINDS, ClipSpec
from proav_core.plugin_manager import get_registry, register_plugin, reset_plugins
from proav_core.registry import ComponentParams, ComponentSpec, NoParams

# Public names added for plugin authors (issue 14, plugins), kept together for an easy merge.
# The plugin helpers themselves are submodules: proav_core.flow_matching, proav_core.layers,
# proav_core.attention_streams, proav_core.testing (docs/plugins.md).
from proav_core.errors import UnavailableComponentError  # noqa: E402

_PLUGIN_AUTHOR_NAMES = ["UnavailableComponentError"]


def list_components(kind: str | None = None) -> list[ComponentSpec]:
    """Every registered component (of one kind), ordered by kind then name."""
    return get_registry().specs(kind)


__all__ = [
    "KINDS",
    "Assembly",
    "CheckpointError",
    "ClipSpec",
    "Component",
    "ComponentConfig",
    "ComponentParams",
    "ComponentSpec",
    "ConfigError",
    "DataError",
    "DuplicateComponentError",
    "ExperimentConfig",
    "GenerationParts",
    "MissingWeightsError",
    "NoParams",
    "ParameterError",
    "PluginError",
    "ProavError",
    "UnknownComponentError",
    "UsageError",
    "__version__",
    "build",
    "build_component",
    "build_from_config",
    "build_generation",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "get_registry",
    "hookimpl",
    "list_components",
    "load_config",
    "register_component",
    "register_plugin",
    "reset_plugins",
    *_PLUGIN_AUTHOR_NAMES,
]
