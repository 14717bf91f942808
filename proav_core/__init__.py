"""proav: synchronized audio-video generation, every part a plugin.

Assemble in Python:

    import proav_core
    proav_core.list_components("attention")
    block = proav_core.build("attention", "gcm_attn", dim=64)
    cfg = proav_core.load_config("configs/demo.toml", overrides=["model.generator.depth=2"])
    parts = proav_core.build_from_config(cfg)

The public names are imported on first use (PEP 562 module `__getattr__`), so `import
proav_core` (and with it `proav --version` and every `--help`) imports no torch; `_EXPORTS`
says which module defines each name. A name added to the public API goes into `_EXPORTS`, the
TYPE_CHECKING imports (for type checkers and editors) and `__all__`;
tests/core/test_cli_startup.py checks that the three agree.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from proav_core._version import __version__

_EXPORTS: dict[str, tuple[str, ...]] = {
    "proav_core.build": (
        "Assembly",
        "GenerationParts",
        "build",
        "build_component",
        "build_from_config",
        "build_generation",
        "register_component",
    ),
    "proav_core.config": (
        "Component",
        "ComponentConfig",
        "ExperimentConfig",
        "config_from_dict",
        "config_to_dict",
        "config_to_toml",
        "load_config",
    ),
    "proav_core.errors": (
        "CheckpointError",
        "ConfigError",
        "DataError",
        "DuplicateComponentError",
        "MissingWeightsError",
        "ParameterError",
        "PluginError",
        "ProavError",
        "UnknownComponentError",
        "UsageError",
        "UnavailableComponentError",  # for plugin authors (issue 14, plugins)
    ),
    "proav_core.hookspecs": ("hookimpl",),
    "proav_core.interfaces": ("KINDS", "ClipSpec"),
    "proav_core.plugin_manager": ("get_registry", "register_plugin", "reset_plugins"),
    "proav_core.registry": ("ComponentParams", "ComponentSpec", "NoParams"),
}
# The helpers for plugin authors are submodules, imported by name: proav_core.flow_matching,
# proav_core.layers, proav_core.attention_streams, proav_core.testing (docs/plugins.md).
_MODULE_OF: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:
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
        UnavailableComponentError,
        UnknownComponentError,
        UsageError,
    )
    from proav_core.hookspecs import hookimpl
    from proav_core.interfaces import KINDS, ClipSpec
    from proav_core.plugin_manager import get_registry, register_plugin, reset_plugins
    from proav_core.registry import ComponentParams, ComponentSpec, NoParams


def list_components(kind: str | None = None) -> list[ComponentSpec]:
    """Every registered component (of one kind), ordered by kind then name."""
    from proav_core.plugin_manager import get_registry

    return get_registry().specs(kind)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and keep the name here."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _LazyPackage(types.ModuleType):
    """The package's module type: a public name that is also a submodule's name (`build`, the
    function, and `proav_core.build`, its module) keeps meaning the public object when the
    submodule is imported first (the import system would bind the package attribute to the
    submodule; eager imports in this file used to rebind it to the function)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _MODULE_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _LazyPackage

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
    "UnavailableComponentError",  # for plugin authors (issue 14, plugins)
]
