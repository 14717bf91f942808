"""The javisdit peer from the CLI on the tiny run's autoencoder and latents: `proav train
generator`, `proav sample` from its checkpoint and `proav bench`; with the HiST-Sypo prior,
`proav train prior` first (a few steps each; files, figures and errors, never quality)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch

from proav_core.training.checkpoint import checkpoint_kind, peek_checkpoint

from .conftest import cli, tiny_config


def javisdit_config(trained: Path, folder: Path, generator: str = "", extra: str = "") -> Path:
    """The tiny pipeline config with the tokens stacker and javisdit, on a copy of the tiny
    run's autoencoder and latents."""
    base = tiny_config(folder)
    run = folder / "runs" / "tiny"
    run.mkdir(parents=True)
    for part in ("autoencoder", "latents"):
        shutil.copytree(trained.parent / "runs" / "tiny" / part, run / part)
    path = folder / "javisdit.toml"
    path.write_text(f"""
extends = "{base}"

[model.stacker]
name = "tokens"

[model.generator]
name = "javisdit"
depth = 1
hidden = 32
{generator}
{extra}
""")
    return path


@pytest.fixture(scope="module")
def javis_run(trained, tmp_path_factory) -> Path:
    config = javisdit_config(trained, tmp_path_factory.mktemp("javisdit"))
    assert cli("train", "generator", config, "--accelerator", "cpu") == 0
    return config


def test_trains_and_samples_from_its_checkpoint(javis_run, tmp_path):
    ckpt = javis_run.parent / "runs" / "tiny" / "generator" / "last.ckpt"
    raw = peek_checkpoint(ckpt)
    assert raw["step"] == 2 and raw["components"]["model.generator"] == "javisdit"
    assert any(k.startswith("generator.layers.0.bicross.") for k in raw["model"])
    out = tmp_path / "out"
    assert cli("sample", javis_run, "--ckpt", ckpt, "--prompt", "circle-drum-0", "--num", "1", "--steps", "2",
               "--seed", "3", "--out", out) == 0
    stem = "sample_000_circle_drum_0"
    assert {p.name for p in out.iterdir()} == {f"{stem}{s}" for s in (".mp4", ".wav", "_frames.png", "_mel.png")} | {
        "config.toml"}
    assert tomllib.loads((out / "config.toml").read_text())["model"]["generator"]["name"] == "javisdit"


def test_bench_reports_parameters_tokens_and_flops(javis_run, tmp_path):
    out = tmp_path / "bench.json"
    assert cli("bench", javis_run, "--accelerator", "cpu", "--threads", "1", "--warmup", "0", "--repeats", "1",
               "--steps", "1", "--skip", "autoencoder", "--out", out) == 0
    report = json.loads(out.read_text())
    assert report["parameters"]["generator"] > 0
    assert report["generator_tokens"]["tokens_per_sample"] > 0
    check = report["checks"]["generator_forward_flops"]
    assert check["measured"] == pytest.approx(check["analytic"], rel=0.02)


def test_prior_stage_then_generator_with_the_frozen_prior(trained, tmp_path, capsys):
    folder = tmp_path / "with_prior"
    run = folder / "runs" / "tiny"
    config = javisdit_config(trained, folder, generator=f"""prior = "hist_sypo"
prior_checkpoint = "{run / 'prior' / 'last.ckpt'}"
""", extra="""
[model.prior]
name = "hist_sypo"
width = 16
depth = 1
num_spatial = 2
num_temporal = 2
prior_dim = 8

[train.prior]
steps = 2
batch_size = 4
""")
    # the generator stage before the prior stage: one line naming the key and the file, nothing written
    assert cli("train", "generator", config, "--accelerator", "cpu") != 0
    err = capsys.readouterr().err
    assert f"model.generator.prior_checkpoint: prior checkpoint {run / 'prior' / 'last.ckpt'} not found" in err
    assert "Traceback" not in err and not (run / "generator").exists()

    assert cli("train", "prior", config, "--accelerator", "cpu") == 0
    raw = peek_checkpoint(run / "prior" / "last.ckpt")
    assert checkpoint_kind(raw) == "prior" and raw["step"] == 2 and raw["prior_stage"]["name"] == "hist_sypo"
    assert {k.split(".")[0] for k in raw["model"]} == {"prior", "conditioner"}
    assert cli("train", "prior", config, "--accelerator", "cpu") != 0  # never overwritten silently
    assert "pass --resume" in capsys.readouterr().err
    assert cli("train", "prior", config, "--accelerator", "cpu", "--resume", "--set", "train.prior.steps=3") == 0
    raw = peek_checkpoint(run / "prior" / "last.ckpt")
    assert raw["step"] == 3

    assert cli("train", "generator", config, "--accelerator", "cpu") == 0
    weights = peek_checkpoint(run / "generator" / "last.ckpt")["model"]
    assert torch.equal(weights["generator.prior.queries"], raw["model"]["prior.queries"])  # frozen
    out = tmp_path / "out"
    assert cli("sample", config, "--ckpt", run / "generator" / "last.ckpt", "--prompt", "square-wood-1", "--num", "1",
               "--steps", "2", "--out", out) == 0
    assert (out / "sample_000_square_wood_1.mp4").stat().st_size > 0
    # the generator checkpoint keeps the prior's stage record: sampling needs no prior file
    context = peek_checkpoint(run / "generator" / "last.ckpt")["generator_context"]
    assert context["prior_stage"] == raw["prior_stage"]
    moved = tmp_path / "moved"
    assert cli("sample", config, "--ckpt", run / "generator" / "last.ckpt", "--prompt", "square-wood-1", "--num", "1",
               "--steps", "2", "--out", moved, "--set", f"model.generator.prior_checkpoint={tmp_path / 'gone.ckpt'}") == 0
    wav = "sample_000_square_wood_1.wav"
    assert (moved / wav).read_bytes() == (out / wav).read_bytes()


def test_multi_task_training_with_the_task_embedding(trained, tmp_path):
    config = javisdit_config(trained, tmp_path / "tasks")
    assert cli("train", "generator", config, "--accelerator", "cpu",
               "--set", "train.generator.tasks={joint = 2, a2v = 1, v2a = 1}") == 0
    raw = peek_checkpoint(tmp_path / "tasks" / "runs" / "tiny" / "generator" / "last.ckpt")
    assert raw["tasks"] == {"joint": 0.5, "a2v": 0.25, "v2a": 0.25} and raw["step"] == 2
