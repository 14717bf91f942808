"""Plugins that go wrong (issue 14): a broken third-party plugin stops nothing but what needs
it, a plugin that registers nothing is reported, registry.add names the plugin at fault, and a
factory that fails is reported like any other plugin error."""

from __future__ import annotations

import pytest
from pydantic import Field

import proav_core
from proav_core.cli import main
from proav_core.errors import PluginError, UnavailableComponentError, UnknownComponentError
from proav_core.plugin_manager import PluginHost, RegistryFile
from proav_core.registry import ComponentSpec, Registrar, Registry

from .plugin_site import write_distribution, write_module

HALF_BROKEN = '''
import proav_core

@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("metric", "half_metric", dict)
    raise RuntimeError("table v2 not supported")
'''

NO_HOOKIMPL = '''
def proav_register_components(registry):  # the @proav_core.hookimpl marker is missing
    registry.add("metric", "never_metric", dict)
'''

OK_PLUGIN = '''
import proav_core

@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("metric", "fine_metric", dict, summary="a metric from a healthy plugin")
'''


@pytest.fixture
def broken_site(site, fresh_plugins):
    """Three installed third-party plugins next to the built-ins: one fails at import, one
    fails half-way through registering, one lacks @hookimpl; and one healthy plugin."""
    write_distribution(site, "import_fails", "import_fails_mod", "importfails", "raise ImportError('no libfoo')\n")
    write_distribution(site, "half_broken", "half_broken_mod", "half", HALF_BROKEN)
    write_distribution(site, "no_marker", "no_marker_mod", "nomarker", NO_HOOKIMPL)
    write_distribution(site, "healthy", "healthy_mod", "healthy", OK_PLUGIN)
    return site


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_registry_list_works_and_lists_broken_and_empty_plugins(broken_site, capsys):
    code, out, err = run(capsys, "registry", "list", "--kind", "metric")
    assert code == 0, err
    assert "fine_metric" in out and "psnr" in out  # healthy third-party and built-in components
    assert "half_metric" not in out  # a broken plugin's components are all withdrawn
    assert "3 plugin(s) with problems" in out
    assert "importfails (import-fails 1.0)" in out and "ImportError: no libfoo" in out
    assert "half (half-broken 1.0)" in out and "RuntimeError: table v2 not supported" in out
    assert "nomarker (no-marker 1.0)" in out and "not marked @proav_core.hookimpl" in out


def test_other_commands_work_and_only_a_config_naming_a_broken_component_fails(broken_site, tmp_path, capsys):
    fine = tmp_path / "fine.toml"
    fine.write_text('[[metrics]]\nname = "fine_metric"\n')
    assert run(capsys, "config", "check", str(fine))[0] == 0
    assert run(capsys, "registry", "show", "metric", "psnr")[0] == 0

    needs_broken = tmp_path / "needs_broken.toml"
    needs_broken.write_text('[[metrics]]\nname = "half_metric"\n')
    code, _, err = run(capsys, "config", "check", str(needs_broken))
    assert code == 1 and "Traceback" not in err
    assert "needs_broken.toml" in err and "metric 'half_metric'" in err
    assert "plugin 'half (half-broken 1.0)', which failed to load" in err
    assert "RuntimeError: table v2 not supported" in err and "half_broken_mod" in err


def test_unknown_name_mentions_broken_and_empty_plugins(broken_site):
    with pytest.raises(UnknownComponentError) as info:
        proav_core.build("metric", "never_metric")
    msg = str(info.value)
    assert "unknown metric 'never_metric'" in msg
    assert "plugin 'nomarker (no-marker 1.0)' registered no components" in msg
    assert "its proav_register_components function is not marked @proav_core.hookimpl" in msg
    assert "plugin entry point 'importfails = import_fails_mod'" in msg and "ImportError: no libfoo" in msg
    listed = msg.split("Plugins with problems (one may have provided it):\n", 1)[1].splitlines()
    assert len(listed) >= 3 and all(line.startswith("  - ") for line in listed)  # one line per plugin


def test_broken_component_lookup_raises_the_plugins_error_with_the_config_path(broken_site):
    with pytest.raises(UnavailableComponentError) as info:
        proav_core.config_from_dict({"metrics": [{"name": "half_metric"}]}, source="exp.toml")
    assert info.value.path == "metrics[0]" and info.value.exit_code == 1
    assert str(info.value).startswith("exp.toml: metric 'half_metric' (at metrics[0]) comes from plugin")


@pytest.mark.parametrize(("module", "source", "reason"), [
    ("empty_unmarked", NO_HOOKIMPL, "not marked @proav_core.hookimpl"),
    ("empty_no_hook", "x = 1\n", "defines no proav_register_components hook"),
    ("empty_hook", "import proav_core\n\n@proav_core.hookimpl\ndef proav_register_components(registry):\n"
     "    pass\n", "hook ran but called registry.add for no component"),
])
def test_a_plugin_registering_nothing_is_recorded_with_its_likely_cause(site, module, source, reason):
    write_module(site, module, source)
    host = PluginHost(RegistryFile(builtin=[module]), autoload=False).load()
    (problem,) = host.registry.problems
    assert problem.plugin == module and not problem.broken and reason in problem.message
    assert host.records[module].note == problem.message


