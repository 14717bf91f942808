"""The Fabric generator loop: bit-identical resume, NaN guard, checkpoint errors."""

from __future__ import annotations

import pickle
import warnings

import shutil

import pytest
import torch

import proav_core
from proav_core.demo import generator_stage
from proav_core.errors import CheckpointError, UsageError
from proav_core.training.checkpoint import peek_checkpoint
from proav_core.training.common import TrainingError
from proav_core.training.common import GUIDE_CHECKPOINT
from proav_core.training.generator_loop import train_generator, trained_on
from proav_core.training.latent_cache import LatentDataset
from proav_core.training.latent_norm import LatentNormalizer
from proav_core.training.hardware import Hardware

from .conftest import PLANES, toy_config, write_latents

CPU = Hardware(accelerator="cpu", devices="1")


def train(tmp_path, steps, **kwargs):
    cfg = proav_core.load_config(toy_config(tmp_path, steps=steps))
    write_latents(tmp_path / "runs" / "toy" / "latents")
    return train_generator(cfg, CPU, **kwargs)


def test_resume_is_bit_identical(tmp_path, toy_generator_plugin):
    straight = peek_checkpoint(train(tmp_path / "a", steps=6) / "last.ckpt")
    train(tmp_path / "b", steps=3)
    resumed = peek_checkpoint(train(tmp_path / "b", steps=6, resume=True) / "last.ckpt")
    assert straight["step"] == resumed["step"] == 6
    for key in ("model", "ema"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} differs after resume"
    s_opt, r_opt = straight["optimizer"]["state"], resumed["optimizer"]["state"]
    assert all(torch.equal(s_opt[i]["exp_avg"], r_opt[i]["exp_avg"]) for i in s_opt)
    assert straight["scheduler"] == resumed["scheduler"]
    # the run really trained: weights moved away from their initial values
    first = peek_checkpoint(train(tmp_path / "c", steps=1) / "last.ckpt")["model"]
    assert any(not torch.equal(first[n], straight["model"][n]) for n in first)


def test_outputs_beside_the_checkpoint(tmp_path, toy_generator_plugin):
    out = train(tmp_path, steps=3)
    assert (out / "config.toml").is_file() and (out / "loss.png").is_file()
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 4
    ckpt = peek_checkpoint(out / "last.ckpt")
    assert ckpt["components"]["model.generator"] == "mlp_test"
    assert ckpt["config"]["train"]["generator"]["steps"] == 3


def test_resume_rewrites_the_log_without_duplicates(tmp_path, toy_generator_plugin):
    train(tmp_path, steps=2)
    out = train(tmp_path, steps=4, resume=True)
    steps = [line.split(",")[0] for line in (out / "metrics.csv").read_text().strip().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]


def test_existing_run_needs_resume_or_overwrite(tmp_path, toy_generator_plugin):
    train(tmp_path, steps=1)
    with pytest.raises(UsageError, match="pass --resume to continue that run or --overwrite"):
        train(tmp_path, steps=1)
    train(tmp_path, steps=1, overwrite=True)


def stats(shift: float) -> dict:
    return LatentNormalizer({k: [shift] * s[0] for k, s in PLANES.items()},
                            {k: [1.0] * s[0] for k, s in PLANES.items()}).to_dict()


def test_a_run_resumes_only_on_the_latents_it_started_on(tmp_path, toy_generator_plugin):
    cfg = proav_core.load_config(toy_config(tmp_path, steps=2))
    latents = tmp_path / "runs" / "toy" / "latents"
    write_latents(latents, normalization=stats(0.0))
    out = train_generator(cfg, CPU)
    write_latents(latents, normalization=stats(1e-6))  # the same cache re-encoded: float noise
    assert trained_on(out / "last.ckpt", LatentDataset(latents).normalizer())
    train_generator(cfg, CPU, resume=True)
    write_latents(latents, normalization=stats(0.5))  # another autoencoder's latents
    assert not trained_on(out / "last.ckpt", LatentDataset(latents).normalizer())
    with pytest.raises(UsageError, match=r"last.ckpt was trained on other latents than .*latents holds .*"
                                         "pass --overwrite to start a new run on these latents"):
        train_generator(cfg, CPU, resume=True)
    (out / GUIDE_CHECKPOINT).write_bytes(b"the replaced run's guide")
    train_generator(cfg, CPU, overwrite=True)
    assert not (out / GUIDE_CHECKPOINT).exists()  # no guide step configured: the old one is not kept
    assert trained_on(out / "last.ckpt", LatentDataset(latents).normalizer())


