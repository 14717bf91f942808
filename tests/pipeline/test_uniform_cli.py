"""The `uniform` generator (UniForm) from the CLI on the tiny run's autoencoder and latents:
multi-task training ({joint, a2v, v2a}), then `proav sample` for joint, a2v and v2a."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.data import read_clip
from proav_core.sampling import SamplingPipeline

from .conftest import cli, run_folder, tiny_config
from .test_tasks_cli import media  # noqa: F401  (the module fixture of wav and mp4 inputs)

UNIFORM = """
[model.stacker]
name = "tokens"

[model.generator]
name = "uniform"
preset = "tiny"
depth = 1
hidden = 32
"""


@pytest.fixture(scope="module")
def uniform_run(trained, tmp_path_factory) -> Path:
    """A uniform generator trained for 3 steps with tasks {joint 0.5, a2v 0.25, v2a 0.25}."""
    folder = tmp_path_factory.mktemp("uniform")
    config = tiny_config(folder, gen_steps=3)
    config.write_text(config.read_text() + UNIFORM)
    run = run_folder(config)
    run.mkdir(parents=True)
    for part in ("autoencoder", "latents"):
        shutil.copytree(run_folder(trained) / part, run / part)
    assert cli("train", "generator", config, "--accelerator", "cpu",
               "--set", "train.generator.tasks={joint = 0.5, a2v = 0.25, v2a = 0.25}") == 0
    return config


def ckpt(config: Path) -> Path:
    return run_folder(config) / "generator" / "last.ckpt"


def test_the_checkpoint_is_a_trained_multitask_uniform(uniform_run):
    raw = torch.load(ckpt(uniform_run), map_location="cpu", weights_only=False)
    assert raw["step"] == 3 and raw["tasks"] == {"joint": 0.5, "a2v": 0.25, "v2a": 0.25}
    assert any(k.startswith("shadow.generator.layout") for k in raw["ema"]) is False  # masks rebuilt, not saved
    cfg = proav_core.load_config(uniform_run)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(uniform_run))
    assert type(pipe.flow.generator).__name__ == "UniForm" and pipe.trained_tasks == ["joint", "a2v", "v2a"]
    # 3 steps moved the zero-initialised final layer: the model no longer outputs 0
    assert any(p.abs().sum() > 0 for p in pipe.flow.generator.final.linear.parameters())


def test_joint_sampling_writes_mp4s_with_video_and_audio(uniform_run, tmp_path):
    out = tmp_path / "joint"
    assert cli("sample", uniform_run, "--ckpt", ckpt(uniform_run), "--steps", "2", "--num", "1", "--out", out) == 0
    mp4s = sorted(out.glob("*.mp4"))  # one per class
    assert [p.name for p in mp4s] == ["sample_000_circle_drum_0.mp4", "sample_001_square_wood_1.mp4"]
    assert len(list(out.glob("*.wav"))) == 2
    video, waveform = read_clip(mp4s[0], proav_core.load_config(uniform_run).clip)
    assert video.shape == (3, 4, 16, 16) and waveform.abs().max() > 0


def test_a2v_and_v2a_sample_as_trained_and_keep_the_given_side(uniform_run, media, tmp_path, capsys):  # noqa: F811
    cfg = proav_core.load_config(uniform_run)
    base = ["sample", uniform_run, "--ckpt", ckpt(uniform_run), "--steps", "2"]
    assert cli(*base, "--task", "a2v", "--audio", media["song"], "--out", tmp_path / "a2v") == 0
    assert "a2v runs as trained" in capsys.readouterr().out
    assert len(list((tmp_path / "a2v").glob("*.mp4"))) == 2  # 2.5 s of audio: two clips
    assert cli(*base, "--task", "v2a", "--video", media["silent"], "--out", tmp_path / "v2a") == 0
    assert "v2a runs as trained" in capsys.readouterr().out
    from proav_core.data.condition_inputs import read_video_clips

    given = read_video_clips(media["silent"], cfg.clip)
    for k, path in enumerate(sorted((tmp_path / "v2a").glob("*.mp4"))):
        video, waveform = read_clip(path, cfg.clip)
        assert (video - given[k]).abs().mean() < 0.05 and waveform.abs().max() > 0
