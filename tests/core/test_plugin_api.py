"""What a plugin author needs is public in proav_core (issue 14): the built-in plugins are made
of the same helpers (and their old import paths still work), a third-party sampler built from
proav_core alone matches the built-in one, and the example plugin imports no proav_plugins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core import attention_streams, flow_matching, layers
from proav_plugins.generation import dit_layers, flow_objectives, samplers
from proav_plugins.mdsa import streams

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "proav-plugin-example"

MOVED = [
    (samplers, flow_matching, ["cfg_velocity", "reflect", "reflect_with_sign", "time_grid", "sample_euler",
                               "sample_heun", "resolve_bound", "DEFAULT_BOUND", "Velocity"]),
    (flow_objectives, flow_matching, ["resolve_bound", "truncated_normal", "DEFAULT_BOUND"]),
    (dit_layers, layers, ["TimestepEmbedder", "modulate", "Mlp"]),
    (streams, attention_streams, ["MODALITIES", "check_streams", "check_dim", "to_tokens", "from_tokens",
                                  "PerStreamBlock"]),
]


@pytest.mark.parametrize(("old", "new", "names"), MOVED, ids=[m[0].__name__ for m in MOVED])
def test_built_in_helpers_are_proav_cores_and_old_imports_still_work(old, new, names):
    for name in names:
        assert getattr(old, name) is getattr(new, name), f"{old.__name__}.{name}"


def test_proav_plugins_layers_reexports_proav_core_layers():
    import proav_plugins.layers

    for name in ("Attention", "Mlp", "TransformerBlock", "TimestepEmbedder", "modulate", "sincos_1d", "sincos_2d"):
        assert getattr(proav_plugins.layers, name) is getattr(layers, name)


class PublicEulerSampler:
    """A third-party reflected Euler sampler written against proav_core.flow_matching only."""

    def __init__(self, steps: int = 30, latent_bound: float | None = None):
        self.steps, self.bound = steps, flow_matching.resolve_bound(None, latent_bound)

    def __call__(self, velocity, x0, *, cond, null_cond=None, cfg_scale=1.0, callback=None):
        v = flow_matching.cfg_velocity(velocity, cond, null_cond, cfg_scale)
        x = flow_matching.reflect(x0, self.bound)
        return flow_matching.sample_euler(v, x, flow_matching.time_grid(self.steps), bound=self.bound,
                                          callback=callback)


def test_a_sampler_from_public_helpers_matches_the_built_in_one(fresh_plugins):
    proav_core.register_component("sampler", "public_euler", PublicEulerSampler)
    net = torch.nn.Linear(4, 4)

    def velocity(x, t, c):
        return torch.tanh(net(x)) * 3 + c[:, 0, :1] * t[:, None]  # strong enough to hit the walls

    x0 = torch.rand(5, 4) * 2 - 1
    kwargs = dict(cond=torch.ones(5, 1, 2), null_cond=torch.zeros(5, 1, 2), cfg_scale=2.5)
    with torch.no_grad():
        built_in = proav_core.build("sampler", "reflected_flow", steps=7, latent_bound=0.8)(velocity, x0, **kwargs)
        public = proav_core.build("sampler", "public_euler", steps=7, latent_bound=0.8)(velocity, x0, **kwargs)
    assert torch.equal(public, built_in) and public.abs().max() <= 0.8


def test_the_example_plugin_imports_only_proav_core():
    imported = set()
    for path in EXAMPLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert "proav_core" in imported and "proav_plugins" not in imported, sorted(imported)
