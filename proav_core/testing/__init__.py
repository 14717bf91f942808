"""The shared contract checks of every component kind; public API for plugin authors' tests.

proav's own test suite runs these checks on every registered component; a plugin package
runs them on its own components (sklearn's `check_estimator` in spirit):

    # tests/test_contract.py of a plugin package
    from proav_core.testing import contract_tests

    test_contract = contract_tests("my_plugin")  # one pytest case per component it registers

or, one component at a time, with parameters of your choosing (small sizes keep it fast):

    from proav_core.testing import check_component

    def test_my_sampler():
        check_component("sampler", "my_sampler", steps=4)

A check builds the component through the registry, as a config would, and raises
AssertionError naming the component and what broke (shapes, dtypes, value ranges, gradient
flow, determinism, the kind's Protocol; see each kind's check in proav_core.testing.kinds).
A component whose parameter model has required fields not given to the check is only checked
to refuse building without them (ParameterError naming the field). A component that needs
local weights that are absent may raise MissingWeightsError instead of being built: the
check accepts that when the message names the file to provide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from proav_core.errors import MissingWeightsError, ParameterError
from proav_core.plugin_manager import get_host, get_registry
from proav_core.registry import ComponentSpec
from proav_core.testing.common import fail, perturb_zero_params
from proav_core.testing.kinds import CONTRACTS


def _check_documented(spec: ComponentSpec) -> None:
    if not spec.summary:
        fail(spec.kind, spec.name, "has no summary: pass one to registry.add or give the factory a docstring")
    if spec.params.model_config.get("extra") != "forbid":
        fail(spec.kind, spec.name, f"parameter model {spec.params.__name__} must forbid unknown keys")
    undocumented = [f for f, info in spec.params.model_fields.items() if not info.description]
    if undocumented:
        fail(spec.kind, spec.name, f"parameters without a description (pydantic Field(description=...)): "
             f"{', '.join(undocumented)}; `proav registry show` prints them to users")


def check_component(kind: str, name: str, /, **params: Any) -> None:
    """Run the contract of `kind` on the registered component (kind, name).

    `params` are the component's own parameters (as a config section would give them); the
    context each kind's factory receives (dims, clip, plane shapes, ...) is the check's own,
    except that a dataset check takes `clip=` (a ClipSpec that suits the data it points at).
    """
    spec = get_registry().get(kind, name)
    _check_documented(spec)
    missing = [f for f, info in spec.params.model_fields.items() if info.is_required() and f not in params]
    if missing:
        try:
            CONTRACTS[kind](name, **params)
        except ParameterError as err:
            if missing[0] not in str(err):
                fail(kind, name, f"building without '{missing[0]}' must name it, got: {err}")
            return
        except MissingWeightsError:
            return
        fail(kind, name, f"built without its required parameter '{missing[0]}'")
    try:
        CONTRACTS[kind](name, **params)
    except MissingWeightsError as err:
        if not re.search(r"[\w-]+\.[A-Za-z0-9]+", str(err)):
            fail(kind, name, f"MissingWeightsError must name the file to provide, got: {err}")


def components_of(plugin: str | None = None) -> list[ComponentSpec]:
    """The registered components of `plugin` (its name: a built-in module, an entry point
    name, or the name given to register_plugin), or every component when None."""
    specs = get_registry().specs()
    if plugin is None:
        return specs
    return [s for s in specs if s.provider == plugin or s.provider.startswith(f"{plugin} (")]


def _plugin_problems(plugin: str) -> str:
    lines = [p.line() for p in get_registry().problems if p.plugin == plugin or p.plugin.startswith(f"{plugin} (")]
    known = ", ".join(get_host().records) or "none"
    return " ".join(lines) or f"no plugin of that name is loaded (loaded plugins: {known})"


def contract_tests(
    plugin: str | None = None, params: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable[..., None]:
    """A pytest test function, parametrised over the components `plugin` registered, that
    runs `check_component` on each. `params` maps a component name to the parameters to
    build it with. Assign it to a module-level name starting with `test_`. A plugin that
    registered nothing (or failed to load) gets one failing case that says why."""
    import pytest

    params = dict(params or {})
    specs = components_of(plugin)
    if not specs:
        why = _plugin_problems(plugin or "")

        def test_registers_components() -> None:
            raise AssertionError(f"plugin '{plugin}' registered no components: {why}")

        return test_registers_components

    @pytest.mark.parametrize(("kind", "name"), [(s.kind, s.name) for s in specs],
                             ids=[f"{s.kind}:{s.name}" for s in specs])
    def test_contract(kind: str, name: str) -> None:
        check_component(kind, name, **params.get(name, {}))

    return test_contract


__all__ = ["CONTRACTS", "check_component", "components_of", "contract_tests", "perturb_zero_params"]
