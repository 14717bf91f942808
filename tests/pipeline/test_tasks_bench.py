"""benchmarks/bench_tasks.py end to end on a tiny demo run: trains the multi-task generator
on the demo's latents, scores zero-shot and trained a2v/v2a, writes JSON."""

from __future__ import annotations

import importlib.util
import json

from .conftest import CONFIGS, cli, tiny_config


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_tasks", CONFIGS.parent / "benchmarks" / "bench_tasks.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_tasks_benchmark_trains_the_multitask_generator_and_scores_both_modes(tmp_path, capsys):
    config = tiny_config(tmp_path)
    assert cli("demo", "--config", config, "--clips", "12", "--samples-per-class", "1", "--accelerator", "cpu") == 0
    out = tmp_path / "tasks.json"
    bench = load_bench()
    assert bench.main(["--config", str(config), "--steps", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["tasks"] == {"joint": 0.5, "a2v": 0.25, "v2a": 0.25} and report["multitask_steps"] == 3
    assert report["held_out_clips"] == 2  # the tiny demo's test split
    modes = {name: (r["a2v"]["mode"], r["v2a"]["mode"]) for name, r in report["runs"].items()}
    assert modes == {"zero-shot (joint generator)": ("zero-shot", "zero-shot"),
                     "trained (multi-task generator)": ("trained", "trained"),
                     "zero-shot (multi-task generator)": ("zero-shot", "zero-shot")}
    for r in report["runs"].values():
        assert r["real pairs"]["av_class_agreement"] == 1.0  # real clips: what is seen is what is heard
        for task in ("a2v", "v2a"):
            for which in ("generated", "shuffled condition"):
                assert 0.0 <= r[task][which]["sync_f1"] <= 1.0
        assert len(r["targets"]) == 6
    assert (tmp_path / "runs" / "tiny-tasks" / "generator" / "last.ckpt").is_file()
    assert "a2v / v2a on 2 held-out syncshapes clips" in capsys.readouterr().out


def test_tasks_benchmark_without_a_demo_run_says_what_to_run(tmp_path):
    import pytest

    from proav_core.errors import UsageError

    config = tiny_config(tmp_path)
    with pytest.raises(UsageError, match="holds no finished demo run; run `proav demo --config"):
        load_bench().main(["--config", str(config)])
