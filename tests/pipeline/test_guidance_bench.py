"""benchmarks/bench_guidance.py on a tiny demo run: samples its generator at several guidance
settings and seeds, judges them with shape_sync, writes JSON; bad settings are refused."""

from __future__ import annotations

import json

import pytest

from proav_core.errors import UsageError

from .conftest import cli, run_folder, tiny_config


@pytest.fixture
def bench(benchmark_script):
    return benchmark_script("bench_guidance")


def test_guidance_settings_are_parsed_or_refused_naming_the_option(bench):
    assert bench.guidance_kwargs("auto:1.5") == {"guide_scale": 1.5, "guide_condition": "null"}
    assert bench.guidance_kwargs("auto-prompt:2") == {"guide_scale": 2.0, "guide_condition": "prompt"}
    assert bench.guidance_kwargs("cfg:2") == {"cfg_scale": 2.0}
    assert bench.guidance_kwargs("none") == {}
    for bad in ("auto", "auto:x", "cfg:-1", "none:2", "guide:2", "auto-prompt"):
        with pytest.raises(UsageError, match=f"--guidance {bad}: give auto:SCALE"):
            bench.guidance_kwargs(bad)


def test_guidance_benchmark_samples_each_setting_and_seed(bench, tmp_path):
    config = tiny_config(tmp_path)
    with pytest.raises(UsageError, match="holds no finished demo run"):
        bench.main(["--config", str(config), "--out", str(tmp_path / "none.json")])
    assert cli("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu",
               "--set", "train.generator.guide_fraction=0.5") == 0
    out = tmp_path / "guidance.json"
    assert bench.main(["--config", str(config), "--guidance", "auto:2", "none", "--seeds", "0", "1",
                       "--samples-per-class", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["settings"]) == ["auto:2", "none"] and report["seeds"] == [0, 1]
    assert report["guide_step"] == 1  # half of the tiny generator's 2 steps
    assert report["settings"]["auto:2"]["kwargs"] == {"guide_scale": 2.0, "guide_condition": "null"}
    assert report["data_clips"] == 12  # the timing mix's reference: every clip of the demo's data
    for rep in report["settings"].values():
        assert [p["seed"] for p in rep["per_seed"]] == [0, 1]
        for key in bench.FIGURES:
            values = [p[key] for p in rep["per_seed"]]
            if key == "sync_above_chance" and None in values:  # a seed whose shuffled pairs line up perfectly
                assert rep[key] is None
                continue
            assert all(v is None or -1.0 <= v <= 1.0 for v in values), (key, values)
            if None not in values:
                assert rep[key]["mean"] == pytest.approx(sum(values) / 2, abs=1e-4)
                assert rep[key]["min"] == min(values) and rep[key]["max"] == max(values)
    # another generator trained on the demo's latents, given by path: sampled with the demo's autoencoder
    run = run_folder(config)
    other = tmp_path / "elsewhere" / "generator"
    other.mkdir(parents=True)
    (other / "last.ckpt").write_bytes((run / "generator" / "last.ckpt").read_bytes())
    with pytest.raises(UsageError, match="--guidance auto...: .*elsewhere/generator/guide.ckpt is missing"):
        bench.main(["--config", str(config), "--generator", str(other / "last.ckpt"), "--guidance", "auto:2"])
    with pytest.raises(UsageError, match="--generator .*missing.ckpt: no such file"):
        bench.main(["--config", str(config), "--generator", str(tmp_path / "missing.ckpt")])
    assert bench.main(["--config", str(config), "--generator", str(other / "last.ckpt"), "--guidance", "cfg:2",
                       "--seeds", "0", "--samples-per-class", "1", "--out", str(tmp_path / "cfg.json")]) == 0
    given = json.loads((tmp_path / "cfg.json").read_text())
    assert given["guide_step"] is None and given["generator"] == str(other / "last.ckpt")
    assert given["autoencoder"] == str(run / "autoencoder" / "last.ckpt")
    assert given["data_clips"] == 12 and sum(given["data_bounce_patterns"].values()) == pytest.approx(1, abs=0.01)
