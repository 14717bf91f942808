"""av_dit's two-step recipe from the CLI on the tiny run's latents: `proav train generator` with
train = backbone, then train = adapters from that checkpoint (the backbone frozen, only the
inserted parts and the conditioner optimised), then `proav sample` from the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from proav_plugins.peers.av_dit.model import INSERTED

from .conftest import cli
from .conftest import run_folder as tiny_run_folder


def run_folder(config: Path) -> Path:
    """Where a config written by av_dit_config runs (its file name is its run name)."""
    return config.parent / "runs" / config.stem


def av_dit_config(trained: Path, folder: Path, name: str, parts: tuple[str, ...] = ("autoencoder", "latents")) -> Path:
    """A config on the tiny run's autoencoder and latents (the `parts` copied) with a small av_dit."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(f"""
extends = "{trained}"
name = "{name}"
output_dir = "{folder / 'runs'}"

[model.stacker]
name = "tokens"

[model.generator]
name = "av_dit"
preset = "tiny"
depth = 2
hidden = 32
heads = 2
adapter = "lora"
adapter_ratio = 0.25
""")
    run = run_folder(path)
    for part in parts:
        shutil.copytree(tiny_run_folder(trained) / part, run / part)
    return path


def generator_weights(ckpt: Path, key: str = "model", part: str = "generator") -> dict[str, torch.Tensor]:
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    prefix = f"shadow.{part}." if key == "ema" else f"{part}."
    return {k.removeprefix(prefix): v for k, v in raw[key].items() if k.startswith(prefix)}


def is_inserted(name: str) -> bool:
    return name.split(".")[0] in INSERTED


@pytest.fixture(scope="module")
def two_steps(trained, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("av_dit")
    backbone = av_dit_config(trained, folder, "avdit_backbone")
    assert cli("train", "generator", backbone, "--accelerator", "cpu", "--set", "model.generator.train=backbone") == 0
    backbone_ckpt = run_folder(backbone) / "generator" / "last.ckpt"
    adapters = av_dit_config(trained, folder, "avdit_adapters", parts=())  # reads the backbone run's latents
    assert cli("train", "generator", adapters, "--accelerator", "cpu", "--set", "model.generator.train=adapters",
               "--latents", run_folder(backbone) / "latents",
               "--set", f"model.generator.backbone_checkpoint={backbone_ckpt}") == 0
    return {"backbone": backbone_ckpt, "adapters": run_folder(adapters) / "generator" / "last.ckpt",
            "adapters_config": adapters}


def test_the_adapter_step_changes_only_the_inserted_parts(two_steps):
    loaded = generator_weights(two_steps["backbone"], "ema")  # the backbone av_dit loads (EMA weights)
    after = generator_weights(two_steps["adapters"])
    backbone_step = generator_weights(two_steps["backbone"])
    backbone_keys = [k for k in after if not is_inserted(k)]
    assert backbone_keys and all(torch.equal(after[k], loaded[k]) for k in backbone_keys)  # frozen
    # the conditioner the backbone was trained with comes along, frozen with it
    conditioner = generator_weights(two_steps["adapters"], part="conditioner")
    assert conditioner and all(torch.equal(v, generator_weights(two_steps["backbone"], "ema", "conditioner")[k])
                               for k, v in conditioner.items())
    # the inserted parts moved away from their identity start (LoRA B factors, the fusion gate)
    zero_start = [k for k in after if is_inserted(k) and (k.endswith(".b") or k.endswith("gate"))]
    assert zero_start and all(after[k].abs().sum() > 0 for k in zero_start)
    # ... while the backbone step left them at that start
    assert all(not backbone_step[k].any() for k in zero_start)


def test_the_optimiser_holds_only_trainable_parameters(two_steps):
    raw = torch.load(two_steps["adapters"], map_location="cpu", weights_only=True)
    held = sum(len(group["params"]) for group in raw["optimizer"]["param_groups"])
    inserted = [k for k in generator_weights(two_steps["adapters"]) if is_inserted(k)]
    assert held == len(inserted)  # neither the backbone nor its conditioner


def test_training_prints_trainable_and_total_parameters(trained, tmp_path, capsys):
    config = av_dit_config(trained, tmp_path, "avdit_count")
    assert cli("train", "generator", config, "--accelerator", "cpu", "--set", "train.generator.steps=1",
               "--set", "model.generator.train=backbone") == 0
    out = capsys.readouterr().out
    weights = generator_weights(run_folder(config) / "generator" / "last.ckpt")
    total = sum(v.numel() for v in weights.values())
    backbone = sum(v.numel() for k, v in weights.items() if not is_inserted(k))
    assert f"generator parameters: {backbone:,} trainable of {total:,}" in out


def test_sampling_from_the_adapter_step_with_its_resolved_config(two_steps, tmp_path):
    out = tmp_path / "samples"
    resolved = two_steps["adapters"].parent / "config.toml"  # train = adapters, backbone_checkpoint = ...
    assert 'train = "adapters"' in resolved.read_text()
    assert cli("sample", resolved, "--ckpt", two_steps["adapters"], "--num", "1", "--steps", "2", "--out", out) == 0
    assert len(list(out.glob("*.mp4"))) == len(list(out.glob("*.wav"))) == 2  # one per class
    # every weight comes from the checkpoint sampled: step 1's file is not needed (moved, deleted)
    moved = tmp_path / "elsewhere"
    assert cli("sample", resolved, "--ckpt", two_steps["adapters"], "--num", "1", "--steps", "2", "--out", moved,
               "--set", f"model.generator.backbone_checkpoint={tmp_path / 'gone.ckpt'}") == 0
    wavs = sorted(out.glob("*.wav"))
    assert all(w.read_bytes() == (moved / w.name).read_bytes() for w in wavs)


def test_a_missing_backbone_checkpoint_is_named_and_nothing_is_written(trained, tmp_path, capsys):
    config = av_dit_config(trained, tmp_path, "avdit_missing")
    missing = tmp_path / "no_such.ckpt"
    code = cli("train", "generator", config, "--accelerator", "cpu", "--set", "model.generator.train=adapters",
               "--set", f"model.generator.backbone_checkpoint={missing}")
    err = capsys.readouterr().err
    assert code != 0 and f"model.generator.backbone_checkpoint: {missing} does not exist" in err
    assert "Traceback" not in err and not (run_folder(config) / "generator").exists()


def test_a_missing_latent_cache_given_by_latents_is_named(trained, tmp_path, capsys):
    config = av_dit_config(trained, tmp_path, "avdit_nolatents", parts=())
    assert cli("train", "generator", config, "--accelerator", "cpu", "--latents", tmp_path / "nowhere") != 0
    err = capsys.readouterr().err
    assert f"no latent cache at {tmp_path / 'nowhere'}" in err and "Traceback" not in err
    assert not (run_folder(config) / "generator" / "last.ckpt").exists()
