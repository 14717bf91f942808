"""Autoguidance on the tiny trained run: [train.generator] guide_fraction keeps guide.ckpt, and
`proav sample --guide-ckpt` / SamplingPipeline.load_guide steer the samples away from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.flow_matching import autoguided, cfg_velocity
from proav_core.sampling import SamplingPipeline
from proav_core.tasks import TASK_IDS

from .conftest import cli, run_folder


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
    # v_g + 3 (v - v_g) = v when the guide is the model under the same prompt
    itself = pipe.sample(prompts, seed=0, guide_scale=3.0, guide_condition="prompt")
    assert pipe.load_guide(guided / "guide.ckpt") == 2
    steered = pipe.sample(prompts, seed=0, guide_scale=3.0, guide_condition="prompt")
    assert steered.video.shape == plain.video.shape and torch.isfinite(steered.video).all()
    same, moved = (itself.video - plain.video).abs().max(), (steered.video - plain.video).abs().max()
    assert same < 1e-4 and moved > 1e-2
    assert torch.equal(pipe.sample(prompts, seed=0).video, plain.video)  # scale 1: the guide is not used


def test_the_guide_runs_under_the_null_condition_unless_asked_for_the_prompt(trained, guided):
    """guide_condition "null" (the default): v_g(x, null) + w (v(x, c) - v_g(x, null)), the guide
    under its own null condition (with the joint task's embedding); "prompt": under the prompt."""
    pipe = pipeline(trained, guided)
    pipe.load_guide(guided / "guide.ckpt")
    prompts = [f"a video of {c}" for c in pipe.classes]
    prompt_cond, null_cond = pipe._condition(pipe.guide, prompts, TASK_IDS["joint"])
    assert not torch.allclose(prompt_cond, null_cond)
    seen: list[torch.Tensor] = []
    hook = pipe.guide.generator.register_forward_hook(lambda module, args, out: seen.append(args[2].clone()))
    pipe.sample(prompts, seed=0, guide_scale=2.0)
    calls = len(seen)
    pipe.sample(prompts, seed=0, guide_scale=2.0, guide_condition="prompt")
    hook.remove()
    assert calls == len(seen) - calls == pipe.cfg.sampler.params.steps
    assert all(torch.equal(c, null_cond) for c in seen[:calls])
    assert all(torch.equal(c, prompt_cond) for c in seen[calls:])
    with pytest.raises(proav_core.UsageError, match="unknown condition 'nul'; closest: 'null'"):
        pipe.sample(prompts, guide_scale=2.0, guide_condition="nul")


def test_the_model_as_its_own_null_conditioned_guide_is_classifier_free_guidance():
    """autoguided(v, v, null, w)(x, t, c) = v_null + w (v_c - v_null) = cfg_velocity(v, c, null, w)(x, t)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 4)
    velocity = lambda x, t, c: net(torch.cat([x, c[:, 0]], dim=-1)) * t[:, None]  # noqa: E731
    x, t, cond, null = torch.randn(3, 4), torch.rand(3), torch.randn(3, 1, 2), torch.randn(3, 1, 2)
    guided = autoguided(velocity, velocity, null, 3.0)(x, t, cond)
    torch.testing.assert_close(guided, cfg_velocity(velocity, cond, null, 3.0)(x, t))
    assert (guided - velocity(x, t, cond)).abs().max() > 1e-2


def test_sample_cli_with_a_guide(trained, guided, tmp_path, capsys):
    out = tmp_path / "guided"
    args = ["sample", trained, "--set", "name=guided", "--ckpt", guided / "last.ckpt", "--num", "1", "--out", out]
    assert cli(*args, "--guide-ckpt", guided / "guide.ckpt") == 0
    said = capsys.readouterr().out
    assert "autoguidance, scale 2" in said and "(step 2) under the null condition" in said
    assert len(list(out.glob("*.mp4"))) == 2  # one per class
    assert cli(*args[:-1], tmp_path / "prompt", "--guide-ckpt", guided / "guide.ckpt", "--guide-condition",
               "prompt") == 0
    assert "under the prompt condition" in capsys.readouterr().out
    before = {p.name: p.read_bytes() for p in out.glob("*.wav")}
    after = {p.name: p.read_bytes() for p in (tmp_path / "prompt").glob("*.wav")}
    assert before.keys() == after.keys() and before != after


def test_the_cli_guide_conditions_are_the_pipelines():
    from proav_core.cli.sample_cmd import command
    from proav_core.sampling import GUIDE_CONDITIONS

    option = next(p for p in command.params if p.name == "guide_condition")
    assert tuple(option.type.choices) == GUIDE_CONDITIONS


@pytest.mark.parametrize("extra, message", [
    (("--guide-scale", "2"), "--guide-scale needs --guide-ckpt"),
    (("--guide-condition", "prompt"), "--guide-condition needs --guide-ckpt"),
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
