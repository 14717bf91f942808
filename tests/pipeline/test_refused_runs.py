"""A refused training command leaves the run folder as it was: conflicting flags, a resume
that does not fit or has nothing to resume, an output_dir that is a file, latents encoded by an
autoencoder that has changed since."""

from __future__ import annotations

import pytest

from proav_core.cli import main

from .conftest import run_folder, tiny_config


def cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def run(tmp_path):
    """A tiny run with a trained autoencoder, its latents and a generator."""
    config = tiny_config(tmp_path)
    for args in (("train", "autoencoder", config), ("encode", config), ("train", "generator", config)):
        assert cli(*args, "--accelerator", "cpu") == 0, args
    return config


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_refused_resumes_change_nothing(run, capsys):
    stage = run_folder(run) / "generator"
    before = snapshot(stage)
    assert cli("train", "generator", run, "--resume", "--overwrite") == 2
    assert "--resume and --overwrite exclude each other" in capsys.readouterr().err
    # a resume the checkpoint does not fit (other sizes): the stage's config.toml stays the trained one's
    assert cli("train", "generator", run, "--resume", "--set", "model.generator.depth=3",
               "--set", "train.generator.steps=4") != 0
    err = capsys.readouterr().err
    assert "does not fit the model" in err
    assert "its config differs in 1 setting: model.generator.depth (checkpoint" in err  # train.* not counted
    assert snapshot(stage) == before


def test_a_resume_with_nothing_to_resume_writes_nothing(run, capsys):
    assert cli("train", "generator", run, "--resume", "--set", "name=fresh") == 1
    assert "nothing to resume: run without --resume" in capsys.readouterr().err
    assert not (run.parent / "runs" / "fresh").exists()


def test_an_output_dir_that_is_a_file_is_named(run, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    for stage in ("autoencoder", "generator"):
        assert cli("train", stage, run, "--set", f"output_dir='{blocker}'") == 2
        err = capsys.readouterr().err
        assert f"output_dir: {blocker / 'tiny' / stage} cannot be made, {blocker} is a file, not a folder" in err
    assert blocker.read_text() == "keep me"


def test_latents_of_a_replaced_autoencoder_are_refused_until_encoded_again(run, capsys):
    assert cli("train", "autoencoder", run, "--overwrite", "--set", "train.autoencoder.steps=3") == 0
    generator = run_folder(run) / "generator"
    before = snapshot(generator)
    assert cli("train", "generator", run, "--overwrite") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"were encoded by {(run_folder(run) / 'autoencoder' / 'last.ckpt').resolve()}, which has changed since" in err
    assert "run `proav encode CONFIG` again" in err and snapshot(generator) == before
    assert cli("encode", run) == 0
    assert cli("train", "generator", run, "--overwrite") == 0


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--accelerator", "gpuu", "--accelerator 'gpuu' is not known; closest: 'gpu'"),
    ("--strategy", "fsdpp", "cannot train with --accelerator cpu --devices 1 --strategy fsdpp"),
    ("--precision", "8-bit", "cannot train with --accelerator cpu --devices 1 --strategy auto --precision 8-bit"),
])
def test_hardware_lightning_refuses_is_one_line(tmp_path, capsys, option, value, expected):
    config = tiny_config(tmp_path)
    args = ["train", "autoencoder", config, *(["--accelerator", "cpu"] if option != "--accelerator" else []),
            option, value]
    assert cli(*args) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_resuming_a_finished_stage_says_so(run, capsys):
    assert cli("train", "generator", run, "--resume") == 0
    assert "train generator: the checkpoint is at step 2 of 2 already, nothing to train" in capsys.readouterr().out


def test_an_interrupted_run_says_what_its_checkpoint_holds(run, monkeypatch, capsys):
    """Ctrl-C during training: the step last.ckpt holds and --resume; a resume says where it starts."""
    import proav_core.training.common as common

    real_save, calls = common.save_checkpoint, []

    def save_then_interrupt(fabric, path, state):
        if state["step"] == 6:  # Ctrl-C in the steps after the second checkpoint
            raise KeyboardInterrupt
        real_save(fabric, path, state)
        calls.append(state["step"])

    monkeypatch.setattr(common, "save_checkpoint", save_then_interrupt)
    overrides = ("--set", "train.generator.steps=8", "--set", "train.generator.checkpoint_every=2")
    assert main(["train", "generator", str(run), "--overwrite", *overrides]) != 0  # the CLI says "aborted"
    ckpt = run_folder(run) / "generator" / "last.ckpt"
    assert calls == [2, 4]
    assert f"train generator: interrupted; {ckpt} holds step 4: continue with --resume" in capsys.readouterr().out
    monkeypatch.setattr(common, "save_checkpoint", real_save)
    assert cli("train", "generator", run, "--resume", *overrides) == 0
    assert f"train generator: resuming at step 4 of 8 ({ckpt})" in capsys.readouterr().out
