"""`proav demo` end to end on a tiny config: every stage, the summary, resumption."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from PIL import Image

import proav_core
from proav_core.compiling import compile_unavailable
from proav_core.data import probe_media

from .conftest import cli, tiny_config


def test_demo_runs_every_stage_and_resumes(tmp_path, capsys):
    config = tiny_config(tmp_path)
    # a shape_sync section of its own: the printed note follows its whole-shape threshold
    config.write_text(config.read_text() + '\n[[metrics]]\nname = "shape_sync"\nnum_classes = 2\nmin_shape_iou = 0.7\n')
    args = ("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu",
            "--set", "train.generator.guide_fraction=0.5")
    assert cli(*args) == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "tiny"
    summary = json.loads((run / "demo_summary.json").read_text())
    assert list(summary["seconds"]) == ["synthesise", "prepare", "train autoencoder", "encode", "train generator",
                                        "sample", "score", "a2v and v2a", "contact sheet"]
    assert sorted(p.parent.name for p in (run / "data").rglob("*.mp4")) == ["circle-drum-0"] * 6 + ["square-wood-1"] * 6
    samples = summary["samples"]
    assert len(samples) == 2  # one per class of the config's syncshapes (num_classes = 2)
    for path in samples:
        info = probe_media(path)
        assert info.fps == 4.0 and (info.width, info.height) == (16, 16)
    scores = summary["scores"]
    assert list(scores) == ["samples", "real clips", "shuffled real pairs", "shuffled samples"]
    assert scores["samples"]["av_align"]["num_fake"] == 2 and scores["samples"]["shape_sync"]["num_fake"] == 2
    assert scores["real clips"]["shape_sync"]["num_fake"] == 2  # the test split of 12 clips at 15 %
    for name, by_metric in scores.items():
        align, sync = by_metric["av_align"], by_metric["shape_sync"]
        assert align["available"] and 0.0 <= align["value"] <= 1.0, name
        assert align["details"]["flow_peaks_per_clip"] >= 0 and align["details"]["onsets_per_clip"] >= 0
        assert sync["available"] and 0.0 <= sync["value"] <= 1.0, name
        assert 0.0 <= sync["details"]["single_object_share"] <= 1.0
        assert sync["details"]["labelled_clips"] == sync["num_fake"]  # every clip judged against its class
    # real clips are judged against their own truth: one object in every frame, the right class
    real = scores["real clips"]["shape_sync"]["details"]
    assert real["single_object_share"] == 1.0 and real["video_accuracy"] == 1.0 and real["audio_accuracy"] == 1.0
    assert real["whole_shape_share"] == 1.0 and "whole shape" in " ".join(out.split())  # each one a whole shape
    assert real["steady_shape_share"] == 1.0 and "steady shape" in " ".join(out.split())  # of one size and colour
    assert "(IoU >= 0.7;" in " ".join(out.split())  # the config's threshold, not the default's 0.75
    # the samples' timing mix beside that of every clip of the data (training and held-out: the
    # reference of the samples' set), whose judged patterns are the synthesised clips' true events
    fake, judged = scores["samples"]["shape_sync"]["details"], scores["samples"]["shape_sync"]["num_real"]
    events = json.loads((run / "data" / "events.json").read_text())["files"].values()
    truth = Counter(",".join(map(str, e["event_frames"])) or "none" for e in events)
    assert judged == 12 and fake["real_bounce_patterns"] == pytest.approx({k: n / 12 for k, n in truth.items()})
    assert fake["pattern_overlap"] == pytest.approx(sum(min(v, fake["real_bounce_patterns"].get(k, 0.0))
                                                        for k, v in fake["bounce_patterns"].items()))
    assert "the data's 12 clips" in " ".join(out.split()) and f"overlap {fake['pattern_overlap']:.2f}" in " ".join(out.split())
    assert f"overlap {fake['pattern_overlap']:.2f}" in " ".join(out.split())
    assert set(summary["reconstruction"]) == {"video_psnr", "audio_psnr"}
    from proav_core.machine import describe, device_info  # what the stage times were measured on

    assert summary["machine"] == device_info(torch.device("cpu")) and summary["machine"]["name"]
    assert f"on {describe(summary['machine'])}" in " ".join(out.split())
    # by default the generator trains compiled as one network where torch.compile runs here
    assert summary["compile"] == {"generator": None if compile_unavailable("cpu") else "network"}
    assert all(set(t) == {"value", "threshold", "met"} for t in summary["targets"].values())
    above = summary["sync_above_chance"]
    assert set(above) == {"samples", "real clips"}
    for name, chance in (("samples", "shuffled samples"), ("real clips", "shuffled real pairs")):
        f1, base = scores[name]["shape_sync"]["value"], scores[chance]["shape_sync"]["value"]
        assert above[name] == (None if base >= 1.0 else round((f1 - base) / (1 - base), 3)), name
    for task, generated in (("a2v", "video"), ("v2a", "audio")):  # one example each, zero-shot on this generator
        seen = summary["tasks"][task]
        assert seen["mode"] == "zero-shot" and seen["source_class"] in ("circle-drum-0", "square-wood-1")
        assert seen["prompt"] in ("a video of circle-drum-0", "a video of square-wood-1")  # the probe's reading
        assert seen["cfg_scale"] == 2.0
        assert probe_media(seen["file"]).fps == 4.0 and 0.0 <= seen["sync_f1"] <= 1.0
        assert f"{task} (zero-shot), a held-out {seen['source_class']} clip" in out
    guide = run / "generator" / "guide.ckpt"
    assert summary["guidance"] == {"kind": "autoguidance", "scale": 1.5, "guide": str(guide), "guide_step": 1,
                                   "guide_condition": "prompt"}
    assert (f"samples guided by autoguidance, scale 1.5, away from the generator at step 1 ({guide}) under the "
            "sample's prompt") in " ".join(out.split())
    sheet = Image.open(summary["contact_sheet"])
    # 2 classes x (1 real + 1 generated) rows, then a2v and v2a x (given + generated) rows: 8 rows of 16 px x 2
    assert sheet.width > 16 * 4 * 2 and sheet.height > 8 * 16 * 2
    for text in ("AV-Align", "sync F1", "sync above chance", "flow peaks / clip", "targets", str(run / "samples"),
                 "total", "contact sheet"):
        assert text in out, text

    # a second run resumes: nothing is trained again, the same checkpoints are kept
    ckpts = {p: p.stat().st_mtime_ns for p in (run / "autoencoder" / "last.ckpt", run / "generator" / "last.ckpt")}
    assert cli(*args) == 0
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts
    again = json.loads((run / "demo_summary.json").read_text())
    assert again["scores"]["real clips"] == scores["real clips"]
    assert again["scores"]["samples"] == scores["samples"]  # the same guided samples
    # a finished generator without its guide (trained before guide_fraction was set): CFG, and it says so
    guide.unlink()
    assert cli(*args) == 0
    assert f"no {guide}" in capsys.readouterr().out.replace("\n", "")
    assert json.loads((run / "demo_summary.json").read_text())["guidance"] == {"kind": "classifier-free", "scale": 2.0}


def test_generator_compile_defaults_to_the_network_where_compile_runs(monkeypatch):
    import proav_core.compiling as compiling
    from proav_core.demo import generator_compile
    from proav_core.training.hardware import Hardware

    cpu, said = Hardware(accelerator="cpu"), []
    assert generator_compile(False, cpu, said.append) is None and said == []
    monkeypatch.setattr(compiling, "_probe", lambda device_type: None)
    assert generator_compile(None, cpu, said.append) == generator_compile(True, cpu, said.append) == "network"
    monkeypatch.setattr(compiling, "_probe", lambda device_type: "InvalidCxxCompiler: no [gcc]")
    assert generator_compile(None, cpu, said.append) is None  # auto: eager, with a note
    assert said == ["[yellow]note: torch.compile cannot run on cpu here (InvalidCxxCompiler: no \\[gcc]); the generator "
                    "trains eagerly (a C++ compiler, gcc or clang, lets it compile: about 1.2x faster)[/]"]
    with pytest.raises(compiling.CompileUnavailableError, match="--compile: torch.compile cannot run on cpu here"):
        generator_compile(True, cpu, said.append)  # asked for: refused


def test_too_few_clips_to_shuffle_are_refused_before_training(tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--clips", "8", "--accelerator", "cpu") == 2
    assert "--clips 8 leaves 1 held-out clip(s) (15% of the files); shuffled real pairs" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "tiny" / "autoencoder").exists()


def test_demo_needs_a_syncshapes_dataset_and_writes_nothing(tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--set", "dataset=video_folder", "--set", "dataset.root=x") == 2
    assert "the config's dataset is 'video_folder'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_demo_refuses_to_resume_a_run_made_for_another_clip(tmp_path, capsys):
    config = tiny_config(tmp_path)
    data = tmp_path / "runs" / "tiny" / "data"
    data.mkdir(parents=True)
    stale = {"clip": {"frames": 99, "fps": 4.0, "height": 16, "width": 16, "sample_rate": 8000}, "classes": [],
             "files": {}}
    (data / "events.json").write_text(json.dumps(stale))
    assert cli("demo", "--config", config, "--clips", "12", "--accelerator", "cpu") == 2
    err = capsys.readouterr().err
    assert "events.json holds clips of" in err and "--fresh" in err
    assert json.loads((data / "events.json").read_text()) == stale  # nothing overwritten


def test_demo_refuses_to_resume_a_run_of_other_components(tmp_path, capsys):
    """An autoencoder checkpoint from an earlier config (here: no audio stream decoder, a linear
    head) is refused before anything is written, naming the difference and --fresh."""
    import torch

    from proav_core.training.checkpoint import component_names

    config = tiny_config(tmp_path)
    cfg = proav_core.load_config(config)
    old = {k: v for k, v in component_names(cfg).items() if k.startswith("model.autoencoder")
           and not k.startswith("model.autoencoder.stream_decoders")}
    old["model.autoencoder.decoder.head"] = "patch_linear"
    run = tmp_path / "runs" / "tiny"
    (run / "autoencoder").mkdir(parents=True)
    torch.save({"kind": "autoencoder", "step": 2, "components": old}, run / "autoencoder" / "last.ckpt")
    assert cli("demo", "--config", config, "--clips", "12", "--accelerator", "cpu") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "runs/tiny holds a demo run of another config" in err and "--fresh" in err
    assert "model.autoencoder.decoder.head: checkpoint has 'patch_linear', config has 'conv'" in err
    assert "model.autoencoder.stream_decoders.audio: checkpoint has '(absent)', config has 'plane_decoder'" in err
    assert sorted(p.name for p in run.iterdir()) == ["autoencoder"]  # nothing synthesised or prepared


def test_demo_cli_scores_as_many_samples_per_class_as_run_demo_by_default():
    from proav_core.cli.demo_cmd import command
    from proav_core.demo import SAMPLES_PER_CLASS

    option = next(p for p in command.params if p.name == "samples_per_class")
    assert option.default == SAMPLES_PER_CLASS  # the CLI keeps a literal so --help imports no torch


def test_sync_above_chance_scales_the_margin_over_shuffled_pairs():
    from proav_core.demo_scores import above_chance, sync_above_chance
    from proav_core.interfaces.metrics import MetricResult

    assert above_chance(1.0, 0.614) == pytest.approx(1.0)  # perfect sync, whatever chance is
    assert above_chance(0.614, 0.614) == pytest.approx(0.0)  # no better than another clip's soundtrack
    assert above_chance(0.87, 0.744) == pytest.approx(0.126 / 0.256)
    assert above_chance(0.5, 0.6) == pytest.approx(-0.25)  # below chance stays visible
    assert above_chance(0.9, 1.0) is None and above_chance(None, 0.5) is None and above_chance(0.5, None) is None
    # a higher sync F1 that comes with an even higher chance level scores lower
    assert above_chance(0.912, 0.829) < above_chance(0.876, 0.746)

    sync = {"samples": 0.87, "real clips": 1.0, "shuffled real pairs": 0.614, "shuffled samples": 0.744}
    scores = {k: {"shape_sync": MetricResult("shape_sync", v)} for k, v in sync.items()}
    assert sync_above_chance(scores) == {"samples": 0.492, "real clips": 1.0}
    scores["shuffled samples"]["shape_sync"] = MetricResult("shape_sync", None)  # the metric could not run
    assert sync_above_chance(scores)["samples"] is None


def test_timing_mix_names_the_commonest_patterns_and_the_overlap():
    from proav_core.demo_scores import timing_mix
    from proav_core.interfaces.metrics import MetricResult

    details = {"bounce_patterns": {"2,6": 0.77, "4": 0.08, "6": 0.05, "3,5": 0.05, "3": 0.05},
               "real_bounce_patterns": {"2,6": 0.47, "4": 0.16, "2": 0.12}, "pattern_overlap": 0.6}
    line = timing_mix({"samples": {"shape_sync": MetricResult("shape_sync", 0.9, details=details, num_real=128)}})
    assert line.startswith("timing mix (share of clips per bounce frames): samples 2,6 0.77, 4 0.08, 6 0.05, "
                           "3,5 0.05, ...; the data's 128 clips 2,6 0.47, 4 0.16, 2 0.12; overlap 0.60")
    assert timing_mix({"samples": {"shape_sync": MetricResult("shape_sync", 0.9, details={})}}) == ""