def test_unknown_kind_in_registry_add_names_the_plugin(site):
    write_distribution(site, "kind_typo", "kind_typo_mod", "kindtypo", '''
import proav_core

@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("sampeler", "mine", dict)
''')
    host = PluginHost(RegistryFile(), autoload=True).load()
    (problem,) = host.registry.problems
    assert problem.broken and problem.plugin == "kindtypo (kind-typo 1.0)"
    assert "plugin 'kindtypo (kind-typo 1.0)': registry.add('sampeler', 'mine', ...)" in problem.message
    assert "unknown component kind 'sampeler'; closest: 'sampler'" in problem.message
    # registered from Python, the same error is raised at once, naming the plugin
    with pytest.raises(PluginError, match="plugin 'notebook': registry.add\\('sampeler'"):
        Registrar(Registry(), "notebook").add("sampeler", "mine", dict)


def test_a_misspelt_hook_in_a_third_party_plugin_is_recorded_with_the_closest_hook(site):
    write_distribution(site, "hook_typo", "hook_typo_mod", "hooktypo", '''
import proav_core

@proav_core.hookimpl
def proav_register_component(registry):
    pass
''')
    host = PluginHost(RegistryFile(), autoload=True).load()
    (problem,) = host.registry.problems
    assert problem.broken and "implements a hook proav does not define" in problem.message
    assert "'proav_register_component'; closest: 'proav_register_components'" in problem.message
    assert not host.pm.get_plugins()  # unregistered again


class ScaleParams(proav_core.ComponentParams):
    scale: float = Field(1.0, description="a factor")


class Exploding:
    """Raises a plain exception when built."""

    def __init__(self, scale: float):
        raise ZeroDivisionError("scale table is empty")


def test_factory_raising_a_plain_exception_is_a_plugin_error_naming_component_and_provider(fresh_plugins):
    Registrar(proav_core.get_registry(), "boom (boom-dist 0.1)").add("attention", "exploding", Exploding, ScaleParams)
    with pytest.raises(PluginError) as info:
        proav_core.build("attention", "exploding", scale=2.0)
    msg = str(info.value)
    assert "attention 'exploding'" in msg and "plugin 'boom (boom-dist 0.1)'" in msg
    assert f"factory {Exploding.__module__}.Exploding)" in msg
    assert "ZeroDivisionError: scale table is empty" in msg
    assert "fault is in the factory" in msg and "proav registry list --kind attention" in msg
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # PROAV_DEBUG=1 shows it


def test_factory_error_inside_a_config_names_the_config_path(fresh_plugins):
    proav_core.register_component("attention", "exploding", Exploding, ScaleParams)
    with pytest.raises(PluginError, match=r"attention 'exploding' at model\.x \(from plugin 'python'"):
        proav_core.build_component({"name": "exploding"}, "attention", path="model.x")


def test_factory_not_accepting_a_declared_parameter_is_refused_at_registration_and_at_build(fresh_plugins):
    def no_scale(dim: int = 0):
        """Takes no `scale` although its parameter model declares one."""

    with pytest.raises(PluginError) as info:
        Registrar(Registry(), "sig (sig-dist 0.1)").add("attention", "no_scale", no_scale, ScaleParams)
    msg = str(info.value)
    assert "plugin 'sig (sig-dist 0.1)': registry.add('attention', 'no_scale', ...)" in msg
    assert "does not accept the parameter(s) 'scale' declared by ScaleParams" in msg
    assert "add them to the factory's signature" in msg
    # a spec made without a Registrar is checked when built
    spec = ComponentSpec("attention", "no_scale", no_scale, ScaleParams, "", "sig (sig-dist 0.1)")
    proav_core.get_registry().add(spec)
    with pytest.raises(PluginError, match="attention 'no_scale' \\(from plugin 'sig \\(sig-dist 0.1\\)'\\).*'scale'"):
        proav_core.build("attention", "no_scale")


def test_factory_needing_context_nobody_offered_says_what_was_offered(fresh_plugins):
    def needs_clip(clip, dim):
        """Needs a clip."""

    proav_core.register_component("attention", "needs_clip", needs_clip)
    with pytest.raises(PluginError) as info:
        proav_core.build("attention", "needs_clip", dim=4)
    msg = str(info.value)
    assert "needs 'clip'" in msg and "offered: dim" in msg
    assert "proav_core.build('attention', 'needs_clip', clip=...)" in msg


def test_a_half_registered_plugin_from_python_leaves_nothing_behind(fresh_plugins):
    class Half:
        @proav_core.hookimpl
        def proav_register_components(self, registry):
            registry.add("attention", "first_of_two", dict)
            registry.add("attention", "second_of_two", dict, dict)  # not a parameter model

    with pytest.raises(PluginError, match="params must be a pydantic model class"):
        proav_core.register_plugin(Half(), name="half")
    assert ("attention", "first_of_two") not in proav_core.get_registry()
    assert "half" not in proav_core.plugin_manager.get_host().records
