"""The README's plugin example works as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

import torch

import proav_core
from proav_core.testing import check_component

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_plugin_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (source,) = [b for b in blocks if "proav_register_components" in b]
    return source


def test_readme_plugin_registers_and_builds(fresh_plugins):
    module = types.ModuleType("my_proav_plugin")
    exec(compile(readme_plugin_source(), "README.md", "exec"), module.__dict__)
    proav_core.register_plugin(module)
    block = proav_core.build("attention", "gated_sum", init=0.5, dim=4)
    video, audio = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    v, a = block(video, audio)
    assert torch.allclose(v, video + 0.5 * audio.mean())
    assert block(video, None) == (video, None)
    check_component("attention", "gated_sum")  # the contract every attention block meets
    assert len(readme_plugin_source().strip().splitlines()) <= 30
