"""The component registry: (kind, name) -> factory, parameter model, summary, provider.

Plugins fill it through the `proav_register_components` hook (see hookspecs.py); configs and
`proav_core.build` look components up in it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from proav_core.errors import (
    DuplicateComponentError,
    ParameterError,
    PluginError,
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


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PluginError(
            f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; "
            f"known kinds: {', '.join(KINDS)}"
        )


class Registry:
    """All registered components plus the default name per kind (from registry.toml)."""

    def __init__(self, defaults: Mapping[str, str] | None = None):
        self._specs: dict[tuple[str, str], ComponentSpec] = {}
        self.defaults: dict[str, str] = dict(defaults or {})

    def add(self, spec: ComponentSpec) -> ComponentSpec:
        _check_kind(spec.kind)
        key = (spec.kind, spec.name)
        if key in self._specs:
            other = self._specs[key].provider
            raise DuplicateComponentError(
                f"{spec.kind} '{spec.name}' is registered twice: by '{other}' and by "
                f"'{spec.provider}'. Rename one of them, or uninstall one of the plugins."
            )
        self._specs[key] = spec
        return spec

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
                f"`proav registry list --kind {kind}` shows them.",
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

    def add(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        params: type[ComponentParams] | None = None,
        summary: str | None = None,
    ) -> ComponentSpec:
        """Register `factory` as (kind, name). See hookspecs.proav_register_components."""
        _check_kind(kind)
        params = params or NoParams
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise PluginError(
                f"{self.provider}: params of {kind} '{name}' must be a pydantic model class "
                f"(subclass proav_core.ComponentParams), got {params!r}"
            )
        if params.model_config.get("extra") != "forbid":
            raise PluginError(
                f"{self.provider}: params model {params.__name__} of {kind} '{name}' must forbid "
                "unknown keys; subclass proav_core.ComponentParams"
            )
        if summary is None:
            doc = (getattr(factory, "__doc__", None) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
        spec = ComponentSpec(kind, name, factory, params, summary, self.provider)
        return self._registry.add(spec)
