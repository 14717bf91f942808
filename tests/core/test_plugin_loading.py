"""The plugin manager: registry.toml built-ins, entry points, Python registration."""

from __future__ import annotations

import pytest

import proav_core
from proav_core.errors import DuplicateComponentError, PluginError, UnavailableComponentError
from proav_core.plugin_manager import AUTOLOAD_ENV, PluginHost, RegistryFile, read_registry_file

from .plugin_site import write_distribution, write_module

PLUGIN_SOURCE = '''
import proav_core

@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("attention", "{name}", dict)
'''


def test_builtin_modules_load_in_order(site):
    write_module(site, "builtin_a", PLUGIN_SOURCE.format(name="a"))
    write_module(site, "builtin_b", PLUGIN_SOURCE.format(name="b"))
    host = PluginHost(RegistryFile(builtin=["builtin_a", "builtin_b"]), autoload=False).load()
    assert [s.name for s in host.registry.specs("attention")] == ["a", "b"]
    assert host.registry.get("attention", "a").provider == "builtin_a"


def test_builtin_that_fails_to_import_is_named(site):
    write_module(site, "broken_builtin", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError) as info:
        PluginHost(RegistryFile(builtin=["broken_builtin"], path="registry.toml"), autoload=False).load()
    msg = str(info.value)
    assert "built-in plugin module 'broken_builtin'" in msg and "registry.toml" in msg
    assert "RuntimeError: boom at import" in msg


def test_entry_point_discovered_with_distribution_as_provider(site):
    write_distribution(site, "third_party", "third_party_plugin", "tp", PLUGIN_SOURCE.format(name="tp_attn"))
    host = PluginHost(RegistryFile(), autoload=True).load()
    spec = host.registry.get("attention", "tp_attn")
    assert spec.provider == "tp (third-party 1.0)"


def test_entry_point_that_raises_on_import_names_entry_point_and_exception(site):
    write_distribution(site, "bad_dist", "bad_plugin_mod", "bad", "raise ImportError('missing libfoo')\n")
    host = PluginHost(RegistryFile(), autoload=True).load()  # recorded, not raised (see test_plugin_problems)
    (problem,) = host.registry.problems
    msg = problem.message
    assert problem.broken and problem.plugin == "bad (bad-dist 1.0)"
    assert "plugin entry point 'bad = bad_plugin_mod'" in msg
    assert "bad-dist 1.0" in msg
    assert "ImportError: missing libfoo" in msg
    assert AUTOLOAD_ENV in msg


def test_autoload_env_turns_entry_points_off(site, monkeypatch):
    write_distribution(site, "skipped_dist", "skipped_plugin", "skipped", "raise ImportError('never')\n")
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    host = PluginHost(RegistryFile()).load()
    assert not host.autoload and len(host.registry) == 0


def test_two_plugins_registering_the_same_name(site):
    write_module(site, "dup_one", PLUGIN_SOURCE.format(name="same"))
    write_distribution(site, "dup_dist", "dup_two", "two", PLUGIN_SOURCE.format(name="same"))
    host = PluginHost(RegistryFile(builtin=["dup_one"]), autoload=True).load()
    # the third-party plugin is the broken one; naming the clashing component fails with both names
    with pytest.raises(UnavailableComponentError) as info:
        host.registry.get("attention", "same")
    assert "registered twice" in str(info.value)
    assert "'dup_one'" in str(info.value) and "'two (dup-dist 1.0)'" in str(info.value)


def test_two_builtins_registering_the_same_name_is_fatal(site):
    write_module(site, "dup_a", PLUGIN_SOURCE.format(name="same"))
    write_module(site, "dup_b", PLUGIN_SOURCE.format(name="same"))
    with pytest.raises(DuplicateComponentError) as info:
        PluginHost(RegistryFile(builtin=["dup_a", "dup_b"]), autoload=False).load()
    assert "'dup_a'" in str(info.value) and "'dup_b'" in str(info.value)


def test_misspelt_hook_is_rejected_by_check_pending(site):
    write_module(site, "typo_plugin", """
        import proav_core

        @proav_core.hookimpl
        def proav_register_component(registry):
            pass
    """)
    with pytest.raises(PluginError, match="typo_plugin.*implements a hook proav does not define"):
        PluginHost(RegistryFile(builtin=["typo_plugin"]), autoload=False).load()


def test_plugin_raising_during_registration_is_named(site):
    write_module(site, "raising_plugin", """
        import proav_core

        @proav_core.hookimpl
        def proav_register_components(registry):
            raise ValueError("bad table")
    """)
    with pytest.raises(PluginError, match="raising_plugin' failed while registering.*ValueError: bad table"):
        PluginHost(RegistryFile(builtin=["raising_plugin"]), autoload=False).load()


def test_python_registration_after_load(fresh_plugins):
    class Plugin:
        @proav_core.hookimpl
        def proav_register_components(self, registry):
            registry.add("attention", "from_python", dict)

    proav_core.register_plugin(Plugin(), name="notebook")
    spec = proav_core.get_registry().get("attention", "from_python")
    assert spec.provider == "notebook"


def test_register_component_shortcut(fresh_plugins):
    proav_core.register_component("attention", "quick", dict, summary="one-off")
    spec = proav_core.get_registry().get("attention", "quick")
    assert (spec.summary, spec.provider) == ("one-off", "python")


def test_packaged_registry_file_lists_importable_modules():
    registry_file = read_registry_file()
    assert registry_file.path.endswith("registry.toml")
    host = PluginHost(registry_file, autoload=False).load()
    for kind, name in registry_file.defaults.items():
        assert host.registry.get(kind, name).name == name