def test_non_finite_loss_names_step_and_term(tmp_path, toy_generator_plugin):
    cfg = proav_core.load_config(toy_config(tmp_path, steps=3))
    write_latents(tmp_path / "runs" / "toy" / "latents", poison=True)
    with pytest.raises(TrainingError, match=r"loss term 'flow' is (nan|inf) at step 0"):
        train_generator(cfg, CPU)


def test_missing_and_corrupt_checkpoint(tmp_path, toy_generator_plugin):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*last.ckpt"):
        train(tmp_path, steps=2, resume=True)
    out = train(tmp_path, steps=1)
    (out / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a proav checkpoint"):
        train(tmp_path, steps=2, resume=True)
    (out / "last.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"last.ckpt: empty file \(0 bytes\), not a proav checkpoint"):
        train(tmp_path, steps=2, resume=True)
    (out / "last.ckpt").write_bytes(pickle.dumps([1, 2], protocol=4))  # a pickle, not torch's zip format
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="not a proav checkpoint"):
            train(tmp_path, steps=2, resume=True)
    assert not [w for w in seen if "pickle" in str(w.message)]  # torch's protocol warning does not reach the user


def test_checkpoint_of_other_components_is_named(tmp_path, toy_generator_plugin):
    out = train(tmp_path, steps=1)
    proav_core.register_component("generator", "mlp_other", type(proav_core.build("generator", "mlp_test", latent_shape=(4,), cond_dim=8)))
    cfg = proav_core.load_config(toy_config(tmp_path, steps=2), overrides=["model.generator=mlp_other"])
    before = (out / "last.ckpt").read_bytes()
    with pytest.raises(CheckpointError, match="model.generator: checkpoint has 'mlp_test', config has 'mlp_other'"):
        train_generator(cfg, CPU, resume=True)
    assert (out / "last.ckpt").read_bytes() == before  # nothing overwritten


def test_checkpoint_of_other_sizes_is_reported(tmp_path, toy_generator_plugin):
    train(tmp_path, steps=1)
    latents = tmp_path / "runs" / "toy" / "latents"
    shutil.rmtree(latents)
    write_latents(latents)
    from proav_core.training.latent_cache import LatentManifest

    manifest = LatentManifest.load(latents)
    manifest.classes = ["tick", "tock", "extra"]  # one more class -> bigger embedding table
    manifest.save(latents)
    cfg = proav_core.load_config(toy_config(tmp_path, steps=2))
    with pytest.raises(CheckpointError, match="does not fit the model the config builds"):
        train_generator(cfg, CPU, resume=True)


def test_crash_while_saving_keeps_the_last_good_checkpoint(tmp_path, toy_generator_plugin, monkeypatch):
    out = train(tmp_path, steps=1)
    good = peek_checkpoint(out / "last.ckpt")

    real_save = torch.save

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        train(tmp_path, steps=2, resume=True)
    monkeypatch.setattr(torch, "save", real_save)
    assert peek_checkpoint(out / "last.ckpt")["step"] == good["step"] == 1


def test_plane_loss_weights_reach_the_loss(tmp_path, toy_generator_plugin):
    """[train.generator] plane_loss_weights changes the training loss (same seed, same draws), and a
    plane the latent lacks stops the run naming the config key."""
    import csv

    def first_loss(folder, extra):
        cfg = proav_core.load_config(toy_config(folder, steps=1, extra=extra))
        write_latents(folder / "runs" / "toy" / "latents")
        out = train_generator(cfg, CPU)
        with (out / "metrics.csv").open(newline="") as f:
            return float(next(csv.DictReader(f))["loss"])

    plain = first_loss(tmp_path / "a", "")
    assert first_loss(tmp_path / "b", "") == plain  # the run is reproducible
    assert first_loss(tmp_path / "c", "plane_loss_weights = { video_hw = 0.1, video_th = 3.0 }") != plain
    with pytest.raises(proav_core.ConfigError, match="audio_hw") as err:
        first_loss(tmp_path / "d", "plane_loss_weights = { audio_hw = 0.5 }")
    assert err.value.path == "train.generator.plane_loss_weights"
    assert not (tmp_path / "d" / "runs" / "toy" / "generator").exists()  # refused before anything is written



def train_guided(folder, steps, fraction, **kwargs):
    cfg = proav_core.load_config(toy_config(folder, steps=steps, extra=f"guide_fraction = {fraction}"))
    write_latents(folder / "runs" / "toy" / "latents")
    return train_generator(cfg, CPU, **kwargs)


def test_guide_fraction_keeps_that_state_as_guide_ckpt(tmp_path, toy_generator_plugin):
    """[train.generator] guide_fraction: the state after that share of the steps (EMA included)
    stays as guide.ckpt, equal to the last.ckpt of a run stopped there; resuming past it leaves
    it untouched. It holds what sampling reads, not the optimiser's state (kept for resuming)."""
    out = train_guided(tmp_path / "a", steps=5, fraction=0.5)  # step round(2.5) = 2
    guide, last = peek_checkpoint(out / "guide.ckpt"), peek_checkpoint(out / "last.ckpt")
    assert guide["step"] == 2 and last["step"] == 5
    assert set(last) - set(guide) == {"optimizer", "scheduler", "rng"}
    assert (out / "guide.ckpt").stat().st_size < 0.6 * (out / "last.ckpt").stat().st_size
    stopped = peek_checkpoint(train(tmp_path / "b", steps=2) / "last.ckpt")
    for key in ("model", "ema"):
        assert all(torch.equal(guide[key][n], stopped[key][n]) for n in stopped[key]), key
    assert any(not torch.equal(guide["ema"][n], last["ema"][n]) for n in last["ema"])
    # stopped after the guide was kept (3 steps: guide at step 2), resumed to the end: the same file
    first = train_guided(tmp_path / "c", steps=3, fraction=0.5)
    kept = (first / "guide.ckpt").read_bytes()
    resumed = train_guided(tmp_path / "c", steps=5, fraction=0.5, resume=True)
    assert (resumed / "guide.ckpt").read_bytes() == kept
    assert not (train(tmp_path / "d", steps=2) / "guide.ckpt").exists()  # off by default


def test_resuming_past_the_guide_step_says_what_became_of_the_guide(tmp_path, toy_generator_plugin, capsys):
    """A run resumed past its guide step cannot keep the guide the config now asks for: without
    a guide.ckpt it says that autoguidance is off for this run; with one of another step (the
    step count changed) it says which step the kept guide holds. Nothing is written in its place."""
    train(tmp_path / "a", steps=3)
    capsys.readouterr()
    out = train_guided(tmp_path / "a", steps=5, fraction=0.5, resume=True)  # guide step 2 < start 3
    said = capsys.readouterr().out
    assert "resumed at step 3, past the guide step 2" in said and "not autoguidance" in said
    assert not (out / "guide.ckpt").exists()
    train_guided(tmp_path / "b", steps=5, fraction=0.5)  # guide at step 2
    capsys.readouterr()
    out = train_guided(tmp_path / "b", steps=7, fraction=0.5, resume=True)  # guide step now 4 < start 5
    said = " ".join(capsys.readouterr().out.split())
    assert "holds step 2" in said and "now means step 4" in said
    assert peek_checkpoint(out / "guide.ckpt")["step"] == 2
    capsys.readouterr()
    train_guided(tmp_path / "b", steps=9, fraction=0.5, resume=True)  # guide step 4 < start 7, but it was kept
    assert "holds step 2" in " ".join(capsys.readouterr().out.split())  # still the old one: said again


@pytest.mark.parametrize(("steps", "fraction", "step"), [(4800, 0.25, 1200), (10, 0.99, 9), (10, 0.01, 1), (2, 0.5, 1)])
def test_guide_step_is_the_fraction_of_the_steps_before_the_last(tmp_path, toy_generator_plugin, steps, fraction, step):
    cfg = proav_core.load_config(toy_config(tmp_path, steps=steps, extra=f"guide_fraction = {fraction}"))
    assert cfg.train.generator.guide_step == step


@pytest.mark.parametrize(("steps", "fraction", "message"), [(1, 0.5, "needs a step before the last one"),
                                                            (6, 1.0, "less than 1"), (6, 0.0, "greater than 0")])
def test_a_guide_that_cannot_be_kept_is_refused(tmp_path, toy_generator_plugin, steps, fraction, message):
    with pytest.raises(proav_core.ConfigError, match=message) as err:
        proav_core.load_config(toy_config(tmp_path, steps=steps, extra=f"guide_fraction = {fraction}"))
    assert "train.generator" in str(err.value.path)


def test_a_pipeline_stage_keeps_a_finished_run_and_redoes_one_made_from_other_latents(tmp_path, toy_generator_plugin):
    cfg = proav_core.load_config(toy_config(tmp_path, steps=2))
    latents = write_latents(tmp_path / "runs" / "toy" / "latents", normalization=stats(0.0))
    said = []
    ckpt = generator_stage(cfg, CPU, latents, said.append)
    first = ckpt.stat().st_mtime_ns
    assert generator_stage(cfg, CPU, latents, said.append) == ckpt and ckpt.stat().st_mtime_ns == first  # done
    assert said == []
    write_latents(latents, seed=1, normalization=stats(0.5))  # the demo's autoencoder was trained again
    generator_stage(cfg, CPU, latents, said.append)
    assert len(said) == 1 and "was trained on other latents" in said[0] and "training the generator anew" in said[0]
    assert trained_on(ckpt, LatentDataset(latents).normalizer()) and peek_checkpoint(ckpt)["step"] == 2
