"""Packaging: the wheel carries registry.toml and configs, `plugins/` installs as
proav_plugins, and a third-party plugin installed as a real distribution is found."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

import proav_core
from proav_core.plugin_manager import AUTOLOAD_ENV

from .plugin_site import ROOT, isolated_env, pip


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT))
    return next(out.glob("proav-*.whl"))


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "proav_core/registry.toml" in names
    assert "proav_core/configs/demo.toml" in names
    assert "proav_core/configs/recipes/demo_generator.toml" in names  # demo.toml extends it
    assert "proav_plugins/__init__.py" in names
    assert not any(n.startswith("plugins/") for n in names)


def test_installed_wheel_reads_its_own_registry_file(wheel, tmp_path):
    target = tmp_path / "site"
    pip("install", "--no-deps", "--target", str(target), str(wheel))
    code = (
        "import proav_core, proav_plugins; from proav_core.plugin_manager import read_registry_file as r;"
        "f = r(); print(proav_core.__file__); print(proav_plugins.__file__); print(f.path); print(f.builtin)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=isolated_env(target), cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    core_file, plugins_file, registry_path, builtin = result.stdout.splitlines()
    assert core_file.startswith(str(target)) and plugins_file.startswith(str(target))
    assert registry_path.startswith(str(target))
    expected = proav_core.plugin_manager.read_registry_file().builtin
    assert builtin == str(expected)


def test_installed_wheel_loads_the_demo_default_with_its_recipe(wheel, tmp_path):
    """`proav demo`'s embedded default, read from the installed package, finds the recipe it
    extends there (configs/recipes/), not in a checkout."""
    target = tmp_path / "site"
    pip("install", "--no-deps", "--target", str(target), str(wheel))
    code = ("from proav_core.cli.demo_cmd import default_config_path as d; from proav_core import load_config;"
            "c = load_config(d()); print(d()); print(c.sampler.name, c.train.generator.optim.lr)")
    result = subprocess.run([sys.executable, "-c", code], env=isolated_env(target), cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    path, recipe = result.stdout.splitlines()[-2:]
    assert path.startswith(str(target)) and recipe == "reflected_flow_renoised 0.006"


# `proav registry list` listing the installed example: tests/core/test_plugin_guide.py


def test_example_plugin_builds_from_a_config(example_site, tmp_path, monkeypatch, fresh_plugins):
    import torch

    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    config = tmp_path / "with_metric.toml"
    config.write_text('[[metrics]]\nname = "example_motion_energy"\nthreshold = 0.1\n')
    cfg = proav_core.load_config(config)
    assert cfg.metrics[0].spec.provider == "example (proav-plugin-example 0.1.0)"
    (metric,) = proav_core.build_from_config(cfg).metrics
    still = torch.zeros(2, 3, 4, 8, 8)
    moving = still.clone()
    moving[:, :, 1::2] = 1.0  # every other frame jumps by 1.0
    metric.update({"video": still})
    metric.update({"video": moving})
    result = metric.compute()
    assert result.num_fake == 4
    assert result.value == pytest.approx((0 + 0 + 1 + 1) / 4)


def test_example_plugin_is_skipped_when_autoload_is_off(example_site):
    env = isolated_env(example_site) | {AUTOLOAD_ENV: "1"}
    result = subprocess.run([sys.executable, "-m", "proav_core", "registry", "list", "--kind", "metric"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "example_motion_energy" not in result.stdout
