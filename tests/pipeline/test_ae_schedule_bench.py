"""benchmarks/bench_ae_schedule.py on the tiny pipeline's config: one autoencoder run per
(steps, lr) pair on the same synthesised clips, stage 2 at the config's share of each run, the
held-out curve in the JSON, finished runs read back instead of trained again."""

from __future__ import annotations

import json

import pytest
import torch

from .conftest import tiny_config


@pytest.fixture
def bench_main(benchmark_script):
    return benchmark_script("bench_ae_schedule").main


def test_each_run_trains_its_own_schedule_and_is_read_back_when_finished(bench_main, tmp_path, capsys):
    config = tiny_config(tmp_path, ae_steps=2, disc_start=1)  # stage 2 over the second half
    out = tmp_path / "schedule.json"
    argv = ["--config", str(config), "--runs", "4:1e-3", "6:3e-3:5", "--eval-every", "2", "--clips", "12",
            "--out", str(out)]
    assert bench_main(argv) == 0
    report = json.loads(out.read_text())
    assert report["device"]["type"] == "cpu" and report["device"]["cpu_capability"]
    first, second = report["runs"]
    assert (first["steps"], first["lr"], first["stage2_from"]) == (4, 1e-3, 2)  # the config's share
    assert (second["steps"], second["lr"], second["stage2_from"]) == (6, 3e-3, 5)  # given
    assert [row["step"] for row in first["curve"]] == [2, 4]
    assert [row["step"] for row in second["curve"]] == [2, 4, 6]
    for run in report["runs"]:
        last = run["curve"][-1]
        assert run["final"] == {"video": round(last["val/video_psnr"], 2), "audio": round(last["val/audio_psnr"], 2)}
        assert run["seconds_per_step"] > 0
    runs = tmp_path / "runs" / "tiny-ae-schedule" / "runs"
    ckpt = runs / "tiny-ae-schedule-6-0.003-stage2-5" / "autoencoder" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["step"] == 6 and saved["config"]["train"]["autoencoder"]["optim"]["lr"] == 3e-3
    assert saved["config"]["model"]["autoencoder"]["loss"]["disc_start"] == 5
    assert "held-out PSNR" in capsys.readouterr().out

    stamp = ckpt.stat().st_mtime_ns
    assert bench_main(argv) == 0  # both runs finished: read back, nothing trained
    assert ckpt.stat().st_mtime_ns == stamp
    assert json.loads(out.read_text())["runs"] == report["runs"]


@pytest.mark.parametrize("bad", ["900", "900:x", "0:1e-3", "900:-1", "900:1e-3:901", "900:1e-3:6:7"])
def test_a_malformed_run_is_refused_before_anything_is_written(bench_main, tmp_path, bad):
    with pytest.raises(SystemExit, match="--runs: "):
        bench_main(["--config", str(tiny_config(tmp_path)), "--runs", bad, "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x.json").exists()
