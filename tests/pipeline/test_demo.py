"""`proav demo` end to end on a tiny config: every stage, the summary, resumption."""

from __future__ import annotations

import json

from proav_core.data import probe_media

from .conftest import cli, tiny_config


def test_demo_runs_every_stage_and_resumes(tmp_path, capsys):
    config = tiny_config(tmp_path)
    args = ("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu")
    assert cli(*args) == 0
    out = capsys.readouterr().out
    run = tmp_path / "runs" / "tiny"
    summary = json.loads((run / "demo_summary.json").read_text())
    assert list(summary["seconds"]) == ["synthesise", "prepare", "train autoencoder", "encode", "train generator",
                                        "sample", "AV-Align"]
    assert sorted(p.parent.name for p in (run / "data").rglob("*.mp4")) == ["circle-drum-0"] * 6 + ["square-wood-1"] * 6
    samples = summary["samples"]
    assert len(samples) == 2  # one per class of the config's syncshapes (num_classes = 2)
    for path in samples:
        info = probe_media(path)
        assert info.fps == 4.0 and (info.width, info.height) == (16, 16)
    scores = summary["av_align"]
    assert list(scores) == ["samples", "real clips", "shuffled real pairs"]
    assert scores["samples"]["num_fake"] == 2
    for name, result in scores.items():
        assert result["available"] and 0.0 <= result["value"] <= 1.0, name
        assert result["details"]["flow_peaks_per_clip"] >= 0 and result["details"]["onsets_per_clip"] >= 0
    assert "AV-Align" in out and "flow peaks / clip" in out and str(run / "samples") in out and "total" in out

    # a second run resumes: nothing is trained again, the same checkpoints are kept
    ckpts = {p: p.stat().st_mtime_ns for p in (run / "autoencoder" / "last.ckpt", run / "generator" / "last.ckpt")}
    assert cli(*args) == 0
    assert {p: p.stat().st_mtime_ns for p in ckpts} == ckpts
    again = json.loads((run / "demo_summary.json").read_text())
    assert again["av_align"]["real clips"]["value"] == scores["real clips"]["value"]


def test_demo_needs_a_syncshapes_dataset_and_writes_nothing(tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--set", "dataset=video_folder", "--set", "dataset.root=x") == 2
    assert "the config's dataset is 'video_folder'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
