"""The `proav` command line: output and exit codes (0 ok, 2 usage/config, 1 other)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from proav_core import __version__
from proav_core.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out


def test_registry_list_shows_components(capsys, toy_plugin):
    code, out, _ = run(capsys, "registry", "list")
    assert code == 0
    assert "toy_attn" in out and "toy_gen" in out and "toy" in out


def test_registry_list_kind_filters(capsys, toy_plugin):
    code, out, _ = run(capsys, "registry", "list", "--kind", "generator")
    assert code == 0 and "toy_gen" in out and "toy_attn" not in out


def test_registry_list_empty_kind_is_not_an_error(capsys, toy_plugin):
    code, out, _ = run(capsys, "registry", "list", "--kind", "discriminator")
    assert code == 0 and "no discriminator components are registered" in out


def test_registry_list_unknown_kind_exits_2(capsys, toy_plugin):
    code, _, err = run(capsys, "registry", "list", "--kind", "atention")
    assert code == 2 and "closest: 'attention'" in err


def test_registry_show_lists_parameters(capsys, toy_plugin):
    code, out, _ = run(capsys, "registry", "show", "autoencoder", "toy_ae")
    assert code == 0
    assert "channels" in out and "temporal" in out and "'toy_attn'" in out
    code, out, _ = run(capsys, "registry", "show", "attention", "toy_attn")
    assert "attention heads" in out and "int" in out


def test_registry_show_writes_types_as_a_user_reads_them(capsys, monkeypatch):
    from proav_core.cli.registry_cmd import _type_name

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "registry", "show", "generator", "stdit")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("│ patch "))
    assert "│ tuple[int, int, int] | None " in row  # brackets kept, not eaten as markup
    assert "│ 'skip' | 'compute' " in next(line for line in out.splitlines() if line.startswith("│ padding "))
    assert _type_name(dict[str, float] | None) == "dict[str, float] | None"


def test_registry_show_unknown_name_exits_2(capsys, toy_plugin):
    code, _, err = run(capsys, "registry", "show", "generator", "toy_gn")
    assert code == 2 and "closest: 'toy_gen'" in err


def test_config_show_prints_resolved_toml(capsys, toy_config_file):
    code, out, _ = run(capsys, "config", "show", str(toy_config_file), "--set", "model.generator.depth=5")
    assert code == 0
    tree = tomllib.loads(out)
    assert tree["model"]["generator"] == {"name": "toy_gen", "depth": 5}
    assert tree["clip"]["frames"] == 8 and tree["clip"]["fps"] == 10.0


def test_config_check_ok(capsys, toy_config_file):
    code, out, _ = run(capsys, "config", "check", str(toy_config_file))
    assert code == 0 and "is valid" in out and "toy_gen" in out


def test_config_check_names_the_sections_a_fragment_leaves_out(capsys):
    """A recipe fragment is valid, but the check says which commands it cannot run."""
    from proav_core.cli.config_cmd import unset_sections
    from proav_core.config import load_config

    code, out, _ = run(capsys, "config", "check", str(CONFIGS / "recipes" / "demo_generator.toml"))
    assert code == 0 and "is valid" in out
    assert "not set here: dataset (needed by data prepare" in out
    assert "model.autoencoder (needed by train autoencoder, encode, sample)" in out
    assert unset_sections(load_config(CONFIGS / "demo.toml")) == []
    assert [s.split(" ")[0] for s in unset_sections(load_config(CONFIGS / "mdsa_tiny.toml"))] == [
        "model.stacker", "model.generator", "objective", "sampler"]


@pytest.mark.parametrize(("setting", "expected"), [
    ("model.generator.patch=[1, 3, 3]", "stdit patch (1, 3, 3) does not divide"),
    ("model.generator.hidden=30", "model.generator: width hidden=30 is not divisible by heads=4"),
])
def test_config_check_builds_the_model(capsys, setting, expected):
    """What only building reveals (sizes that do not fit together) fails the check too."""
    code, out, err = run(capsys, "config", "check", str(CONFIGS / "demo.toml"), "--set", setting)
    assert code == 2 and expected in err and "is valid" not in out


def test_config_check_bad_value_exits_2(capsys, toy_config_file):
    code, _, err = run(capsys, "config", "check", str(toy_config_file), "--set", "model.autoencoder.temporal.heads=-1")
    assert code == 2 and "model.autoencoder.temporal.heads" in err and "(got -1)" in err


def test_config_check_missing_file_exits_2(capsys, tmp_path, toy_plugin):
    code, _, err = run(capsys, "config", "check", str(tmp_path / "none.toml"))
    assert code == 2 and "config file not found" in err and "none.toml" in err


def test_unknown_command_is_a_usage_error(capsys):
    code, _, err = run(capsys, "registy")
    assert code == 2 and "No such command" in err


@pytest.mark.parametrize("group", ["registry", "config"])
def test_group_help(capsys, group):
    code, out, _ = run(capsys, group, "--help")
    assert code == 0 and "Usage" in out
