"""benchmarks/bench_tasks.py end to end on a tiny demo run: trains the multi-task generator
on the demo's latents, scores zero-shot and trained a2v/v2a, writes JSON."""

from __future__ import annotations

import json

import pytest
import torch

from .conftest import cli, tiny_config


@pytest.fixture
def bench(benchmark_script):
    return benchmark_script("bench_tasks")


def test_tasks_benchmark_trains_the_multitask_generator_and_scores_both_modes(bench, tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu") == 0
    out = tmp_path / "tasks.json"
    assert bench.main(["--config", str(config), "--steps", "3", "--seeds", "0", "1", "--given-label", "probe", "none",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["tasks"] == {"joint": 0.5, "a2v": 0.25, "v2a": 0.25} and report["multitask_steps"] == 3
    assert report["held_out_clips"] == 2  # the tiny demo's test split
    assert report["device"]["type"] == "cpu" and report["device"]["cpu_capability"]
    modes = {name: (r["a2v"]["mode"], r["v2a"]["mode"]) for name, r in report["runs"].items()}
    expect = {"zero-shot (joint generator)": ("zero-shot", "zero-shot"),
              "trained (multi-task generator)": ("trained", "trained"),
              "zero-shot (multi-task generator)": ("zero-shot", "zero-shot")}
    assert modes == expect | {f"{name}, no prompt": mode for name, mode in expect.items()}
    labels = {name: r["given_label"] for name, r in report["runs"].items()}
    assert {n for n, label in labels.items() if label == "none"} == {f"{name}, no prompt" for name in expect}
    for r in report["runs"].values():
        assert r["real pairs"]["av_class_agreement"] == 1.0  # real clips: what is seen is what is heard
        for task in ("a2v", "v2a"):
            for which in ("generated", "shuffled condition"):
                assert 0.0 <= r[task][which]["sync_f1"] <= 1.0
            assert r[task]["sync_above_chance"] is None or r[task]["sync_above_chance"] <= 1.0
        assert len(r["targets"]) == 6
        assert r["seeds"] == [0, 1] and [p["seed"] for p in r["per_seed"]] == [0, 1]
        per_seed = [p["v2a/generated"]["sync_f1"] for p in r["per_seed"]]
        assert r["v2a"]["generated"]["sync_f1"] == round(sum(per_seed) / 2, 3)  # the figure is the seeds' mean
    multi = tmp_path / "runs" / "tiny-tasks" / "generator" / "last.ckpt"
    assert multi.is_file()
    assert "a2v / v2a on 2 held-out syncshapes clips" in capsys.readouterr().out

    # a finished multi-task generator given by path is scored as the trained model, nothing trained
    import shutil

    other = tmp_path / "elsewhere" / "generator"
    shutil.copytree(multi.parent, other)
    shutil.rmtree(multi.parent.parent)
    again = tmp_path / "given.json"
    assert bench.main(["--config", str(config), "--multitask-ckpt", str(other / "last.ckpt"), "--out", str(again)]) == 0
    given = json.loads(again.read_text())
    assert given["multitask_run"] == str(other / "last.ckpt") and given["joint_run"] == report["joint_run"]
    assert given["tasks"] == report["tasks"] and given["multitask_steps"] == 3  # read from the checkpoint
    assert given["runs"]["trained (multi-task generator)"]["a2v"]["mode"] == "trained"
    assert not (tmp_path / "runs" / "tiny-tasks").exists()

    # what it cannot score is refused, naming the option, before anything is trained
    import pytest

    from proav_core.errors import UsageError

    runs = tmp_path / "runs" / "tiny"
    cases = {"a generator trained for joint alone": runs / "generator" / "last.ckpt",  # the tiny demo trains joint
             "is an autoencoder checkpoint; --multitask-ckpt needs a generator": runs / "autoencoder" / "last.ckpt",
             "--multitask-ckpt: checkpoint not found": tmp_path / "missing.ckpt"}
    for message, path in cases.items():
        with pytest.raises(UsageError, match=message):
            bench.main(["--config", str(config), "--multitask-ckpt", str(path), "--out", str(tmp_path / "refused.json")])
    with pytest.raises(UsageError, match="give one or the other"):
        bench.main(["--config", str(config), "--multitask-ckpt", str(runs / "generator" / "last.ckpt"), "--steps", "3"])
    assert not (tmp_path / "runs" / "tiny-tasks").exists() and not (tmp_path / "runs" / "tiny-joint").exists()
    assert not (tmp_path / "refused.json").exists()


def test_a_demo_that_trains_tasks_is_the_trained_model_and_a_joint_generator_is_trained_for_zero_shot(bench, tmp_path):
    tiny = tiny_config(tmp_path / "base")
    config = tmp_path / "tiny.toml"
    config.write_text(f'extends = "{tiny}"\noutput_dir = "{tmp_path / "runs"}"\n'
                      '[train.generator]\ntasks = { joint = 0.4, a2v = 0.3, v2a = 0.3 }\n')
    assert cli("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu") == 0
    runs = tmp_path / "runs"
    # --no-joint: nothing is trained, the zero-shot figures are the multi-task generator's alone
    lean = tmp_path / "no-joint.json"
    assert bench.main(["--config", str(config), "--no-joint", "--out", str(lean)]) == 0
    lean_report = json.loads(lean.read_text())
    assert lean_report["joint_run"] is None and not (runs / "tiny-joint").exists()
    assert list(lean_report["runs"]) == ["trained (multi-task generator)", "zero-shot (multi-task generator)"]

    out = tmp_path / "tasks.json"
    assert bench.main(["--config", str(config), "--steps", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["tasks"] == {"joint": 0.4, "a2v": 0.3, "v2a": 0.3}  # the demo's own mix
    assert report["multitask_run"] == str(runs / "tiny" / "generator" / "last.ckpt")  # the demo's generator
    assert report["joint_run"] == str(runs / "tiny-joint" / "generator" / "last.ckpt")
    assert not (runs / "tiny-tasks").exists()
    joint = torch.load(runs / "tiny-joint" / "generator" / "last.ckpt", map_location="cpu", weights_only=False)
    assert joint["tasks"] == {"joint": 1.0} and joint["step"] == 3

    # the demo's run folder moved after its latents were encoded (the autoencoder path they
    # recorded is gone): the generators trained on them decode with the demo's autoencoder
    moved = tmp_path / "moved"
    runs.rename(moved)
    config.write_text(config.read_text().replace(f'"{runs}"', f'"{moved}"'))
    again = tmp_path / "moved.json"
    assert bench.main(["--config", str(config), "--steps", "3", "--out", str(again)]) == 0
    assert json.loads(again.read_text())["joint_run"] == str(moved / "tiny-joint" / "generator" / "last.ckpt")
    modes = {name: (r["a2v"]["mode"], r["v2a"]["mode"]) for name, r in report["runs"].items()}
    assert modes == {"zero-shot (joint generator)": ("zero-shot", "zero-shot"),
                     "trained (multi-task generator)": ("trained", "trained"),
                     "zero-shot (multi-task generator)": ("zero-shot", "zero-shot")}


def test_tasks_benchmark_without_a_demo_run_says_what_to_run(bench, tmp_path):
    import pytest

    from proav_core.errors import UsageError

    config = tiny_config(tmp_path)
    with pytest.raises(UsageError, match="holds no finished demo run; run `proav demo --config"):
        bench.main(["--config", str(config)])


def figures(**known):
    from proav_core.benchmarking.tasks_eval import FIGURES

    return {k: known.get(k, 0.5) for k in FIGURES}


def report(seed, a2v_sync, v2a_class, onsets=1.0):
    sets = {"generated": figures(sync_f1=a2v_sync), "shuffled condition": figures(sync_f1=0.25)}
    return {"clips": 3, "hold": "trained", "seed": seed, "cfg_scale": 1.0, "clips_made": {},
            "a2v": {"mode": "trained", "seconds": 1.0, **sets},
            "v2a": {"mode": "trained", "seconds": 2.0, "generated": figures(av_class_agreement=v2a_class, onsets_per_clip=onsets),
                    "shuffled condition": figures()},
            "real pairs": figures(sync_f1=1.0)}


def test_mean_over_seeds_averages_every_figure_and_keeps_each_seed():
    import pytest

    from proav_core.benchmarking.tasks_eval import mean_over_seeds, task_targets

    merged = mean_over_seeds([report(0, 0.6, 0.8), report(3, 0.9, 1.0, onsets=None)])
    assert merged["seeds"] == [0, 3] and "seed" not in merged and "clips_made" not in merged
    assert merged["a2v"]["generated"]["sync_f1"] == 0.75 and merged["v2a"]["generated"]["av_class_agreement"] == 0.9
    assert merged["v2a"]["generated"]["onsets_per_clip"] is None  # one seed had none: no mean
    assert merged["a2v"]["seconds"] == 2.0 and merged["v2a"]["mode"] == "trained"
    assert merged["per_seed"][1]["a2v/generated"]["sync_f1"] == 0.9
    # above chance, of the means: a2v (0.75 - 0.25) / (1 - 0.25); v2a's outputs sit at their baseline (0.5)
    assert merged["a2v"]["sync_above_chance"] == 0.667 and merged["v2a"]["sync_above_chance"] == 0.0
    targets = task_targets(merged)  # judged on the means
    assert targets["v2a class agreement >= 0.9"]["met"] and not targets["a2v sync F1 >= 0.8 x real pairs'"]["met"]
    with pytest.raises(ValueError, match="at least one report"):
        mean_over_seeds([])
