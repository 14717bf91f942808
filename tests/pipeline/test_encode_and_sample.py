"""`proav encode` and `proav sample` on the tiny trained run, and their errors."""

from __future__ import annotations

import fractions
import io
import shutil
import tomllib
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import proav_core
from proav_core.data import manifest
from proav_core.training.checkpoint import checkpoint_kind, peek_checkpoint
from proav_core.training.latent_cache import LatentDataset, LatentManifest

from .conftest import cli, run_folder, tiny_config


def stream_seconds(path: Path) -> dict[str, float]:
    """Decoded duration of each stream: video frames / rate, audio samples / sample rate."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video))
        container.seek(0)
        samples = sum(frame.samples for frame in container.decode(audio))
        return {"video": frames / float(video.average_rate), "audio": samples / audio.codec_context.sample_rate}


def test_encode_writes_the_training_split_as_latents(trained):
    cfg = proav_core.load_config(trained)
    manifest = LatentManifest.load(run_folder(trained) / "latents")
    assert manifest.num_items == 6 and manifest.classes == ["circle-drum-0", "square-wood-1"]
    assert manifest.components["model.autoencoder"] == "mdsa"
    ae = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
    assert manifest.plane_shapes == dict(ae.plane_shapes())
    cache = LatentDataset(run_folder(trained) / "latents")
    planes, labels = cache.planes, cache.labels
    assert labels.tolist() == [0, 1, 0, 1, 0, 1]
    for name, shape in manifest.plane_shapes.items():
        assert planes[name].shape == (6, *shape)
        assert planes[name].abs().max() <= manifest.latent_bound  # the latent box


def test_encode_again_reuses_the_shards(trained, capsys):
    shard = run_folder(trained) / "latents" / "shard-00000.pt"
    before = shard.stat().st_mtime_ns
    assert cli("encode", trained, "--accelerator", "cpu") == 0
    assert shard.stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def samples(trained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples") / "out"
    ckpt = run_folder(trained) / "generator" / "last.ckpt"
    assert cli("sample", trained, "--ckpt", ckpt, "--prompt", "a video of square-wood-1", "--prompt",
               "circle-drum-0", "--num", "2", "--steps", "2", "--cfg", "2", "--seed", "5", "--out", out) == 0
    return out


def test_sample_writes_every_file(samples):
    stems = [f"sample_{i:03d}_{c}" for i, c in enumerate(["square_wood_1"] * 2 + ["circle_drum_0"] * 2)]
    expected = {f"{s}{suffix}" for s in stems for suffix in (".mp4", ".wav", "_frames.png", "_mel.png")}
    assert {p.name for p in samples.iterdir()} == expected | {"config.toml"}
    assert all((samples / name).stat().st_size > 0 for name in expected)
    resolved = tomllib.loads((samples / "config.toml").read_text())
    assert resolved["sampler"]["steps"] == 2 and resolved["model"]["generator"]["name"] == "stdit"


def test_sample_mp4_has_video_and_audio_of_matching_duration(samples):
    for mp4 in sorted(samples.glob("*.mp4")):
        seconds = stream_seconds(mp4)
        assert seconds["video"] == pytest.approx(1.0)  # 4 frames at 4 fps
        assert seconds["audio"] == pytest.approx(seconds["video"], abs=0.05), mp4.name


def test_sample_is_deterministic_given_the_seed(trained, samples, tmp_path):
    ckpt = run_folder(trained) / "generator" / "last.ckpt"
    common = ["sample", trained, "--ckpt", ckpt, "--prompt", "a video of square-wood-1", "--prompt", "circle-drum-0",
              "--num", "2", "--steps", "2", "--cfg", "2"]
    assert cli(*common, "--seed", "5", "--out", tmp_path / "same") == 0
    assert cli(*common, "--seed", "6", "--out", tmp_path / "other") == 0
    for wav in sorted(samples.glob("*.wav")):
        assert (tmp_path / "same" / wav.name).read_bytes() == wav.read_bytes(), wav.name
        assert (tmp_path / "other" / wav.name).read_bytes() != wav.read_bytes(), wav.name


# ----------------------------------------------------------------------------- errors


def sample_args(config: Path, out: Path, *extra: str, ckpt: Path | None = None) -> list:
    ckpt = ckpt or run_folder(config) / "generator" / "last.ckpt"
    return ["sample", config, "--ckpt", ckpt, "--num", "1", "--steps", "1", "--out", out, *extra]


def test_missing_checkpoint_is_named(trained, tmp_path, capsys):
    assert cli(*sample_args(trained, tmp_path / "out", ckpt=tmp_path / "nope.ckpt")) != 0
    assert f"checkpoint not found: {tmp_path / 'nope.ckpt'}" in capsys.readouterr().err


RANDOM_BYTES = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def _pickled_global() -> bytes:
    """A torch file holding a class weights_only loading does not allow (torch suggests allow-listing it)."""
    buffer = io.BytesIO()
    torch.save({"step": fractions.Fraction(1, 3)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"\x00 not a checkpoint", RANDOM_BYTES, _pickled_global()],
                         ids=["zero", "random", "global"])
def test_corrupt_checkpoint_is_named_without_unsafe_advice(trained, tmp_path, capsys, content):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    assert cli(*sample_args(trained, tmp_path / "out", ckpt=bad)) != 0
    err = capsys.readouterr().err
    assert f"cannot read checkpoint {bad}: the file is corrupt or not a proav checkpoint (UnpicklingError: " in err
    for advice in ("weights_only", "arbitrary code", "trusted source", "safe_globals"):
        assert advice not in err  # torch's advice to load it unsafely is dropped
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_checkpoints_know_their_kind(trained):
    run = run_folder(trained)
    assert checkpoint_kind(peek_checkpoint(run / "autoencoder" / "last.ckpt")) == "autoencoder"
    assert checkpoint_kind(peek_checkpoint(run / "generator" / "last.ckpt")) == "generator"
    assert checkpoint_kind({"model": {}}) is None


def test_autoencoder_checkpoint_as_generator_is_refused(trained, tmp_path, capsys):
    ae = run_folder(trained) / "autoencoder" / "last.ckpt"
    assert cli(*sample_args(trained, tmp_path / "out", ckpt=ae)) != 0
    assert (f"error: {ae} is an autoencoder checkpoint; --ckpt needs a generator checkpoint "
            "(`proav train generator` writes it as <output_dir>/<name>/generator/last.ckpt)") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_generator_checkpoint_as_autoencoder_is_refused(trained, tmp_path, capsys):
    gen = run_folder(trained) / "generator" / "last.ckpt"
    assert cli(*sample_args(trained, tmp_path / "out", "--ae-ckpt", gen)) != 0
    err = capsys.readouterr().err
    assert (f"error: {gen} is a generator checkpoint; --ae-ckpt needs an autoencoder checkpoint "
            "(`proav train autoencoder` writes it as <output_dir>/<name>/autoencoder/last.ckpt)") in err
    assert "other sizes" not in err
    assert not (tmp_path / "out").exists()
    assert cli("encode", trained, "--ckpt", gen, "--out", tmp_path / "latents", "--accelerator", "cpu") != 0
    assert f"{gen} is a generator checkpoint, not the autoencoder checkpoint needed here" in capsys.readouterr().err


def test_resuming_from_a_checkpoint_of_the_other_kind_is_refused(trained, tmp_path, capsys):
    config = tiny_config(tmp_path / "other")
    stage = config.parent / "runs" / "tiny" / "autoencoder"
    stage.mkdir(parents=True)
    shutil.copy(run_folder(trained) / "generator" / "last.ckpt", stage / "last.ckpt")
    assert cli("train", "autoencoder", config, "--resume", "--accelerator", "cpu") != 0
    err = capsys.readouterr().err
    assert f"{stage / 'last.ckpt'} is a generator checkpoint, not the autoencoder checkpoint needed here" in err


def test_checkpoint_of_other_components_names_them(trained, tmp_path, capsys):
    args = sample_args(trained, tmp_path / "out", "--set", "model.generator=token_dit", "--set", "model.stacker=tokens")
    assert cli(*args) != 0
    err = capsys.readouterr().err
    assert "model.generator: checkpoint has 'stdit', config has 'token_dit'" in err
    assert "model.stacker: checkpoint has 'stack6', config has 'tokens'" in err
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_other_shapes_is_reported(trained, tmp_path, capsys):
    args = sample_args(trained, tmp_path / "out", "--set", "model.generator.hidden=32")
    assert cli(*args) != 0
    err = capsys.readouterr().err
    assert "does not fit the model the config builds" in err
    assert "tensors of other shapes: generator.patch_embed.weight (checkpoint (64, 16), config (32, 16))" in err
    assert "its config differs in 1 setting: model.generator.hidden (checkpoint default, config 32)" in err
    assert "other sizes?" not in err  # the configs tell which setting, no guess needed


def test_autoencoder_of_another_head_setting_names_the_setting(trained, tmp_path, capsys):
    """A setting that changes a module's parameters but not a component's name (the video head's
    image_mean path) is named, with both values, where the weights do not fit."""
    key = "model.autoencoder.decoder.head.image_mean"
    assert cli("encode", trained, "--out", tmp_path / "latents", "--set", f"{key}=none", "--accelerator", "cpu") != 0
    err = capsys.readouterr().err
    assert f"does not fit the model the config builds (same components; its config differs in 1 setting: {key} " \
           "(checkpoint 'linear', config 'none'))" in err
    assert "missing from the checkpoint" not in err and "not in the model" in err  # the image_mean weights


def test_unknown_class_lists_the_known_ones(trained, tmp_path, capsys):
    assert cli(*sample_args(trained, tmp_path / "out", "--prompt", "a video of circle-drum-9")) != 0
    err = capsys.readouterr().err
    assert "circle-drum-9" in err and "circle-drum-0" in err and "square-wood-1" in err
    assert not (tmp_path / "out").exists()  # refused after the config check: no empty --out left
    nested = tmp_path / "new" / "deeper" / "out"
    assert cli(*sample_args(trained, nested, "--prompt", "a video of circle-drum-9")) != 0
    assert not (tmp_path / "new").exists()


def test_unwritable_output_directory(trained, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    assert cli(*sample_args(trained, blocker / "out")) != 0
    assert f"--out: {blocker / 'out'} cannot be made, {blocker} is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_existing_samples_are_never_overwritten(trained, samples, capsys):
    before = {p.name: p.read_bytes() for p in samples.iterdir()}
    assert cli(*sample_args(trained, samples, "--seed", "9")) != 0
    err = capsys.readouterr().err
    assert "already holds samples" in err and "pass --overwrite or another --out" in err
    assert {p.name: p.read_bytes() for p in samples.iterdir()} == before


def test_overwrite_leaves_only_the_new_samples(trained, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(*sample_args(trained, out, "--prompt", "circle-drum-0", "--num", "2")) == 0
    (out / "sample_notes.txt").write_text("mine")  # not a file sample writes: kept
    assert cli(*sample_args(trained, out, "--prompt", "square-wood-1", "--overwrite")) == 0
    assert sorted(p.name for p in out.glob("sample_*.mp4")) == ["sample_000_square_wood_1.mp4"]
    assert not list(out.glob("sample_001_*")) and (out / "sample_notes.txt").read_text() == "mine"
    assert "1 sample in" in capsys.readouterr().out


def test_another_autoencoder_checkpoint_is_warned_about(trained, tmp_path, capsys):
    """--ae-ckpt of other weights than the latents were encoded with: said, not silently grey."""
    ae = run_folder(trained) / "autoencoder" / "last.ckpt"
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(ae.read_bytes())  # the same weights elsewhere: fine
    assert cli(*sample_args(trained, tmp_path / "a", "--ae-ckpt", copy)) == 0
    assert "is not the autoencoder checkpoint" not in capsys.readouterr().err
    other = tmp_path / "other.ckpt"
    state = torch.load(ae, weights_only=True)
    state["step"] = state["step"] + 1  # another file (e.g. trained further)
    torch.save(state, other)
    assert cli(*sample_args(trained, tmp_path / "b", "--ae-ckpt", other)) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: {other} is not the autoencoder checkpoint the generator's latents were encoded with ({ae}" in err


def test_a_moved_run_folder_samples_with_its_own_autoencoder(trained, tmp_path, capsys, monkeypatch):
    """The generator records the autoencoder path its latents were encoded with; when the run
    folder has moved, the autoencoder beside the generator is used if it is that very file
    (hashed once: the match is the check)."""
    run = run_folder(trained)
    moved = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(run / "generator", moved / "generator")  # the original autoencoder path is gone here...
    shutil.copytree(run / "autoencoder", moved / "autoencoder")
    recorded = run / "autoencoder" / "last.ckpt"
    raw = peek_checkpoint(moved / "generator" / "last.ckpt")
    assert raw["latents"]["autoencoder_checkpoint"] == str(recorded)
    hidden = recorded.with_name("hidden.ckpt")
    recorded.rename(hidden)  # ...as it is after a move
    hashed = []
    real_sha256 = manifest.file_sha256

    def counted_sha256(path, *args, **kwargs):
        hashed.append(Path(path))
        return real_sha256(path, *args, **kwargs)

    monkeypatch.setattr(manifest, "file_sha256", counted_sha256)
    try:
        assert cli(*sample_args(trained, tmp_path / "a", ckpt=moved / "generator" / "last.ckpt")) == 0
        assert hashed.count(moved / "autoencoder" / "last.ckpt") == 1, hashed
        assert len(list((tmp_path / "a").glob("sample_*.mp4"))) == 2  # --num 1 of each class
        assert "is not the autoencoder checkpoint" not in capsys.readouterr().err
        state = torch.load(moved / "autoencoder" / "last.ckpt", weights_only=True)
        state["step"] = state["step"] + 1  # another autoencoder in its place: not taken for it
        torch.save(state, moved / "autoencoder" / "last.ckpt")
        assert cli(*sample_args(trained, tmp_path / "b", ckpt=moved / "generator" / "last.ckpt")) != 0
        err = " ".join(capsys.readouterr().err.split())
        assert (f"the autoencoder checkpoint the generator's latents were encoded with is gone: {recorded} (a moved "
                f"or deleted run folder?); {moved / 'autoencoder' / 'last.ckpt'} is another autoencoder") in err
        assert "give that autoencoder's checkpoint with --ae-ckpt" in err and not (tmp_path / "b").exists()
    finally:
        hidden.rename(recorded)


def test_cuda_without_a_device_is_one_line(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    assert cli(*sample_args(trained, tmp_path / "out", "--accelerator", "cuda")) == 2
    assert "--accelerator cuda: no CUDA device is available here; use --accelerator cpu" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_config_of_another_clip_is_refused(trained, tmp_path, capsys):
    """fps changes what a latent frame means: samples would be written at the wrong rate."""
    assert cli(*sample_args(trained, tmp_path / "out", "--set", "clip.fps=5.0")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "was trained on clips of another [clip] (fps 4.0 there, 5.0 here)" in err
    assert not (tmp_path / "out").exists()
