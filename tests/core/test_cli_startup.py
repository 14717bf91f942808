"""Start-up of the `proav` command line and of `import proav_core`: what each one imports.

`proav --version`, `proav --help` and `--help` of every command and subcommand must not import
torch, numpy or the media libraries (they used to take 4-5 s, all of it importing torch);
`import proav_core` neither, its public names being imported on first use. Checked in a fresh
interpreter through sys.modules (behaviour, not wall-clock; benchmarks/bench_startup.py
measures the seconds).
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import proav_core
from proav_core.cli import COMMAND_MODULES, LazyGroup, main

HEAVY = ("torch", "torchvision", "torchaudio", "lightning_fabric", "lightning", "numpy", "scipy", "librosa",
         "av", "soundfile", "PIL", "cv2", "matplotlib")

HELP_PROBE = """
import contextlib, io, json, sys
import click
HEAVY = %r

def heavy_loaded():
    return [m for m in HEAVY if m in sys.modules]

from proav_core.cli import cli, main
runs = [{"argv": ["(import proav_core.cli)"], "code": 0, "out": "", "heavy": heavy_loaded()}]

def run(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    runs.append({"argv": argv, "code": code, "out": out.getvalue(), "heavy": heavy_loaded()})

def walk(group, path):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        run([*path, name, "--help"])
        if isinstance(command, click.Group):
            walk(command, [*path, name])

run(["--version"])
run(["--help"])
walk(cli, [])
print(json.dumps(runs))
"""


def fresh_interpreter(code: str) -> str:
    """Run `code` in a new Python process (this interpreter, fresh sys.modules); its stdout."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def help_runs() -> list[dict]:
    """--version, --help and every `<command> [<subcommand>] --help`, in this order, in one fresh
    interpreter: the heavy modules loaded after each (a module once loaded stays, so the first
    run that shows one is the one that imported it)."""
    return json.loads(fresh_interpreter(HELP_PROBE % (HEAVY,)))


def test_version_and_every_help_import_no_heavy_library(help_runs):
    offenders = [r for r in help_runs if r["heavy"]]
    assert not offenders, f"`proav {' '.join(offenders[0]['argv'])}` imported {offenders[0]['heavy']}"


def test_the_probe_covered_every_command_and_subcommand(help_runs):
    helped = {" ".join(r["argv"][:-1]) for r in help_runs if r["argv"][-1] == "--help"}
    assert set(COMMAND_MODULES) <= helped
    assert {"registry list", "config show", "train generator", "train autoencoder", "model summary",
            "data prepare", "data synth"} <= helped
    for r in help_runs[1:]:
        assert r["code"] == 0, r["argv"]
        expected = proav_core.__version__ if r["argv"] == ["--version"] else "Usage: proav"
        assert expected in r["out"], r["argv"]


def test_light_commands_import_what_they_use_only():
    """`registry list` and `config check` load the plugins (so torch), but neither torchvision
    nor the training, sampling or Lightning code. `config check` builds the model on the meta
    device, whose factory functions (torch._refs) import torch._dynamo's symbolic shapes and so
    sympy (about 1 s); `registry list` does not."""
    probe = f"""
import contextlib, io, json, sys
from proav_core.cli import main
from proav_core.cli.demo_cmd import default_config_path
codes = []
watched = ["torch", "torchvision", "torch._dynamo", "sympy", "lightning_fabric", "proav_core.training",
           "proav_core.sampling", "proav_core.demo"]
loaded = []
with contextlib.redirect_stdout(io.StringIO()):
    codes.append(main(["registry", "list"]))
    loaded.append([m for m in watched if m in sys.modules])
    codes.append(main(["config", "check", default_config_path()]))
    loaded.append([m for m in watched if m in sys.modules])
print(json.dumps({{"codes": codes, "loaded": loaded}}))
"""
    seen = json.loads(fresh_interpreter(probe))
    assert seen["codes"] == [0, 0]
    assert seen["loaded"] == [["torch"], ["torch", "torch._dynamo", "sympy"]]


def test_import_proav_core_is_light_and_names_resolve_on_use():
    probe = f"""
import json, sys, types
HEAVY = {HEAVY!r}
import proav_core
light = [m for m in HEAVY if m in sys.modules]
error_light = proav_core.ProavError.__module__ == "proav_core.errors" and "torch" not in sys.modules
import proav_core.build  # the submodule first: `proav_core.build` must stay the function
build = proav_core.build
print(json.dumps({{"light": light, "error_light": error_light, "torch_after_build": "torch" in sys.modules,
                   "build_is_function": callable(build) and not isinstance(build, types.ModuleType),
                   "build_module": build.__module__}}))
"""
    seen = json.loads(fresh_interpreter(probe))
    assert seen["light"] == []
    assert seen["error_light"]  # an error class needs no torch either
    assert seen["torch_after_build"]  # the lazy name did load its module
    assert seen["build_is_function"] and seen["build_module"] == "proav_core.build"


def test_every_public_name_is_the_object_of_its_module():
    for name in proav_core.__all__:
        value = getattr(proav_core, name)
        if name in proav_core._MODULE_OF:
            assert value is getattr(importlib.import_module(proav_core._MODULE_OF[name]), name), name
    assert proav_core.build is importlib.import_module("proav_core.build").build
    assert not isinstance(proav_core.build, types.ModuleType)
    assert set(proav_core.__all__) <= set(dir(proav_core))
    from proav_core import ConfigError, build_component  # the from-import form too

    assert ConfigError.__module__ == "proav_core.errors" and build_component.__module__ == "proav_core.build"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'bulid'"):
        proav_core.bulid  # noqa: B018


def test_lazy_names_all_and_type_checking_imports_agree():
    """The three lists of the public API in proav_core/__init__.py name the same things."""
    tree = ast.parse(Path(proav_core.__file__).read_text())
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    checked.update({alias.name: stmt.module for alias in stmt.names})
    assert checked == proav_core._MODULE_OF
    assert set(proav_core.__all__) == {*proav_core._MODULE_OF, "__version__", "list_components"}


def test_help_lists_every_command_with_its_summary(capsys):
    from click import Context

    from proav_core.cli import cli

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        command = cli.get_command(Context(cli), name)
        assert command.name == name
        assert f"  {name} " in out and command.get_short_help_str(limit=40)[:30] in out


def test_a_command_module_under_the_wrong_name_is_refused():
    import click

    group = LazyGroup("probe", lazy_commands={"encoder": "proav_core.cli.encode_cmd"})
    with pytest.raises(RuntimeError, match="named 'encode', not 'encoder'"):
        group.get_command(click.Context(group), "encoder")
