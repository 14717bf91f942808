"""A tiny end-to-end pipeline on the real built-ins: syncshapes 16 x 16 x 4 frames, a width-16
MDSA, the tiny STDiT. Trained for a few steps only: these tests check files, formats,
resumption and errors, never sample quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from proav_core.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def tiny_config(folder: Path, ae_steps: int = 2, gen_steps: int = 2, disc_start: int = 1) -> Path:
    """A config file in `folder` whose runs go to folder/runs/tiny."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.toml"
    path.write_text(f"""
extends = "{CONFIGS / 'generator_tiny.toml'}"
name = "tiny"
output_dir = "{folder / 'runs'}"
seed = 0

[clip]
frames = 4
fps = 4.0
height = 16
width = 16
sample_rate = 8000

[dataset]
name = "syncshapes"
train_size = 6
test_size = 4
num_classes = 2
min_events = 1
max_events = 1
min_gap = 3

[model.autoencoder]
width = 16

[model.autoencoder.encoder]
dim = 16
mlp_dim = 32

[model.autoencoder.projector]
width = 16
mlp_dim = 32

[model.autoencoder.decoder]
mlp_dim = 32

[model.autoencoder.attention.decoder]
block = [2, 2, 2]

[model.autoencoder.loss]
disc_start = {disc_start}

[train.autoencoder]
steps = {ae_steps}
batch_size = 2
log_every = 1
checkpoint_every = 100
ema_decay = 0.9

[train.autoencoder.optim]
lr = 1e-3
warmup_steps = 1

[train.generator]
steps = {gen_steps}
batch_size = 4
log_every = 1
checkpoint_every = 100
ema_decay = 0.9

[train.generator.optim]
lr = 1e-3
warmup_steps = 1

[sampler]
steps = 2
""")
    return path


def run_folder(config: Path) -> Path:
    """Where a config written by tiny_config runs."""
    return config.parent / "runs" / "tiny"


def cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="package")
def trained(tmp_path_factory) -> Path:
    """Config path of a run with a trained autoencoder, its latents and a trained generator."""
    folder = tmp_path_factory.mktemp("pipeline")
    config = tiny_config(folder)
    for args in (("train", "autoencoder", config, "--accelerator", "cpu"),
                 ("encode", config, "--accelerator", "cpu"),
                 ("train", "generator", config, "--accelerator", "cpu")):
        assert cli(*args) == 0, args
    return config
