"""The javisdit peer from the CLI on the tiny run's autoencoder and latents: `proav train
generator`, `proav sample` from its checkpoint and `proav bench` (a few steps; files and
figures, never quality)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from proav_core.training.checkpoint import peek_checkpoint

from .conftest import cli, tiny_config


def javisdit_config(trained: Path, folder: Path, generator: str = "") -> Path:
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
