"""Shared contracts of the generation kinds (proav_core.testing), over every registered stacker,
conditioner, generator, objective and sampler; and the wiring from a config to a trained,
sampled model."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.testing import check_component
from proav_core.training.generator_loop import FlowModel

from .helpers import TINY, random_planes


GENERATION_KINDS = ("stacker", "conditioner", "generator", "prior", "objective", "sampler")
SPECS = [s for s in proav_core.list_components() if s.kind in GENERATION_KINDS]


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.kind}:{s.name}" for s in SPECS])
def test_generation_contract(spec):
    """proav_core.testing's contract of the kind (the one third-party plugins run, too)."""
    check_component(spec.kind, spec.name)


CONFIG = {
    "name": "gen-wiring",
    "model": {"stacker": "stack6", "conditioner": {"name": "class_label", "dim": 16},
              "generator": {"name": "stdit", "preset": "tiny", "depth": 1, "hidden": 32}},
    "objective": {"name": "reflected_flow", "cond_dropout": 0.2},
    "sampler": {"name": "reflected_flow", "steps": 4, "method": "heun"},
}


def test_config_wiring_training_and_sampling():
    cfg = proav_core.config_from_dict(CONFIG)
    parts = proav_core.build_generation(cfg, TINY, 2.0, ["dog", "drum"])
    assert parts.generator.latent_shape == parts.stacker.latent_shape == (4, 6, 8, 4)
    assert parts.generator.cond_dim == 16 and parts.objective.bound == parts.sampler.bound == 2.0
    flow = FlowModel(parts.generator, parts.conditioner, parts.objective, parts.stacker.loss_mask())
    opt = torch.optim.AdamW(flow.parameters(), lr=3e-3)
    x1 = parts.stacker.stack(random_planes(TINY, batch=4))
    labels = torch.tensor([0, 1, 0, 1])

    def held_out_loss():  # the same noise, times and dropout draws each time
        with torch.no_grad():
            big, lab = x1.repeat(8, 1, 1, 1, 1), labels.repeat(8)
            return float(parts.objective.loss(parts.generator, big, parts.conditioner.from_labels(lab),
                                              parts.conditioner.null(32), mask=flow.loss_mask,
                                              generator=torch.Generator().manual_seed(5)))

    before = held_out_loss()
    for _ in range(30):
        loss = flow(x1, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert held_out_loss() < 0.8 * before  # it learns
    g = torch.Generator().manual_seed(0)
    x0 = parts.objective.sample_noise((2, *parts.stacker.latent_shape), generator=g)
    cond = parts.conditioner.from_prompts(["a video of dog", "drum"])
    with torch.no_grad():
        out = parts.sampler(parts.generator, x0, cond=cond, null_cond=parts.conditioner.null(2), cfg_scale=3.0)
    assert out.abs().max() <= 2.0
    planes = parts.stacker.unstack(out)
    assert {k: tuple(v.shape[1:]) for k, v in planes.items()} == TINY
