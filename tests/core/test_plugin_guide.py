"""docs/plugins.md works as written: every code block is checked here. Blocks that quote the
example package must equal its files (so the example follows the guide), the others are run."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import tomllib
import types

import pytest
import torch

import proav_core
from proav_core import hookspecs
from proav_core.registry import Registrar
from proav_core.testing import check_component

from .plugin_site import EXAMPLE, ROOT, isolated_env

GUIDE = ROOT / "docs" / "plugins.md"


def guide_blocks() -> dict[str, tuple[str, str]]:
    """{first line of the block: (language, text)}; the text includes the first line."""
    blocks = {}
    for lang, text in re.findall(r"```(\w*)\n(.*?)```", GUIDE.read_text(), flags=re.S):
        first = text.splitlines()[0]
        assert first not in blocks, f"two blocks start with {first!r}"
        blocks[first] = (lang, text)
    return blocks


def body(first_line: str) -> str:
    """A block's text without its first line (the file name comment of a quoted file)."""
    return guide_blocks()[first_line][1].split("\n", 1)[1]


QUOTED_FILES = {
    "# proav_example/__init__.py": "proav_example/__init__.py",
    "# proav_example/midpoint.py": "proav_example/midpoint.py",
    "# tests/test_contract.py": "tests/test_contract.py",
}
SIGNATURES = "# signatures: the hookspec (proav_core.hookspecs) and Registrar.add (proav_core.registry)"
RUN = {
    "proav-plugin-example/": "the package tree",
    "[project.entry-points.proav]": "the entry point",
    SIGNATURES: "signatures",
    "# an attention block with separate weights per stream": "attention block",
    "# one component, other parameters": "check_component",
    "pip install ./examples/proav-plugin-example": "install, list, test",
}


def test_every_block_is_checked():
    assert set(guide_blocks()) == set(QUOTED_FILES) | set(RUN)


@pytest.mark.parametrize("first_line", QUOTED_FILES)
def test_quoted_example_files_are_verbatim(first_line):
    assert body(first_line) == (EXAMPLE / QUOTED_FILES[first_line]).read_text()


def test_package_tree_lists_the_example_files():
    paths, folder = set(), ""
    for line in guide_blocks()["proav-plugin-example/"][1].splitlines()[1:]:
        name = line.split()[0]
        nested = line.startswith("    ")
        if name.endswith("/"):
            folder = name
        else:
            paths.add(folder + name if nested else name)
    built = {"build", "__pycache__"}  # what pip install leaves in the source tree (git-ignored)
    actual = {str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*")
              if p.suffix in {".py", ".toml"} and not built & set(p.relative_to(EXAMPLE).parts)}
    assert paths == actual


def test_entry_point_block_is_the_examples():
    block = tomllib.loads(guide_blocks()["[project.entry-points.proav]"][1])
    example = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert block["project"]["entry-points"]["proav"] == example["project"]["entry-points"]["proav"]


def test_signatures_block_matches_the_code():
    lines = guide_blocks()[SIGNATURES][1]
    documented = dict(re.findall(r"^def (\w+)(\(.*\) -> .*): \.\.\.$", lines, flags=re.M))
    for name, func in (("proav_register_components", hookspecs.proav_register_components), ("add", Registrar.add)):
        assert documented[name] == str(inspect.signature(func)).replace("'", ""), name


def run_block(first_line: str) -> types.ModuleType:
    module = types.ModuleType(re.sub(r"\W+", "_", first_line).strip("_"))
    exec(compile(guide_blocks()[first_line][1], str(GUIDE), "exec"), module.__dict__)
    return module


def test_attention_block_registers_passes_the_contract_and_gates(fresh_plugins):
    proav_core.register_plugin(run_block("# an attention block with separate weights per stream"), name="gate")
    check_component("attention", "channel_gate")
    block = proav_core.build("attention", "channel_gate", init=2.0, dim=4, streams=("video", "audio"))
    video, audio = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    out_video, out_audio = block(video, audio)
    assert torch.allclose(out_video, 2 * video) and torch.allclose(out_audio, 2 * audio)
    assert block(video, None)[1] is None


def test_check_component_block_runs_on_the_example_sampler(fresh_plugins, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    try:
        import proav_example

        proav_core.register_plugin(proav_example, name="example")
        run_block("# one component, other parameters").test_midpoint_with_a_wall_close_by()
    finally:  # the installed copy is what the packaging tests import
        for name in [m for m in sys.modules if m.split(".")[0] == "proav_example"]:
            del sys.modules[name]


def test_install_list_and_test_commands(example_site):
    """The guide's shell block, as this test runs it: pip installs into a folder (the
    example_site fixture) instead of the environment, and the commands run with that folder
    on the path."""
    commands = guide_blocks()["pip install ./examples/proav-plugin-example"][1].strip().splitlines()
    assert commands == ["pip install ./examples/proav-plugin-example", "proav registry list --kind sampler",
                        "pytest examples/proav-plugin-example"]
    env = isolated_env(example_site)
    listed = subprocess.run([sys.executable, "-m", "proav_core", *commands[1].split()[1:]], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    assert "example_midpoint" in listed.stdout and "example (proav-plugin-example 0.1.0)" in listed.stdout
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", commands[2].split()[1]],
                            env=env, capture_output=True, text=True, cwd=ROOT)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "4 passed" in tested.stdout  # 2 contract cases (metric, sampler) + 2 known-answer tests
