"""`proav sample --task a2v/v2a` on the tiny trained run: real files in, mp4s out, the given
side unchanged, zero-shot and trained generators, and every bad input refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import proav_core
from proav_core.data import read_clip, write_mp4
from proav_core.data.condition_inputs import resize_frames
from proav_core.sampling import SamplingPipeline
from proav_core.tasks import TASKS, given_mask

from .conftest import cli, run_folder, tiny_config

SR, FPS, FRAMES = 8000, 4.0, 4  # the tiny config's clip: 1 s


def ckpt(config: Path) -> Path:
    return run_folder(config) / "generator" / "last.ckpt"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 2.5 s wav (two clips), a sounding and a silent 2 s video, and bad files."""
    folder = tmp_path_factory.mktemp("media")
    g = torch.Generator().manual_seed(0)
    wave = (torch.rand(int(2.5 * SR), generator=g) - 0.5) * 0.4
    sf.write(folder / "song.wav", wave.numpy(), SR)
    video = torch.rand(3, 8, 24, 20, generator=g) * 2 - 1  # other size than the clip: resized
    write_mp4(folder / "sounding.mp4", video, FPS, wave[: 2 * SR], SR)
    write_mp4(folder / "silent.mp4", video, FPS)
    sf.write(folder / "short.wav", wave[: SR // 2].numpy(), SR)
    (folder / "noise.wav").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    return {p.stem: p for p in folder.iterdir()}


def task_args(config: Path, out: Path, *extra) -> list:
    return ["sample", config, "--ckpt", ckpt(config), "--steps", "2", "--out", out, *extra]


def test_a2v_from_a_wav_writes_one_sample_per_clip_carrying_the_given_audio(trained, media, tmp_path, capsys):
    out = tmp_path / "a2v"
    assert cli(*task_args(trained, out, "--task", "a2v", "--audio", media["song"])) == 0
    assert "a2v runs zero-shot (the generator was trained for joint only)" in capsys.readouterr().out
    mp4s = sorted(out.glob("*.mp4"))
    assert [p.name for p in mp4s] == ["sample_000_a2v_song_0_00s.mp4", "sample_001_a2v_song_1_00s.mp4"]
    cfg = proav_core.load_config(trained)
    given, _ = sf.read(media["song"], dtype="float32")
    for k, path in enumerate(mp4s):
        video, waveform = read_clip(path, cfg.clip)
        assert video.shape == (3, FRAMES, 16, 16)
        expect = torch.from_numpy(given[k * SR:(k + 1) * SR])
        assert torch.corrcoef(torch.stack([waveform, expect]))[0, 1] > 0.95  # the given soundtrack (AAC)


def test_inputs_are_resampled_and_cut_into_back_to_back_clips(media, tmp_path):
    from proav_core import ClipSpec
    from proav_core.data.condition_inputs import read_audio_clips, read_video_clips

    clip = ClipSpec(frames=FRAMES, fps=FPS, height=16, width=16, sample_rate=SR)
    t = torch.arange(int(2.2 * 22050)) / 22050
    sf.write(tmp_path / "tone.wav", (0.5 * torch.sin(2 * torch.pi * 440 * t)).numpy(), 22050)  # 2.2 s at 22.05 kHz
    tone = read_audio_clips(tmp_path / "tone.wav", clip)
    assert tone.shape == (2, SR)  # two whole clips, resampled to 8 kHz; the last 0.2 s dropped
    spectrum = torch.fft.rfft(tone[1]).abs()
    assert int(spectrum.argmax()) == 440  # 1 s at 8 kHz: bin k is k Hz
    track = read_audio_clips(media["sounding"], clip)  # the audio track of a video file
    given, _ = sf.read(media["song"], dtype="float32")
    second = torch.from_numpy(given[SR:2 * SR])
    assert track.shape == (2, SR) and torch.corrcoef(torch.stack([track[1], second]))[0, 1] > 0.95
    frames = read_video_clips(media["sounding"], clip)
    assert frames.shape == (2, 3, FRAMES, 16, 16) and frames.min() >= -1 and frames.max() <= 1


def test_v2a_from_a_silent_video_keeps_its_frames(trained, media, tmp_path):
    out = tmp_path / "v2a"
    assert cli(*task_args(trained, out, "--task", "v2a", "--video", media["silent"])) == 0
    mp4s = sorted(out.glob("*.mp4"))
    assert [p.name for p in mp4s] == ["sample_000_v2a_silent_0_00s.mp4", "sample_001_v2a_silent_1_00s.mp4"]
    cfg = proav_core.load_config(trained)
    from proav_core.data.condition_inputs import read_video_clips

    given = read_video_clips(media["silent"], cfg.clip)  # (2, 3, 4, 16, 16)
    for k, path in enumerate(mp4s):
        video, waveform = read_clip(path, cfg.clip)
        assert (video - given[k]).abs().mean() < 0.05  # the given frames, through H.264
        assert waveform.abs().max() > 0  # a generated soundtrack


def test_resize_fits_a_given_video_of_another_aspect(trained, media, tmp_path, capsys):
    out = tmp_path / "pad"
    assert cli(*task_args(trained, out, "--task", "v2a", "--video", media["silent"], "--resize", "pad")) == 0
    cfg = proav_core.load_config(trained)
    video, _ = read_clip(sorted(out.glob("*.mp4"))[0], cfg.clip)  # 24 x 20 fitted as 16 x 13, bars left and right
    assert video[..., :1].mean() < -0.9 and video[..., 14:].mean() < -0.9 and video[..., 2:13].mean() > -0.5
    capsys.readouterr()
    for task in (("--task", "joint"), ("--task", "a2v", "--audio", media["song"])):
        assert cli(*task_args(trained, tmp_path / "other", *task, "--resize", "pad")) != 0
        assert f"--resize fits a given --video: it goes with --task v2a, not {task[1]}" in capsys.readouterr().err
        assert not (tmp_path / "other").exists()


def test_given_planes_come_out_of_sampling_unchanged(trained):
    cfg = proav_core.load_config(trained)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    wave = (torch.rand(2, cfg.clip.num_samples, generator=torch.Generator().manual_seed(2)) - 0.5) * 0.5
    captured = {}
    decode = pipe.autoencoder.decode_latents
    pipe.autoencoder.decode_latents = lambda planes: captured.setdefault("planes", planes) and decode(planes)
    out = pipe.sample(task="a2v", audio=wave, seed=1)
    audio = pipe.audio_repr.encode(wave)
    expect = pipe.autoencoder.encode_modality("audio", audio)
    for name, plane in expect.items():  # after normalising and back: the encoded audio planes themselves
        assert torch.allclose(captured["planes"][name], plane, atol=1e-5), name
    assert torch.equal(out.waveform, wave) and torch.equal(out.audio, audio)  # the given side as given
    assert out.video.shape == (2, 3, FRAMES, 16, 16) and out.mode == "zero-shot"


def test_tensor_inputs_longer_than_a_clip_are_cut_like_files(trained):
    cfg = proav_core.load_config(trained)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    s = cfg.clip.num_samples
    wave = (torch.rand(2 * s + s // 3, generator=torch.Generator().manual_seed(4)) - 0.5) * 0.5  # 2.33 clips
    out = pipe.sample(task="a2v", audio=wave, seed=1)
    assert torch.equal(out.waveform, wave[: 2 * s].reshape(2, s)) and out.video.shape[0] == 2
    frames = torch.rand(3, 2 * FRAMES + 1, 16, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    out = pipe.sample(task="v2a", video=frames, seed=1)
    assert torch.equal(out.video[1], frames[:, FRAMES: 2 * FRAMES]) and out.waveform.shape == (2, s)
    big = torch.nn.functional.interpolate(frames[:, :FRAMES], scale_factor=2, mode="nearest")  # (3, T, 32, 32)
    out = pipe.sample(task="v2a", video=big, seed=1)  # fitted to 16 x 16, as a file's frames are
    assert out.video.shape == (1, 3, FRAMES, 16, 16)
    assert torch.equal(out.video[0], resize_frames(big, 16, 16, "crop"))  # the given side the model saw
    assert (out.video[0] - frames[:, :FRAMES]).abs().mean() < 0.25  # about the original (noise, smoothed)
    with pytest.raises(proav_core.UsageError, match=rf"a2v: the waveform tensor is \(2, 7\); give \(S,\) with S >= {s}"):
        pipe.sample(task="a2v", audio=torch.zeros(2, 7))
    with pytest.raises(proav_core.UsageError, match=r"v2a: the video tensor is \(3, 2, 16, 16\); give \(3, T', H', W'\) "
                                                    r"with T' >= 4 frames"):
        pipe.sample(task="v2a", video=torch.zeros(3, FRAMES // 2, 16, 16))


def test_a2v_without_an_audio_representation_says_to_use_joint(trained):
    cfg = proav_core.load_config(trained)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    pipe.audio_repr = None  # as a config without [audio_repr] builds it
    with pytest.raises(proav_core.ConfigError, match=r"--task a2v needs an \[audio_repr\] section.*use --task joint"):
        pipe.sample(task="a2v", audio=torch.zeros(1, cfg.clip.num_samples))


def test_the_same_seed_gives_the_same_a2v_sample_and_hold_trained_needs_a_trained_task(trained):
    cfg = proav_core.load_config(trained)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    wave = torch.zeros(1, cfg.clip.num_samples)
    a, b = pipe.sample(task="a2v", audio=wave, seed=3), pipe.sample(task="a2v", audio=wave, seed=3)
    assert torch.equal(a.video, b.video)
    with pytest.raises(proav_core.UsageError, match="--hold trained: the generator was trained for joint, not a2v"):
        pipe.sample(task="a2v", audio=wave, hold="trained")


def test_a_sampler_that_takes_given_gets_it_and_can_project_its_noisy_state(trained):
    cfg = proav_core.load_config(trained)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    received = {}

    def noisy_euler(velocity, x0, *, cond, null_cond=None, cfg_scale=1.0, callback=None, given=None):
        received["given"] = given
        x, steps = x0, 4
        for i in range(steps):
            t = torch.full((x.shape[0],), i / steps)
            x = x + velocity(x, t, cond) / steps + 0.3 * torch.randn_like(x)  # a stochastic step
            x = given.project(x, x0, (i + 1) / steps)
            held = given.value(x0, (i + 1) / steps)
            received.setdefault("held", []).append(torch.equal(x[:, given.mask], held[:, given.mask]))
        return x

    pipe.sampler = noisy_euler
    wave = (torch.rand(1, cfg.clip.num_samples, generator=torch.Generator().manual_seed(4)) - 0.5) * 0.5
    pipe.sample(task="a2v", audio=wave)
    assert received["given"] is not None and received["given"].hold == "path" and all(received["held"])


@pytest.fixture(scope="module")
def multitask(trained, tmp_path_factory) -> Path:
    """The tiny run's autoencoder and latents, and a generator trained for joint, a2v and v2a."""
    folder = tmp_path_factory.mktemp("multitask")
    config = tiny_config(folder, gen_steps=3)
    run = run_folder(config)
    run.mkdir(parents=True)
    for part in ("autoencoder", "latents"):
        shutil.copytree(run_folder(trained) / part, run / part)
    assert cli("train", "generator", config, "--accelerator", "cpu",
               "--set", "train.generator.tasks={joint = 2, a2v = 1, v2a = 1}") == 0
    return config


def test_a_multitask_generator_records_its_tasks_and_samples_them_as_trained(multitask, media, tmp_path, capsys):
    cfg = proav_core.load_config(multitask)
    raw = torch.load(ckpt(multitask), map_location="cpu", weights_only=False)
    assert raw["tasks"] == {"joint": 0.5, "a2v": 0.25, "v2a": 0.25}
    assert raw["ema"]["shadow.tasks.embedding"].shape == (len(TASKS), cfg.model.conditioner.params.dim)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(multitask))
    assert pipe.trained_tasks == ["joint", "a2v", "v2a"]
    out = tmp_path / "v2a"
    assert cli(*task_args(multitask, out, "--task", "v2a", "--video", media["sounding"])) == 0
    assert "v2a runs as trained" in capsys.readouterr().out
    assert len(list(out.glob("*.mp4"))) == 2
    video = torch.stack([read_clip(p, cfg.clip)[0] for p in sorted(out.glob("*.mp4"))])
    trained, zero_shot = (pipe.sample(task="v2a", video=video, hold=h, seed=0) for h in ("auto", "zero_shot"))
    assert (trained.mode, zero_shot.mode) == ("trained", "zero-shot")
    assert torch.equal(trained.video, video) and torch.equal(zero_shot.video, video)
    assert not torch.allclose(trained.audio, zero_shot.audio)  # given planes clean + task embedding vs the path


def test_resuming_with_other_tasks_is_refused(multitask, capsys):
    assert cli("train", "generator", multitask, "--accelerator", "cpu", "--resume",
               "--set", "train.generator.steps=4") != 0
    err = capsys.readouterr().err
    assert "was trained with train.generator.tasks = {'joint': 0.5, 'a2v': 0.25, 'v2a': 0.25}" in err
    assert "the config now says {'joint': 1.0}" in err


def test_a_given_summary_is_recorded_loaded_for_sampling_and_kept_on_resume(trained, media, tmp_path, capsys):
    config = tiny_config(tmp_path, gen_steps=3)
    run = run_folder(config)
    run.mkdir(parents=True)
    for part in ("autoencoder", "latents"):
        shutil.copytree(run_folder(trained) / part, run / part)
    mix = ["--set", "train.generator.tasks={joint = 2, a2v = 1, v2a = 1}"]
    assert cli("train", "generator", config, "--accelerator", "cpu", *mix,
               "--set", "train.generator.given_summary=plane_stats") == 0
    raw = torch.load(ckpt(config), map_location="cpu", weights_only=False)
    assert raw["given_summary"] == "plane_stats"
    assert {"shadow.tasks.summary.proj.video.weight", "shadow.tasks.summary.proj.audio.weight"} <= set(raw["ema"])
    cfg = proav_core.load_config(config)
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(config))
    assert pipe.flow.tasks.given_summary == "plane_stats"
    weight = pipe.flow.tasks.summary.proj["video"].weight
    assert torch.equal(weight, raw["ema"]["shadow.tasks.summary.proj.video.weight"])
    video = torch.rand(2, 3, FRAMES, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    before = pipe.sample(task="v2a", video=video, seed=0)
    with torch.no_grad():
        weight.normal_()  # a summary that says something: the trained v2a sample hears it
    after = pipe.sample(task="v2a", video=video, seed=0)
    assert torch.equal(before.video, after.video) and not torch.allclose(before.audio, after.audio)
    capsys.readouterr()
    assert cli("train", "generator", config, "--accelerator", "cpu", "--resume", *mix,
               "--set", "train.generator.steps=4") != 0
    assert "was trained with train.generator.given_summary = 'plane_stats', the config now says 'none'" in \
        capsys.readouterr().err


def test_task_samples_are_prompted_with_the_class_the_probe_reads(trained, media, tmp_path, capsys):
    cfg = proav_core.load_config(trained)
    raw = torch.load(ckpt(trained), map_location="cpu", weights_only=False)
    planes = sorted(raw["latents"]["plane_shapes"])
    assert {m: p["planes"] for m, p in raw["class_probe"].items()} == {
        m: [n for n in planes if n.startswith(m)] for m in ("video", "audio")}
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt(trained))
    video = torch.rand(3, 3, FRAMES, 16, 16, generator=torch.Generator().manual_seed(4)) * 2 - 1
    probed = pipe.sample(task="v2a", video=video, seed=0)
    encoded = pipe.normalizer.normalize(pipe.autoencoder.encode_modality("video", video))
    read = [pipe.classes[int(k)] for k in pipe.class_probes["video"].predict(encoded)]
    assert probed.prompts == [f"a video of {c}" for c in read]
    assert f"prompted with the class the video probe reads: {', '.join(read)}" in probed.note
    unprompted = pipe.sample(task="v2a", video=video, seed=0, given_label="none")
    assert unprompted.prompts == [""] * 3 and "probe" not in unprompted.note
    assert not torch.allclose(probed.audio, unprompted.audio)  # the prompt reaches the generator
    chosen = pipe.sample([f"a video of {pipe.classes[0]}"], task="v2a", video=video, seed=0)
    assert chosen.prompts == [f"a video of {pipe.classes[0]}"] * 3  # a prompt given wins
    with pytest.raises(proav_core.UsageError, match="--given-label: unknown value 'prob'.*closest: 'probe'"):
        pipe.sample(task="v2a", video=video, given_label="prob")
    pipe.class_probes = {}  # a checkpoint from before the probes
    old = pipe.sample(task="v2a", video=video, seed=0)
    assert old.prompts == [""] * 3 and "no prompt: this checkpoint has no class probe" in old.note
    out = tmp_path / "v2a"
    assert cli(*task_args(trained, out, "--task", "v2a", "--video", media["sounding"], "--given-label", "none")) == 0
    assert "probe" not in capsys.readouterr().out and len(list(out.glob("*.mp4"))) == 2


def test_a_generator_checkpoint_from_before_tasks_resumes_as_joint(trained, tmp_path):
    config = tiny_config(tmp_path, gen_steps=3)
    run = run_folder(config)
    run.mkdir(parents=True)
    for part in ("autoencoder", "latents", "generator"):
        shutil.copytree(run_folder(trained) / part, run / part)
    raw = torch.load(ckpt(config), map_location="cpu", weights_only=False)
    del raw["tasks"]  # as written before the tasks existed
    torch.save(raw, ckpt(config))
    assert cli("train", "generator", config, "--accelerator", "cpu", "--resume") == 0
    resumed = torch.load(ckpt(config), map_location="cpu", weights_only=False)
    assert resumed["step"] == 3 and resumed["tasks"] == {"joint": 1.0}
    assert SamplingPipeline.from_checkpoint(proav_core.load_config(config), ckpt(config)).trained_tasks == ["joint"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("case, expected", [
    (("--task", "a2v", "--audio", "silent"), "silent.mp4: no audio stream (the file has no audio track"),
    (("--task", "a2v", "--audio", "silent"), "; give a wav, or any file with an audio track, of at least 1 s"),
    (("--task", "v2a", "--video", "song"), "song.wav: no video stream"),
    (("--task", "v2a", "--video", "song"), "; give a video file of at least 1 s"),
    (("--task", "a2v", "--audio", "noise"), "--audio "),
    (("--task", "a2v", "--audio", "noise"), "noise.wav: not a media file"),
    (("--task", "a2v", "--audio", "short"), "short.wav: shorter than one clip (it holds 0.500 s; a clip is 4 frames"),
    (("--task", "a2v", "--audio", "missing"), "missing.wav: unreadable path (no such file)"),
    (("--task", "a2v"), "--task a2v needs --audio FILE"),
    (("--task", "v2a", "--audio", "song"), "--task v2a generates the audio; give --video only"),
    (("--task", "joint", "--audio", "song"), "--task joint takes neither"),
    (("--task", "a2x", "--audio", "song"), "--task: unknown task 'a2x'; known tasks: joint, a2v, v2a; closest: a2v"),
    (("--task", "a2v", "--audio", "song", "--hold", "sometimes"), "--hold: unknown mode 'sometimes'"),
    (("--task", "a2v", "--audio", "song", "--num", "3"), "--num goes with --task joint; --task a2v makes one sample "
                                                         "per clip of the given file"),
])
def test_bad_input_is_one_line_naming_the_file_or_option_and_writes_nothing(trained, media, tmp_path, capsys,
                                                                            case, expected):
    args = [media.get(a, media["song"].parent / "missing.wav") if a in media or a == "missing" else a for a in case]
    out = tmp_path / "out"
    assert cli(*task_args(trained, out, *args)) != 0
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not out.exists()


@pytest.fixture(scope="module")
def video_only(tmp_path_factory) -> Path:
    """Config path of a tiny run whose autoencoder encodes video alone (no audio planes)."""
    config = tiny_config(tmp_path_factory.mktemp("video-only"))
    for args in (("train", "autoencoder"), ("encode",), ("train", "generator")):
        assert cli(*args, config, *VIDEO_ONLY_SET, "--accelerator", "cpu") == 0, args
    return config


VIDEO_ONLY_SET = ("--set", 'model.autoencoder.modalities=["video"]')


@pytest.mark.parametrize("given", [("--task", "a2v", "--audio", "song"), ("--task", "v2a", "--video", "sounding")])
def test_a_task_the_latent_cannot_express_is_one_line_and_writes_nothing(video_only, media, tmp_path, capsys, given):
    task, option, name = given[1], given[2], given[3]
    out = tmp_path / "out"
    assert cli(*task_args(video_only, out, *VIDEO_ONLY_SET, "--task", task, option, media[name])) != 0
    err = capsys.readouterr().err.strip()
    assert f"--task {task} needs both audio and video planes" in err and "no audio planes" in err, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists()
    assert cli(*task_args(video_only, tmp_path / "joint", *VIDEO_ONLY_SET, "--num", "1")) == 0  # joint still works
