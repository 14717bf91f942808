"""benchmarks/bench_peers.py end to end on a tiny demo run: two generators trained on the
demo's latents for the same steps, sampled, scored with shape_sync and the offline FVD."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from proav_core.demo_scores import above_chance
from proav_core.errors import UsageError
from proav_core.sampling import SamplingPipeline

from .conftest import cli, tiny_config


@pytest.fixture
def bench(benchmark_script):
    return benchmark_script("bench_peers")


def peer_config(folder, config, body):
    path = folder / f"peer_{abs(hash(body))}.toml"
    path.write_text(f'extends = "{config}"\n{body}')
    return path


def test_peers_benchmark_trains_each_generator_the_same_steps_and_scores_it(bench, tmp_path, capsys, monkeypatch):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu") == 0
    tokens = peer_config(tmp_path, config, '[model.stacker]\nname = "tokens"\n[model.generator]\nname = "token_dit"\n'
                                          'preset = "tiny"\n')
    prior = peer_config(tmp_path, config, '[model.stacker]\nname = "tokens"\n[model.generator]\nname = "javisdit"\n'
                                         'depth = 1\nhidden = 16\nheads = 2\nprior = "hist_sypo"\n'
                                         '[model.prior]\nname = "hist_sypo"\nwidth = 16\ndepth = 1\n'
                                         '[train.prior]\nsteps = 2\nbatch_size = 4\n')
    frozen = peer_config(tmp_path, config, '[model.stacker]\nname = "tokens"\n[model.generator]\nname = "av_dit"\n'
                                          'preset = "tiny"\ntrain = "adapters"\n')
    out = tmp_path / "peers.json"
    argv = ["--demo-config", str(config), "--generators", f"stdit={config}", str(tokens), f"javisdit_prior={prior}",
            f"av_dit_2step={frozen}", "--steps", "3",
            "--samples-per-class", "1", "--fvd-real-clips", "3", "--out", str(out)]
    from proav_plugins.metrics.shape_sync import ShapeSync

    judged = []
    judge = ShapeSync.judge
    monkeypatch.setattr(ShapeSync, "judge", lambda m, *a, **k: judged.append(1) or judge(m, *a, **k))
    assert bench.main(argv) == 0
    # the 12 clips of the data (the timing mix's reference) are judged once, not once per generator:
    # 2 held-out + 2 shuffled pairs + 12, then per generator 2 samples + 2 shuffled samples
    assert len(judged) == 2 + 2 + 12 + 4 * (2 + 2)
    monkeypatch.setattr(ShapeSync, "judge", judge)
    report = json.loads(out.read_text())
    assert report["steps"] == 3 and report["held_out_clips"] == 2 and list(report["generators"]) == ["stdit", "token_dit",
                                                                                           "javisdit_prior",
                                                                                           "av_dit_2step"]
    assert report["reference"]["real clips"]["sync_f1"] == 1.0  # real clips: every bounce has its onset
    assert report["device"]["type"] == "cpu" and report["device"]["cpu_capability"]  # what the times were measured on
    assert report["reference"]["held-out clips"]["fvd"]["num_real"] == 3
    data_mix = report["reference"]["data timing mix"]  # every clip of the demo's data, training and held-out
    assert data_mix["clips"] == 12 and sum(data_mix["bounce_patterns"].values()) == pytest.approx(1.0, abs=0.01)
    for label, g in report["generators"].items():
        assert g["curve"][-1]["step"] == g["steps"]
        if label == "javisdit_prior":  # its prior trained first in its run folder, then frozen in the generator
            assert g["first_stage"]["stage"] == "prior" and g["first_stage"]["train_minutes"] is not None
            assert g["generator"]["prior_checkpoint"].endswith(f"tiny-peer-{label}/prior/last.ckpt")
            assert 0 < g["parameters"]["trainable"] < g["parameters"]["total"] and g["steps"] == 3
        elif label == "av_dit_2step":  # AV-DiT's recipe: 1 backbone step (its own run), then 2 on the frozen backbone
            assert g["first_stage"] == {"stage": "backbone", "steps": 1, "train_minutes": g["first_stage"]["train_minutes"]}
            backbone = tmp_path / "runs" / f"tiny-peer-{label}-backbone" / "generator" / "last.ckpt"
            assert backbone.is_file() and g["generator"]["backbone_checkpoint"] == str(backbone)
            assert g["steps"] == 2 and 0 < g["parameters"]["trainable"] < g["parameters"]["total"]
        else:
            assert g["generator"]["name"] == label and g["first_stage"] is None and g["steps"] == 3
            assert g["parameters"]["trainable"] == g["parameters"]["total"] > 0
        assert g["batch"] == 2 and g["s_per_sample_batched"] > 0 and g["s_one_sample"] > 0
        assert set(g["shape_sync"]) == {"single_object_share", "whole_shape_share", "steady_shape_share",
                                         "video_accuracy", "audio_accuracy", "sync_f1",
                                         "background_saturation", "modal_pattern_share", "pattern_overlap",
                                         "bounce_patterns"}
        assert set(g["shuffled samples"]) == set(g["shape_sync"])  # each sample's video with another's sound
        mix = g["shape_sync"]["bounce_patterns"]  # the samples' timing mix against the data's
        assert g["shape_sync"]["pattern_overlap"] == pytest.approx(
            sum(min(v, data_mix["bounce_patterns"].get(k, 0.0)) for k, v in mix.items()), abs=0.01)
        assert g["shuffled samples"]["pattern_overlap"] is None  # scored without a reference
        chance = above_chance(g["shape_sync"]["sync_f1"], g["shuffled samples"]["sync_f1"])
        assert g["sync_above_chance"] == (None if chance is None else round(chance, 3))
        assert g["fvd"]["num_fake"] == 2 and g["fvd"]["num_real"] == 3 and g["fvd"]["value"] >= 0
        assert g["kvd"]["num_fake"] == 2 and g["kvd"]["value"] is not None
        assert (tmp_path / "runs" / f"tiny-peer-{label}" / "generator" / "last.ckpt").is_file()
    assert (tmp_path / "runs" / "tiny-peers.png").is_file()
    assert "2 held-out syncshapes clips, 3 steps each" in capsys.readouterr().out
    # a second call reuses the finished runs instead of training again
    mtime = (tmp_path / "runs" / "tiny-peer-stdit" / "generator" / "last.ckpt").stat().st_mtime_ns
    assert bench.main([*argv, "--no-fvd"]) == 0
    assert (tmp_path / "runs" / "tiny-peer-stdit" / "generator" / "last.ckpt").stat().st_mtime_ns == mtime
    assert not {"fvd", "kvd"} & set(json.loads(out.read_text())["generators"]["stdit"])
    # a run planned for other steps starts over rather than resuming into another schedule
    capsys.readouterr()
    assert bench.main([*argv[:-2], "--generators", f"stdit={config}", "--steps", "4", "--no-fvd",
                       "--out", str(out)]) == 0
    assert "holds a run planned for 3 steps; starting over with 4" in capsys.readouterr().out
    assert json.loads(out.read_text())["generators"]["stdit"]["curve"][-1]["step"] == 4
    # --guide-scale: each run autoguided by its own guide.ckpt, as the demo samples; CFG then stays at 1
    guided = peer_config(tmp_path, config, "[train.generator]\nguide_fraction = 0.5\n")
    loaded = []
    load_guide = SamplingPipeline.load_guide
    monkeypatch.setattr(SamplingPipeline, "load_guide",
                        lambda pipe, path: loaded.append(Path(path)) or load_guide(pipe, path))
    common = [*argv[:-2], "--steps", "4", "--no-fvd", "--out", str(out), "--guide-scale", "2"]
    conditions = []
    sample = SamplingPipeline.sample
    monkeypatch.setattr(SamplingPipeline, "sample",
                        lambda pipe, *a, **k: conditions.append(k.get("guide_condition")) or sample(pipe, *a, **k))
    assert bench.main([*common, "--generators", f"guided={guided}", "--guide-condition", "prompt"]) == 0
    report = json.loads(out.read_text())
    assert (report["guide_scale"], report["cfg_scale"], report["guide_condition"]) == (2.0, 1.0, "prompt")
    assert conditions and set(conditions) == {"prompt"}  # every sampling call, the demo's way
    assert loaded == [tmp_path / "runs" / "tiny-peer-guided" / "generator" / "guide.ckpt"] and loaded[0].is_file()
    assert "autoguidance 2 (guide under the prompt)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(UsageError, match="stdit: no .*guide.ckpt for autoguidance.*guide_fraction"):
        bench.main([*common, "--generators", f"stdit={config}"])  # its config keeps no guide
    with pytest.raises(UsageError, match="leave the CFG scale at 1"):
        bench.main([*common, "--generators", f"guided={guided}", "--cfg-scale", "2"])
    # --seeds: each generator trained and sampled at every seed, and the spread over them
    capsys.readouterr()
    assert bench.main([*argv[:-2], "--generators", f"stdit={config}", "--steps", "4", "--no-fvd",
                       "--out", str(out), "--seeds", "0", "1"]) == 0
    report = json.loads(out.read_text())
    assert report["seeds"] == [0, 1] and list(report["generators"]) == ["stdit_s0", "stdit_s1"]
    for seed in (0, 1):
        resolved = tomllib.loads((tmp_path / "runs" / f"tiny-peer-stdit_s{seed}" / "generator" / "config.toml").read_text())
        assert resolved["seed"] == seed
    runs = [report["generators"][f"stdit_s{seed}"] for seed in (0, 1)]
    f1 = [r["shape_sync"]["sync_f1"] for r in runs]
    assert report["seed_spread"]["stdit"]["sync_f1"] == {"mean": round(sum(f1) / 2, 3), "min": min(f1), "max": max(f1)}
    assert "mean (min-max) over seeds 0, 1" in capsys.readouterr().out


def test_seed_spread_summarises_each_generator_over_its_seeds():
    from proav_core.benchmarking.peers import SPREAD_FIGURES, seed_spread

    def run(f1, overlap, above):
        return {"shape_sync": {**dict.fromkeys(SPREAD_FIGURES, 1.0), "sync_f1": f1, "pattern_overlap": overlap},
                "sync_above_chance": above}

    generators = {"stdit_s0": run(0.96, 0.65, 0.81), "stdit_s1": run(0.97, 0.83, 0.89), "stdit_s2": run(0.95, 0.86, 0.83),
                  "token_dit_s0": run(0.96, 0.80, 0.85), "token_dit_s2": run(0.99, 0.86, 0.96),  # seed 1 missing
                  "uniform": run(0.99, 0.81, 0.98)}  # not a seeded label
    spread = seed_spread(generators, [0, 1, 2])
    assert list(spread) == ["stdit"]
    assert spread["stdit"]["seeds"] == [0, 1, 2]
    assert spread["stdit"]["pattern_overlap"] == {"mean": 0.78, "min": 0.65, "max": 0.86}
    assert spread["stdit"]["sync_above_chance"] == {"mean": 0.843, "min": 0.81, "max": 0.89}
    assert spread["stdit"]["video_accuracy"] == {"mean": 1.0, "min": 1.0, "max": 1.0}
    assert seed_spread(generators, [0]) == {}  # one seed is no spread


def test_peers_benchmark_refuses_a_generator_on_another_autoencoder(bench, tmp_path):
    config = tiny_config(tmp_path)
    other = peer_config(tmp_path, config, "[model.autoencoder]\nwidth = 24\n")
    with pytest.raises(UsageError, match="its autoencoder or clip differs from the demo config's"):
        bench.main(["--demo-config", str(config), "--generators", str(other)])


def test_peers_benchmark_without_a_demo_run_says_what_to_run(bench, tmp_path):
    config = tiny_config(tmp_path)
    with pytest.raises(UsageError, match="holds no finished demo run .*run `proav demo --config"):
        bench.main(["--demo-config", str(config), "--generators", str(config), "--no-fvd"])
    with pytest.raises(UsageError, match="runs/other holds no finished demo run"):  # --demo-set picks another run
        bench.main(["--demo-config", str(config), "--demo-set", "name=other", "--generators", str(config)])
