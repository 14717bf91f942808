"""benchmarks/bench_cpu_ranks.py: one process against one per core, at the same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from proav_core.errors import UsageError


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_cpu_ranks")


def test_the_global_batch_is_split_evenly_or_refused_naming_the_key(bench):
    assert bench.split_batch(32, 1, "train.generator.batch_size") == 32
    assert bench.split_batch(32, 2, "train.generator.batch_size") == 16
    with pytest.raises(UsageError, match=r"train.autoencoder.batch_size = 4 does not split over 3 processes"):
        bench.split_batch(4, 3, "train.autoencoder.batch_size")


def test_each_run_is_a_cpu_training_command_with_the_split_batch(bench):
    cmd = bench.train_command("autoencoder", Path("configs/demo.toml"), 2, 2, 120, "r2", Path("lat"))
    text = " ".join(cmd)
    assert "train autoencoder configs/demo.toml --accelerator cpu --devices 2 --overwrite" in text
    assert "train.autoencoder.batch_size=2" in text and "train.autoencoder.steps=120" in text
    assert "--latents" not in text and "--compile" not in text  # the autoencoder trains eager, from clips
    gen = " ".join(bench.train_command("generator", Path("c.toml"), 1, 32, 600, "r1", Path("lat")))
    assert "--compile --compile-scope network --latents lat" in gen and "train.generator.batch_size=32" in gen


def test_the_summary_takes_medians_and_the_speedup_over_one_process(bench):
    runs = [{"stage": "autoencoder", "ranks": 1, "seconds_per_step": s, "wall_seconds": 30.0} for s in (0.25, 0.27)]
    runs += [{"stage": "autoencoder", "ranks": 2, "seconds_per_step": s, "wall_seconds": w}
             for s, w in ((0.20, 28.0), (0.22, 30.0))]
    rows = bench.summarise(runs)["autoencoder"]
    assert rows[1]["seconds_per_step"] == pytest.approx(0.26) and rows[1]["speedup_over_one_process"] == 1.0
    assert rows[2]["seconds_per_step"] == pytest.approx(0.21) and rows[2]["wall_seconds"] == 29.0
    assert rows[2]["speedup_over_one_process"] == pytest.approx(0.26 / 0.21, abs=1e-3)


def test_a_missing_latent_cache_is_one_message_before_anything_trains(bench, tmp_path):
    with pytest.raises(UsageError, match=r"--latents .*: no encoded latent cache there"):
        bench.main(["--stages", "generator", "--latents", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
