"""Autoguidance on the tiny trained run: [train.generator] guide_fraction keeps guide.ckpt, and
`proav sample --guide-ckpt` / SamplingPipeline.load_guide steer the samples away from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.sampling import SamplingPipeline

from .conftest import cli
from .test_encode_and_sample import run_folder


@pytest.fixture(scope="module")
def guided(trained) -> Path:
    """The generator folder of an 8-step run of the tiny config that keeps its step-2 state as guide.ckpt."""
    assert cli("train", "generator", trained, "--set", "name=guided", "--set", "train.generator.steps=8",
               "--set", "train.generator.guide_fraction=0.25", "--set", "train.generator.optim.lr=1e-2",
               "--latents", run_folder(trained) / "latents", "--accelerator", "cpu") == 0
    return trained.parent / "runs" / "guided" / "generator"


def pipeline(config: Path, folder: Path) -> SamplingPipeline:
    cfg = proav_core.load_config(config, overrides=["name=guided"])
    return SamplingPipeline.from_checkpoint(cfg, folder / "last.ckpt")


def test_samples_move_with_the_guide_and_not_with_a_copy_of_the_model(trained, guided):
    pipe = pipeline(trained, guided)
    prompts = [f"a video of {c}" for c in pipe.classes]
    plain = pipe.sample(prompts, seed=0)
    assert pipe.load_guide(guided / "last.ckpt") == 8
    itself = pipe.sample(prompts, seed=0, guide_scale=3.0)  # v_g + 3 (v - v_g) = v when the guide is the model
    assert pipe.load_guide(guided / "guide.ckpt") == 2
    steered = pipe.sample(prompts, seed=0, guide_scale=3.0)
    assert steered.video.shape == plain.video.shape and torch.isfinite(steered.video).all()
    same, moved = (itself.video - plain.video).abs().max(), (steered.video - plain.video).abs().max()
    assert same < 1e-4 and moved > 1e-2
    assert torch.equal(pipe.sample(prompts, seed=0).video, plain.video)  # scale 1: the guide is not used


def test_guidance_misuse_is_refused(trained, guided):
    pipe = pipeline(trained, guided)
    with pytest.raises(proav_core.UsageError, match="--guide-scale needs the weaker model"):
        pipe.sample(["a video of circle"], guide_scale=2.0)
    pipe.load_guide(guided / "guide.ckpt")
    with pytest.raises(proav_core.UsageError, match="leave --cfg at 1"):
        pipe.sample(["a video of circle"], cfg_scale=2.0, guide_scale=2.0)


def test_sample_cli_with_a_guide(trained, guided, tmp_path, capsys):
    out = tmp_path / "guided"
    args = ["sample", trained, "--set", "name=guided", "--ckpt", guided / "last.ckpt", "--num", "1", "--out", out]
    assert cli(*args, "--guide-ckpt", guided / "guide.ckpt") == 0
    said = capsys.readouterr().out
    assert "autoguidance, scale 2" in said and "(step 2)" in said
    assert len(list(out.glob("*.mp4"))) == 2  # one per class


@pytest.mark.parametrize("extra, message", [
    (("--guide-scale", "2"), "--guide-scale needs --guide-ckpt"),
    (("--guide-ckpt", "GUIDE", "--cfg", "2"), "leave --cfg at 1"),
    (("--guide-ckpt", "AE"), "--guide-ckpt needs a generator checkpoint"),
    (("--guide-ckpt", "OTHER"), "trained on other latents than --ckpt (classes differs)"),
])
def test_bad_guidance_options_are_refused_and_write_nothing(trained, guided, tmp_path, capsys, extra, message):
    raw = torch.load(guided / "guide.ckpt", map_location="cpu", weights_only=False)
    raw["latents"]["classes"] = ["other", "classes"]
    torch.save(raw, tmp_path / "other.ckpt")
    files = {"GUIDE": guided / "guide.ckpt", "AE": run_folder(trained) / "autoencoder" / "last.ckpt",
             "OTHER": tmp_path / "other.ckpt"}
    out = tmp_path / "out"
    args = ["sample", trained, "--set", "name=guided", "--ckpt", guided / "last.ckpt", "--out", out,
            *[files.get(a, a) for a in extra]]
    assert cli(*args) != 0
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_guided_samples_do_not_depend_on_the_sampling_batch(trained, guided):
    """Fixed-shape runs (--batch) slice the guide's condition with the rest: same samples."""
    pipe = pipeline(trained, guided)
    pipe.load_guide(guided / "guide.ckpt")
    prompts = [f"a video of {c}" for c in pipe.classes] * 2  # 4 prompts
    whole = pipe.sample(prompts, seed=1, guide_scale=2.0)
    pipe.batch_size = 3  # a batch of 3, then 1 padded to 3
    parts = pipe.sample(prompts, seed=1, guide_scale=2.0)
    torch.testing.assert_close(parts.video, whole.video, rtol=1e-4, atol=1e-5)
