"""`--compile` (proav_core.compiling) on CPU: compiled outputs match eager, training with --compile
writes checkpoints that load without compile, compiled fixed-shape sampling matches eager
sampling, `proav bench --compile`, and the message when torch.compile cannot run.

torch.compile needs a C++ compiler on CPU; without one these tests are skipped (and the
message test still runs). Compiling costs seconds per graph: the tiny STDiT only."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import proav_core
from proav_core import compiling
from proav_core.compiling import (
    COMPILE_SCOPES,
    CompileUnavailableError,
    block_classes,
    compile_model,
    fixed_batches,
    is_compiled,
    iter_blocks,
    require_compile,
)
from proav_core.config import load_config
from proav_core.sampling import SamplingPipeline
from proav_core.training.checkpoint import peek_checkpoint

from .conftest import cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def compiler() -> None:
    """Skips a test when torch.compile cannot run on this CPU (the probe's reason is shown)."""
    if (reason := compiling._probe("cpu")) is not None:
        pytest.skip(f"torch.compile cannot run here: {reason}")


needs_compile = pytest.mark.usefixtures("compiler")


# C = 4; hw 4x4, tw and th 8x4: stack6 pads the hw planes (padding = "skip": real tokens only)
TINY = {f"{m}_{a}": s for m in ("video", "audio") for a, s in (("hw", (4, 4, 4)), ("tw", (4, 8, 4)), ("th", (4, 8, 4)))}


def tiny_stdit(seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """The tiny STDiT preset with its zero-initialised gates and final layer given random values."""
    stacker = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    torch.manual_seed(seed)
    gen = proav_core.build("generator", "stdit", latent_shape=stacker.latent_shape, cond_dim=8, stacker=stacker,
                           preset="tiny")
    with torch.no_grad():
        for p in gen.parameters():
            if not p.any():
                p.normal_(0, 0.05)  # gates open: the blocks change the output
    return gen, stacker.latent_shape


# ----------------------------------------------------------------------------- no compilation


class Nested(nn.Module):
    """Blocks in a Sequential inside a module, and a ModuleList not named `blocks`."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.blocks = nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 2))
        self.heads = nn.ModuleList([nn.Conv1d(2, 2, 1)])


def test_blocks_are_found_by_their_container_name():
    gen, _ = tiny_stdit()
    assert [name for name, _ in iter_blocks(gen)] == ["blocks.0", "blocks.1"]
    assert block_classes(gen) == {type(gen.blocks[0])}
    assert [name for name, _ in iter_blocks(Nested())] == ["encoder.blocks.0", "encoder.blocks.1", "encoder.blocks.2"]
    assert block_classes(Nested()) == {nn.Linear, nn.GELU}


def test_every_registered_generator_has_blocks_to_compile_and_shard():
    """--compile's block scope and FSDP's auto-wrap find the repeated blocks of each generator."""
    import torch

    import proav_core
    from proav_core.plugin_manager import get_registry

    shapes = {k: (4, 8, 8) for k in ("video_hw", "video_tw", "video_th", "audio_hw", "audio_tw", "audio_th")}
    for name in get_registry().names("generator"):
        stacker = "stack6" if name == "stdit" else "tokens"
        st = proav_core.build("stacker", stacker, plane_shapes=shapes)
        with torch.device("meta"):
            gen = proav_core.build("generator", name, preset="tiny", latent_shape=st.latent_shape, cond_dim=8, stacker=st)
        assert block_classes(gen), f"generator {name}: no `blocks` or `layers` ModuleList"


def test_fixed_batches_pad_the_last_batch_with_its_last_item():
    assert list(fixed_batches(5, 2)) == [([0, 1], 2), ([2, 3], 2), ([4, 4], 1)]
    assert list(fixed_batches(2, 4)) == [([0, 1, 1, 1], 2)]
    assert list(fixed_batches(4, 2)) == [([0, 1], 2), ([2, 3], 2)]


def test_unknown_scope_names_the_known_ones():
    with pytest.raises(proav_core.UsageError, match=r"--compile-scope 'block' is not known.*'blocks'.*network"):
        compile_model(nn.Linear(2, 2), "block", "cpu")


def test_no_compiler_is_one_clear_message(monkeypatch):
    """A C++ compiler that does not exist: the probe fails and the error names the option."""
    import torch._inductor.config as inductor

    with inductor.patch({"cpp.cxx": ("/nonexistent/c++",)}):
        reason = compiling._probe.__wrapped__("cpu")
    assert reason is not None and "/nonexistent/c++" in reason
    monkeypatch.setattr(compiling, "_probe", lambda device_type: reason)
    with pytest.raises(CompileUnavailableError) as err:
        require_compile("cpu")
    message = str(err.value)
    assert "\n" not in message and message.startswith("--compile: torch.compile cannot run on cpu here")
    assert "install a C++ compiler" in message and "or run without --compile" in message


def test_cli_without_compiler_stops_before_writing(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compiling, "_probe", lambda device_type: "InvalidCxxCompiler: no working C++ compiler")
    ckpt = trained.parent / "runs" / "tiny" / "generator" / "last.ckpt"
    out = tmp_path / "out"
    assert cli("sample", trained, "--ckpt", ckpt, "--num", "1", "--steps", "1", "--out", out, "--compile") == 2
    err = capsys.readouterr().err
    assert "--compile: torch.compile cannot run on cpu here (InvalidCxxCompiler" in err and "Traceback" not in err
    assert not out.exists()


# ----------------------------------------------------------------------------- compiled


@needs_compile
@pytest.mark.parametrize("scope", COMPILE_SCOPES)
def test_compiled_stdit_matches_eager_forward_and_gradients(scope):
    """cudagraphs on the CPU: the whole network compiled, its CUDA graphs left out by inductor."""
    eager, latent_shape = tiny_stdit()
    compiled, _ = tiny_stdit()
    keys = list(eager.state_dict())
    done = compile_model(compiled, scope, "cpu")
    assert done["compiled"] == (["blocks.0", "blocks.1"] if scope == "blocks" else ["STDiT"])
    assert is_compiled(compiled.blocks[0]) == (scope == "blocks") and is_compiled(compiled) == (scope != "blocks")
    assert list(compiled.state_dict()) == keys  # no _orig_mod. prefixes
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, *latent_shape, generator=g), torch.rand(2, generator=g)  # (B, C, F, A, W), (B,)
    cond = torch.randn(2, 1, 8, generator=g)  # (B, L, Dc)
    outs = []
    for model in (eager, compiled):
        out = model(x, t, cond)
        out.square().mean().backward()
        outs.append((out.detach(), {k: p.grad for k, p in model.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-5)
    for k, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][k], grad, rtol=1e-3, atol=1e-5, msg=k)


@needs_compile
def test_cudagraphs_outputs_are_copies_that_later_calls_leave_alone():
    """A sampler keeps one velocity across the next call (Heun's v0, autoguidance's guide):
    each call of a cudagraphs-compiled network returns its own tensor, still equal to eager."""
    eager, latent_shape = tiny_stdit()
    compiled, _ = tiny_stdit()
    compile_model(compiled, "cudagraphs", "cpu")
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(2, *latent_shape, generator=g), torch.rand(2, generator=g)  # (B, C, F, A, W), (B,)
    cond = torch.randn(2, 1, 8, generator=g)  # (B, L, Dc)
    with torch.no_grad():
        first = compiled(x, t, cond)
        second = compiled(2 * x, t, cond)  # the same shapes: the same graph replayed
        torch.testing.assert_close(first, eager(x, t, cond), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(second, eager(2 * x, t, cond), rtol=1e-4, atol=1e-5)
    assert first.data_ptr() != second.data_ptr()


def test_compile_scope_choices_are_the_known_scopes():
    from proav_core.cli.sample_cmd import command

    option = next(p for p in command.params if p.name == "compile_scope")
    assert tuple(option.type.choices) == COMPILE_SCOPES


@pytest.mark.parametrize("command", [("sample", "--ckpt", "x.ckpt", "--out", "o"), ("train", "generator"),
                                     ("bench",)])
def test_a_compile_scope_without_compile_is_refused(command, tmp_path, capsys):
    from proav_core.cli import main

    args = [*command[:2], str(CONFIGS / "demo.toml"), *command[2:]] if command[0] == "train" else \
        [command[0], str(CONFIGS / "demo.toml"), *command[1:]]
    assert main([*args, "--compile-scope", "network"]) == 2
    assert "--compile-scope network goes with --compile: add --compile" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not Path("o").exists()


def losses(metrics: Path) -> list[float]:
    with metrics.open() as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@needs_compile
def test_training_with_compile_matches_eager_and_its_checkpoint_loads_without_compile(trained, tmp_path, capsys):
    """The same run as the fixture's eager one (same seed, data, steps), compiled: the same losses;
    its checkpoint has the eager model's keys and loads into an uncompiled pipeline."""
    eager_run = trained.parent / "runs" / "tiny"
    runs = tmp_path / "runs"
    shutil.copytree(eager_run, runs / "tiny", ignore=shutil.ignore_patterns("generator"))
    assert cli("train", "generator", trained, "--accelerator", "cpu", "--compile",
               "--set", f'output_dir="{runs}"') == 0
    assert "--compile: 2 blocks of the generator compiled (blocks.0, ...)" in capsys.readouterr().out
    compiled_losses = losses(runs / "tiny" / "generator" / "metrics.csv")
    assert compiled_losses == pytest.approx(losses(eager_run / "generator" / "metrics.csv"), rel=1e-4)
    ckpt = runs / "tiny" / "generator" / "last.ckpt"
    raw = peek_checkpoint(ckpt)
    eager_raw = peek_checkpoint(eager_run / "generator" / "last.ckpt")
    for part in ("model", "ema"):
        assert list(raw[part]) == list(eager_raw[part]) and not any("_orig_mod" in k for k in raw[part])
    pipe = SamplingPipeline.from_checkpoint(load_config(trained), ckpt)  # strict load, nothing compiled
    assert not any(is_compiled(m) for m in pipe.flow.modules())


@needs_compile
def test_compiled_fixed_batch_sampling_matches_eager(trained):
    """3 prompts in fixed batches of 2 (the second padded), compiled, against one eager batch of 3."""
    cfg = load_config(trained)
    ckpt = trained.parent / "runs" / "tiny" / "generator" / "last.ckpt"
    prompts = ["a video of square-wood-1", "circle-drum-0", "a video of square-wood-1"]
    eager = SamplingPipeline.from_checkpoint(cfg, ckpt).sample(prompts, cfg_scale=2.0, seed=3)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt)
    seen: list[int] = []
    pipe.flow.generator.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    assert pipe.compile("blocks", batch_size=2)["compiled"] == ["blocks.0", "blocks.1"]
    compiled = pipe.sample(prompts, cfg_scale=2.0, seed=3)
    assert set(seen) == {4}  # every evaluation: 2 samples x (conditional + null)
    torch.testing.assert_close(compiled.video, eager.video, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(compiled.audio, eager.audio, rtol=1e-3, atol=1e-4)


@needs_compile
def test_sample_cli_with_compile_writes_every_sample(trained, tmp_path, capsys):
    ckpt = trained.parent / "runs" / "tiny" / "generator" / "last.ckpt"
    out = tmp_path / "out"
    assert cli("sample", trained, "--ckpt", ckpt, "--num", "3", "--steps", "2", "--out", out, "--compile",
               "--batch", "2", "--cfg", "2", "--prompt", "circle-drum-0") == 0
    assert "--compile: 2 blocks of the generator compiled" in capsys.readouterr().out
    assert len(list(out.glob("sample_*.mp4"))) == 3


@needs_compile
def test_bench_with_compile_reports_it_and_the_share_of_a_given_peak(tmp_path):
    out = tmp_path / "bench.json"
    assert cli("bench", CONFIGS / "generator_tiny.toml", "--set", "clip.height=16", "--set", "clip.width=16",
               "--set", "clip.frames=4", "--accelerator", "cpu", "--threads", "1", "--warmup", "1", "--repeats", "1",
               "--no-flops", "--skip", "autoencoder", "--skip", "sample", "--compile",
               "--peak-tflops", "0.5", "--out", out) == 0
    report = json.loads(out.read_text())
    compiled = report["compile"]["compiled"]
    assert report["compile"]["scope"] == "blocks" and "the generator: blocks.1" in compiled
    assert any(name.startswith("the autoencoder: encoder") for name in compiled)  # MDSA's space-time blocks
    assert report["peak"] == {"tflops": 0.5, "number_format": "fp32", "source": "--peak-tflops"}
    (row,) = [r for r in report["rows"] if r["key"] == "generator_step"]
    assert row["achieved_flops_per_second"] == pytest.approx(row["analytic_flops"] / row["seconds"]["median"])
    assert row["peak_share"] == pytest.approx(row["achieved_flops_per_second"] / 0.5e12)


@needs_compile
def test_compile_takes_the_autoguidance_guide_along(trained):
    """A guide loaded before compile() is compiled like the generator (it runs at every step)."""
    cfg = load_config(trained)
    ckpt = trained.parent / "runs" / "tiny" / "generator" / "last.ckpt"
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt)
    pipe.load_guide(ckpt)
    pipe.compile("blocks", batch_size=2)
    assert all(is_compiled(block) for _, block in iter_blocks(pipe.guide.generator))
    assert all(is_compiled(block) for _, block in iter_blocks(pipe.flow.generator))
