"""The component registry: (kind, name) -> factory, parameter model, summary, provider.

Plugins fill it through the `proav_register_components` hook (see hookspecs.py); configs and
`proav_core.build` look components up in it by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from proav_core.errors import (
    DuplicateComponentError,
    ParameterError,
    PluginError,
    UnavailableComponentError,
    UnknownComponentError,
    did_you_mean,
)
from proav_core.interfaces import KINDS
from proav_core.validation import NumbersRefuseBooleans, describe_errors


class ComponentParams(NumbersRefuseBooleans):
    """Base of every component's parameter model: unknown keys are errors, defaults are
    validated like any other value (so a default may be a shorthand component name), and a
    boolean where a number is expected is a type error."""

    model_config = ConfigDict(extra="forbid", validate_default=True, arbitrary_types_allowed=True)


class NoParams(ComponentParams):
    """A component without configurable parameters."""


@dataclass(frozen=True)
class ComponentSpec:
    """Everything the registry knows about one component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[ComponentParams]
    summary: str
    provider: str

    def validate(self, values: Mapping[str, Any], path: str) -> ComponentParams:
        """Validate config values against this component's parameter model.

        Raises ParameterError naming `path.key`, the bad value and what was expected."""
        try:
            return self.params.model_validate(dict(values))
        except ValidationError as err:
            first, lines = describe_errors(err, path, known_keys=self.params.model_fields, model=self.params)
            raise ParameterError(
                f"invalid parameters for {self.kind} '{self.name}':\n{lines}", path=first
            ) from None


def factory_name(factory: Callable[..., Any]) -> str:
    """module.qualname of a factory, for messages."""
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"


@dataclass(frozen=True)
class FactorySignature:
    """What a factory's signature accepts: named arguments, **kwargs, arguments without default."""

    names: frozenset[str]
    var_keyword: bool
    required: tuple[str, ...]

    @classmethod
    def of(cls, factory: Callable[..., Any]) -> FactorySignature:
        try:
            sig = inspect.signature(factory)
        except (TypeError, ValueError):  # builtins without a signature: accept anything
            return cls(frozenset(), True, ())
        kinds = inspect.Parameter
        params = [p for p in sig.parameters.values() if p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)]
        return cls(
            names=frozenset(p.name for p in params if p.kind is not kinds.POSITIONAL_ONLY),
            var_keyword=any(p.kind is kinds.VAR_KEYWORD for p in sig.parameters.values()),
            required=tuple(p.name for p in params if p.default is inspect.Parameter.empty),
        )

    def accepts(self, name: str) -> bool:
        return self.var_keyword or name in self.names


