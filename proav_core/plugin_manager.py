"""Loads plugins and fills the registry.

Order: the built-in modules listed in registry.toml, then third-party packages found through
the entry point group "proav" (read with the `entrypoints` package; turned off by
PROAV_DISABLE_PLUGIN_AUTOLOAD=1), then whatever is registered from Python with
`register_plugin`. A hook implementation that matches no hookspec (a misspelt hook name) is
rejected when its plugin registers; a plugin that registers no component is recorded with the
likely reason (for example a hook function without @hookimpl). What happens when a plugin
fails: see PluginHost.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import entrypoints
import pluggy

from proav_core import hookspecs
from proav_core.errors import PluginError, did_you_mean
from proav_core.registry import PluginProblem, Registrar, Registry

ENTRY_POINT_GROUP = "proav"
AUTOLOAD_ENV = "PROAV_DISABLE_PLUGIN_AUTOLOAD"
HOOK = "proav_register_components"


@dataclass
class RegistryFile:
    """Contents of registry.toml: built-in plugin modules and default names per kind."""

    builtin: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    path: str = "registry.toml"


def read_registry_file(path: str | Path | None = None) -> RegistryFile:
    """Read registry.toml (the packaged copy unless `path` is given)."""
    if path is None:
        ref = resources.files("proav_core") / "registry.toml"
        text, where = ref.read_text(encoding="utf-8"), str(ref)
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PluginError(f"{where}: not valid TOML: {err}") from None
    unknown = set(data) - {"plugins", "defaults"}
    if unknown:
        raise PluginError(f"{where}: unknown sections {sorted(unknown)}; expected [plugins], [defaults]")
    plugins = data.get("plugins", {})
    return RegistryFile(
        builtin=list(plugins.get("builtin", [])), defaults=dict(data.get("defaults", {})), path=where
    )


def autoload_enabled() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes"}


@dataclass
class PluginRecord:
    """One plugin the host tried to load: where it came from, what it registered, what went
    wrong. `error` set: it failed to load and none of its components are registered.
    `note` set: it loaded but registered no components (and why, when that can be told)."""

    name: str
    origin: str  # "built-in", "python", or the distribution ("my-dist 0.1")
    provider: str  # how its components name it
    components: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    note: str | None = None


def _why_empty(plugin: Any) -> str:
    """Why a plugin registered nothing, as a hint to its author."""
    hook = getattr(plugin, HOOK, None)
    if callable(hook) and not hasattr(hook, f"{hookspecs.PROJECT}_impl"):
        return (f"its {HOOK} function is not marked @proav_core.hookimpl, so it is never called; "
                "add the decorator")
    if hook is None:
        return f"it defines no {HOOK} hook (a function marked @proav_core.hookimpl)"
    return f"its {HOOK} hook ran but called registry.add for no component"


class PluginHost:
    """A pluggy PluginManager plus the registry its plugins fill.

    Failure rule: a built-in module (registry.toml) or a plugin registered from Python that
    fails raises PluginError at once. A third-party plugin (entry point) that fails to import,
    raises in its hook, registers a bad or clashing component, or implements an unknown hook
    is recorded instead (`records`, `registry.problems`): none of its components are
    registered, every other plugin keeps working, and only a lookup of a name it registered
    before failing raises (UnavailableComponentError, with the plugin's error); an unknown
    name's error lists every plugin with a problem.
    """

    def __init__(
        self,
        registry_file: RegistryFile | None = None,
        *,
        autoload: bool | None = None,
        entry_point_group: str = ENTRY_POINT_GROUP,
    ):
        self.registry_file = registry_file if registry_file is not None else read_registry_file()
        self.autoload = autoload_enabled() if autoload is None else autoload
        self.entry_point_group = entry_point_group
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry(defaults=self.registry_file.defaults)
        self.records: dict[str, PluginRecord] = {}  # plugin name -> what happened to it

    @property
    def providers(self) -> dict[str, str]:
        """plugin name -> where it came from (built-in, python, or its distribution)."""
        return {name: r.origin for name, r in self.records.items() if r.error is None}

    def load(self) -> PluginHost:
        for module_name in self.registry_file.builtin:
            try:
                module = importlib.import_module(module_name)
            except Exception as err:
                raise PluginError(
                    f"built-in plugin module '{module_name}' (listed in {self.registry_file.path}) "
                    f"failed to import: {type(err).__name__}: {err}"
                ) from err
            self.register(module, name=module_name, origin="built-in")
        if self.autoload:
            self._load_entry_points()
        return self

    def _load_entry_points(self) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in entrypoints.get_group_all(self.entry_point_group):
            # dist-info folder names escape "-" as "_"; show the normalised project name
            dist = (
                f"{ep.distro.name.replace('_', '-').lower()} {ep.distro.version}"
                if ep.distro
                else "unknown distribution"
            )
            if (dist, ep.name) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((dist, ep.name))
            target = ep.module_name + (f":{ep.object_name}" if ep.object_name else "")
            where = f"entry point '{ep.name} = {target}' (group '{self.entry_point_group}', distribution {dist})"
            fix = (f"Fix or uninstall that package, or set {AUTOLOAD_ENV}=1 to skip third-party plugins.")
            try:
                plugin = ep.load()
            except Exception as err:
                self._record_failure(
                    PluginRecord(ep.name, dist, f"{ep.name} ({dist})"),
                    f"plugin {where} failed to import: {type(err).__name__}: {err}. {fix}",
                    names=(),
                )
                continue
            record, error, attempted = self._register(plugin, ep.name, dist)
            if error is not None:
                self._record_failure(record, f"{error} ({where}). {fix}", names=attempted)

    def _record_failure(self, record: PluginRecord, message: str, names: list[tuple[str, str]] | tuple) -> None:
        record.error, record.components = message, []
        self.records.setdefault(record.name, record)
        self.registry.problems.append(PluginProblem(record.provider, message, True, tuple(names)))

    def register(self, plugin: Any, name: str | None = None, origin: str = "python") -> str:
        """Register a plugin object or module and add its components. Returns its name.

        All or nothing: on any failure (PluginError) no component of the plugin stays registered."""
        if self.pm.is_registered(plugin):
            return self.pm.get_name(plugin)
        record, error, _ = self._register(plugin, name, origin)
        if error is not None:
            raise error
        return record.name

    def _register(self, plugin: Any, name: str | None, origin: str) -> tuple[PluginRecord, PluginError | None, list]:
        """Register and run the plugin's hook. Returns (record, error or None, the (kind, name)
        pairs it tried to register); on error the plugin and its components are removed again."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        provider = name if origin in ("built-in", "python") else f"{name} ({origin})"
        record = PluginRecord(name, origin, provider)
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            other = self.records[name].origin if name in self.records else "another registration"
            return record, PluginError(
                f"a plugin named '{name}' is already registered (from {other}); give this one another name"
            ), []
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as err:
            return record, PluginError(f"plugin '{provider}' is not a valid proav plugin: {err}"), []
        unknown = [c.name for c in self.pm.get_hookcallers(plugin) or [] if not c.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            hooks = ", ".join(f"'{h}'{did_you_mean(h, [HOOK])}" for h in unknown)
            return record, PluginError(
                f"plugin '{provider}' implements a hook proav does not define: {hooks}. Known hooks: {HOOK}"
            ), []
        registrar = Registrar(self.registry, provider)
        try:
            for impl in self.pm.hook.proav_register_components.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(registry=registrar)
        except Exception as err:
            for kind, component in registrar.added:
                self.registry.remove(kind, component)
            self.pm.unregister(plugin)
            if not isinstance(err, PluginError):
                err = PluginError(
                    f"plugin '{provider}' failed while registering its components: {type(err).__name__}: {err}"
                )
            return record, err, list(registrar.attempted)
        record.components = list(registrar.added)
        if not record.components:
            record.note = _why_empty(plugin)
            self.registry.problems.append(PluginProblem(provider, record.note, False))
        self.records[name] = record
        return record, None, list(registrar.attempted)


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    if _host is None:
        _host = PluginHost().load()
    return _host


def get_registry() -> Registry:
    return get_host().registry


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin from Python (after the built-ins and entry points)."""
    return get_host().register(plugin, name=name, origin="python")


def reset_plugins() -> None:
    """Forget the loaded plugins; the next use reloads them (tests, notebooks)."""
    global _host
    _host = None
