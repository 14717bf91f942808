"""The Fabric autoencoder loop on the real MDSA: both optimisers, stages, EMA, resume."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.errors import CheckpointError, UsageError
from proav_core.training.autoencoder_loop import train_autoencoder
from proav_core.training.checkpoint import peek_checkpoint, seed_step
from proav_core.training.hardware import Hardware

from .conftest import tiny_config

CPU = Hardware(accelerator="cpu", devices="1")
STATE_KEYS = ("model", "ema", "discriminators")


def train(folder, steps, **kwargs):
    cfg = proav_core.load_config(tiny_config(folder, ae_steps=steps, disc_start=1))
    return train_autoencoder(cfg, CPU, **kwargs)


def test_resume_is_bit_identical_across_both_stages(tmp_path):
    """4 steps straight == 2 steps + resume + 2 steps; stage 2 (discriminators) starts at step 1,
    so both optimisers, both schedulers and the discriminators cross the resume."""
    straight = peek_checkpoint(train(tmp_path / "a", 4) / "last.ckpt")
    train(tmp_path / "b", 2)
    resumed = peek_checkpoint(train(tmp_path / "b", 4, resume=True) / "last.ckpt")
    assert straight["step"] == resumed["step"] == 4
    for key in STATE_KEYS:
        assert straight[key].keys() == resumed[key].keys()
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} differs after resume"
    for key in ("optimizer", "optimizer_d"):
        s, r = straight[key]["state"], resumed[key]["state"]
        assert s.keys() == r.keys() and s
        assert all(torch.equal(s[i]["exp_avg_sq"], r[i]["exp_avg_sq"]) for i in s), key
    assert straight["scheduler"] == resumed["scheduler"] and straight["scheduler_d"] == resumed["scheduler_d"]


def test_both_stages_train_and_are_logged(tmp_path):
    """disc_start = 1: step 0 trains the autoencoder alone, steps 1-2 the discriminators too."""
    cfg = proav_core.load_config(tiny_config(tmp_path / "0"))
    seed_step(cfg.seed, -1, 0)  # as the loop does before building
    autoencoder = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
    zero = {"model": autoencoder.state_dict(), "discriminators": autoencoder.training_step().discriminators.state_dict()}
    one, three = (peek_checkpoint(train(tmp_path / str(n), n) / "last.ckpt") for n in (1, 3))
    changed = lambda a, b, key: [n for n in a[key] if not torch.equal(a[key][n], b[key][n])]  # noqa: E731
    assert changed(zero, one, "model") and not changed(zero, one, "discriminators")
    assert changed(one, three, "discriminators")
    assert changed(three, {"ema": {f"shadow.{n}": v for n, v in three["model"].items()}}, "ema")
    out = tmp_path / "3" / "runs" / "tiny" / "autoencoder"
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().strip().splitlines()]
    header, rows = rows[0], rows[1:]
    stage, d_loss = header.index("stage"), header.index("d_loss")
    assert [r[stage] for r in rows] == ["1.0", "2.0", "2.0"]
    assert rows[0][d_loss] == "" and all(float(r[d_loss]) > 0 for r in rows[1:])
    assert (out / "loss.png").stat().st_size > 0 and (out / "config.toml").is_file()


def test_existing_run_needs_resume_and_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*autoencoder/last.ckpt"):
        train(tmp_path, 1, resume=True)
    out = train(tmp_path, 1)
    before = (out / "last.ckpt").read_bytes()
    with pytest.raises(UsageError, match="pass --resume to continue that run or --overwrite"):
        train(tmp_path, 1)
    assert (out / "last.ckpt").read_bytes() == before


def test_held_out_psnr_curve_is_logged_against_training_time(tmp_path):
    """eval_every = 2 over 5 steps: val PSNR at steps 2, 4 and 5 (the end), equal to a direct
    evaluation of the final EMA weights; train_s grows with the steps."""
    from proav_core.training.autoencoder_loop import held_out_psnr
    from proav_core.training.encode import load_autoencoder

    path = tiny_config(tmp_path, ae_steps=5, disc_start=100)
    cfg = proav_core.load_config(path, overrides=["train.autoencoder.eval_every=2", "train.autoencoder.log_every=3"])
    out = train_autoencoder(cfg, CPU)
    import csv

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 3, 4, 5]
    evaluated = [r for r in rows if r["val/video_psnr"]]
    assert [int(r["step"]) for r in evaluated] == [2, 4, 5]
    times = [float(r["train_s"]) for r in rows]
    assert all(0 < a < b for a, b in zip(times, times[1:]))
    test = proav_core.build_component(cfg.dataset, clip=cfg.clip, split="test",
                                      audio_repr=proav_core.build_component(cfg.audio_repr, clip=cfg.clip))
    direct = held_out_psnr(load_autoencoder(cfg), test, cfg.train.autoencoder.eval_clips, torch.device("cpu"))(5)
    assert float(evaluated[-1]["val/video_psnr"]) == pytest.approx(direct["val/video_psnr"], abs=1e-4)
    assert float(evaluated[-1]["val/audio_psnr"]) == pytest.approx(direct["val/audio_psnr"], abs=1e-4)


@pytest.mark.parametrize(("total", "count", "expected"), [
    (154, 4, [0, 51, 102, 153]), (5, 10, [0, 1, 2, 3, 4]), (7, 1, [0]), (0, 3, [])])
def test_spread_indices_cover_the_split_from_first_to_last(total, count, expected):
    from proav_core.training.autoencoder_loop import spread_indices

    assert spread_indices(total, count) == expected


def test_held_out_psnr_reads_clips_spread_over_a_class_ordered_split():
    """A prepared test split is ordered by class folder: 12 clips of 3 classes, 3 evaluated,
    one of each class (the first three would be all class 0)."""
    from proav_core.training.autoencoder_loop import held_out_psnr

    class Ordered(torch.utils.data.Dataset):
        def __init__(self):
            self.read: list[int] = []

        def __len__(self):
            return 12

        def __getitem__(self, i):
            self.read.append(i)
            return {"video": torch.zeros(3, 2, 8, 8), "audio": torch.zeros(2, 8, 8), "label": i // 4}

    class Identity(torch.nn.Module):
        modalities = ("video", "audio")

        def encode_latents(self, video, audio):
            return video, audio

        def decode_latents(self, latents):
            return latents

    data = Ordered()
    scores = held_out_psnr(Identity(), data, 3, torch.device("cpu"))(0)
    assert data.read == [0, 6, 11] and [i // 4 for i in data.read] == [0, 1, 2]
    assert set(scores) == {"val/video_psnr", "val/audio_psnr"}


def test_psnr_report_groups_clips_by_label_with_known_answers():
    """A model that reconstructs zeros: a clip of constant value c has MSE c^2, PSNR
    10 log10(2^2 / c^2) with PSNR's data range 2; class names come from dataset.classes."""
    import math

    from proav_core.training.autoencoder_loop import psnr_report

    values = [0.5, 0.5, 0.1, 0.5, 0.1]  # labels 0, 0, 1, 0, 1

    class Constant(torch.utils.data.Dataset):
        classes = ["loud", "quiet"]

        def __len__(self):
            return len(values)

        def __getitem__(self, i):
            c = values[i]
            return {"video": torch.full((3, 2, 4, 4), c), "audio": torch.full((2, 4, 4), c), "label": int(c < 0.3)}

    class Zeros(torch.nn.Module):
        modalities = ("video", "audio")

        def encode_latents(self, video, audio):
            return video, audio

        def decode_latents(self, latents):
            return tuple(torch.zeros_like(x) for x in latents)

    overall, out = psnr_report(Zeros(), Constant(), torch.device("cpu"), batch_size=2)
    assert list(out) == ["loud", "quiet"] and out["loud"]["clips"] == 3 and out["quiet"]["clips"] == 2
    for name, c in (("loud", 0.5), ("quiet", 0.1)):
        expected = 10 * math.log10(4 / c**2)
        assert out[name]["video_psnr"] == pytest.approx(expected, abs=0.01)
        assert out[name]["audio_psnr"] == pytest.approx(expected, abs=0.01)
    mean = (3 * 10 * math.log10(4 / 0.25) + 2 * 10 * math.log10(4 / 0.01)) / 5  # the mean over all 5 clips
    assert overall == pytest.approx({"video_psnr": mean, "audio_psnr": mean}, abs=1e-4)