def undeclared_parameters(factory: Callable[..., Any], params: type[BaseModel]) -> str | None:
    """Why `factory` cannot be called with every field of `params` as a keyword, or None."""
    sig = FactorySignature.of(factory)
    missing = [f for f in params.model_fields if not sig.accepts(f)]
    if not missing:
        return None
    return (
        f"its factory {factory_name(factory)} does not accept the parameter(s) "
        f"{', '.join(map(repr, missing))} declared by {params.__name__}; every field of the "
        "parameter model is passed to the factory as a keyword argument, so add them to the "
        "factory's signature (or remove them from the parameter model)"
    )


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that failed to load (`broken`: none of its components are registered) or one
    that loaded but registered nothing. `names` are the (kind, name) pairs a broken plugin had
    registered, or tried to, before it failed: a lookup of one of them fails with `message`."""

    plugin: str
    message: str
    broken: bool
    names: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        """One sentence that names the plugin and says what went wrong."""
        if not self.broken:
            return f"plugin '{self.plugin}' registered no components: {self.message}."
        return self.message if self.plugin in self.message else f"plugin '{self.plugin}': {self.message}"


class Registry:
    """All registered components plus the default name per kind (from registry.toml)."""

    def __init__(self, defaults: Mapping[str, str] | None = None):
        self._specs: dict[tuple[str, str], ComponentSpec] = {}
        self.defaults: dict[str, str] = dict(defaults or {})
        self.problems: list[PluginProblem] = []  # filled by the plugin host

    def add(self, spec: ComponentSpec) -> ComponentSpec:
        if spec.kind not in KINDS:
            raise PluginError(
                f"{spec.provider}: unknown component kind '{spec.kind}'{did_you_mean(spec.kind, KINDS)}; "
                f"known kinds: {', '.join(KINDS)}"
            )
        key = (spec.kind, spec.name)
        if key in self._specs:
            other = self._specs[key].provider
            raise DuplicateComponentError(
                f"{spec.kind} '{spec.name}' is registered twice: by '{other}' and by "
                f"'{spec.provider}'. Rename one of them, or uninstall one of the plugins."
            )
        self._specs[key] = spec
        return spec

    def remove(self, kind: str, name: str) -> None:
        """Forget (kind, name) (a plugin that failed half-way through registering)."""
        self._specs.pop((kind, name), None)

    def _broken_provider(self, kind: str, name: str, path: str | None) -> None:
        """Raise when (kind, name) belongs to a plugin that failed to load."""
        for problem in self.problems:
            if problem.broken and (kind, name) in problem.names:
                where = f" (at {path})" if path else ""
                raise UnavailableComponentError(
                    f"{kind} '{name}'{where} comes from plugin '{problem.plugin}', which failed to "
                    f"load, so none of its components are available. {problem.line()}",
                    path=path,
                )

    def _problems_note(self) -> str:
        """' Plugins with problems: ...' for unknown-name messages, or ''."""
        if not self.problems:
            return ""
        return "\nPlugins with problems (one may have provided it):" + "".join(f"\n  - {p.line()}" for p in self.problems)

    def get(self, kind: str, name: str | None = None, *, path: str | None = None) -> ComponentSpec:
        """The spec of (kind, name); name None means registry.toml's default for the kind."""
        if kind not in KINDS:
            raise UnknownComponentError(
                f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; "
                f"known kinds: {', '.join(KINDS)}",
                path=path,
            )
        if name is None:
            name = self.default_name(kind, path=path)
        self._broken_provider(kind, name, path)
        spec = self._specs.get((kind, name))
        if spec is None:
            known = self.names(kind)
            where = f" at {path}" if path else ""
            listing = (
                f"known {kind} components: {', '.join(known)}"
                if known
                else f"no {kind} components are registered"
            )
            raise UnknownComponentError(
                f"unknown {kind} '{name}'{where}{did_you_mean(name, known)}; {listing}. "
                f"`proav registry list --kind {kind}` shows them.{self._problems_note()}",
                path=path,
            )
        return spec

    def default_name(self, kind: str, *, path: str | None = None) -> str:
        if kind in self.defaults:
            return self.defaults[kind]
        where = f"{path}: " if path else ""
        known = self.names(kind)
        raise UnknownComponentError(
            f"{where}no `name` given and registry.toml names no default {kind}; "
            f"set name to one of: {', '.join(known) or '(none registered)'}",
            path=path,
        )

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._specs if k == kind)

    def specs(self, kind: str | None = None) -> list[ComponentSpec]:
        if kind is not None and kind not in KINDS:
            raise UnknownComponentError(
                f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; "
                f"known kinds: {', '.join(KINDS)}"
            )
        order = {k: i for i, k in enumerate(KINDS)}
        found = [s for s in self._specs.values() if kind is None or s.kind == kind]
        return sorted(found, key=lambda s: (order[s.kind], s.name))

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._specs

    def __len__(self) -> int:
        return len(self._specs)


class Registrar:
    """What a plugin's `proav_register_components` hook receives: adds on its behalf."""

    def __init__(self, registry: Registry, provider: str):
        self._registry = registry
        self.provider = provider
        self.attempted: list[tuple[str, str]] = []  # every (kind, name) passed to add
        self.added: list[tuple[str, str]] = []  # those that made it into the registry

    def _fail(self, kind: str, name: str, problem: str) -> PluginError:
        return PluginError(f"plugin '{self.provider}': registry.add({kind!r}, {name!r}, ...): {problem}")

    def add(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        params: type[ComponentParams] | None = None,
        summary: str | None = None,
    ) -> ComponentSpec:
        """Register `factory` as (kind, name). See hookspecs.proav_register_components.

        Raises PluginError naming this plugin for an unknown kind, a parameter model that is
        not a ComponentParams, or a factory that does not accept the model's fields."""
        self.attempted.append((kind, name))
        if kind not in KINDS:
            raise self._fail(kind, name, f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; "
                             f"known kinds: {', '.join(KINDS)}")
        params = params or NoParams
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise self._fail(kind, name, "params must be a pydantic model class "
                             f"(subclass proav_core.ComponentParams), got {params!r}")
        if params.model_config.get("extra") != "forbid":
            raise self._fail(kind, name, f"params model {params.__name__} must forbid unknown keys; "
                             "subclass proav_core.ComponentParams")
        if not callable(factory):
            raise self._fail(kind, name, f"factory must be a class or function, got {factory!r}")
        mismatch = undeclared_parameters(factory, params)
        if mismatch:
            raise self._fail(kind, name, mismatch)
        if summary is None:
            doc = (getattr(factory, "__doc__", None) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
        spec = self._registry.add(ComponentSpec(kind, name, factory, params, summary, self.provider))
        self.added.append((kind, name))
        return spec
