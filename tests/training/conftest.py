"""Fixtures for the Fabric machinery tests: the toy generator plugin, a latent cache, a config."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.training.latent_cache import LatentManifest, write_shard

from .toy_generation import PLANES, proav_register_components


@pytest.fixture
def toy_generator_plugin(fresh_plugins):
    proav_core.register_plugin(types.SimpleNamespace(proav_register_components=proav_register_components), "toy-gen")


def write_latents(directory: Path, num: int = 12, seed: int = 0, poison: bool = False,
                  normalization: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    planes = {k: torch.rand(num, *s, generator=g) * 2 - 1 for k, s in PLANES.items()}
    if poison:
        planes["video_hw"][:] = float("inf")
    labels = torch.arange(num) % 2
    shards = [write_shard(directory, 0, {k: v[: num // 2] for k, v in planes.items()}, labels[: num // 2]),
              write_shard(directory, 1, {k: v[num // 2 :] for k, v in planes.items()}, labels[num // 2 :])]
    LatentManifest(PLANES, 1.0, ["tick", "tock"], shards, num, normalization=normalization).save(directory)
    return directory


def toy_config(tmp_path: Path, steps: int = 6, extra: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "gen.toml"
    path.write_text(f"""
name = "toy"
output_dir = "{tmp_path / 'runs'}"
seed = 3
[model]
stacker = "flat_test"
conditioner = "embed_test"
generator = "mlp_test"
[objective]
name = "gauss_flow_test"
[sampler]
name = "euler_test"
[train.generator]
steps = {steps}
batch_size = 4
log_every = 1
checkpoint_every = 100
ema_decay = 0.9
optim = {{ lr = 1e-2, warmup_steps = 2 }}
{extra}
""")
    return path
