"""The hooks a proav plugin implements. pluggy project name: "proav".

A plugin is any module or object with functions marked `@hookimpl` whose names match the
specs below. Built-in plugins are the modules listed in registry.toml; a third-party package
adds an entry point in the group "proav" that names its plugin module. The plugin author's
guide is docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from proav_core.registry import Registrar

PROJECT = "proav"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def proav_register_components(registry: Registrar) -> None:
    """Add this plugin's components to the registry.

    Call ``registry.add(kind, name, factory, params, summary)`` once per component:
    `kind` is one of proav_core.interfaces.KINDS; `factory` is a class or function returning
    an object that satisfies that kind's interface; `params` is a
    `proav_core.ComponentParams` subclass describing the parameters a config may set
    (validated before the factory is called with them as keyword arguments); `summary` is
    one line for `proav registry list`. A (kind, name) pair may be registered only once
    across all plugins.
    """
