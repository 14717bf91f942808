"""benchmarks/bench_peers_speed.py: every generator's step and sampling call, measured alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proav_core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_peers_speed")


def test_overrides_go_to_their_generator_and_an_unknown_label_is_named(bench):
    sets = bench.parse_sets(["a:model.generator.depth=1", "b:seed=3", "a:seed=2"], ["a", "b", "c"])
    assert sets == {"a": ["model.generator.depth=1", "seed=2"], "b": ["seed=3"], "c": []}
    with pytest.raises(UsageError, match=r"--set 'd:seed=1': expected LABEL:KEY=VALUE with LABEL one of a, b"):
        bench.parse_sets(["d:seed=1"], ["a", "b"])
    with pytest.raises(UsageError, match="LABEL:KEY=VALUE"):
        bench.parse_sets(["seed=1"], ["a"])


def test_the_backbone_step_is_set_before_the_overrides_given(bench):
    given = ["av_dit_backbone:seed=1", "x:seed=2"]
    assert bench.label_overrides(["av_dit_backbone", "x"], given) == {
        "av_dit_backbone": ["model.generator.train=backbone", "seed=1"], "x": ["seed=2"]}
    assert bench.label_overrides(["x"], []) == {"x": []}


def test_each_generator_gets_its_step_sample_and_decode_per_mode(bench, tmp_path, capsys):
    out = tmp_path / "speed.json"
    status = bench.main(["--generators", f"stdit={ROOT / 'configs' / 'demo.toml'}",
                         f"dit={ROOT / 'configs' / 'token_dit_tiny.toml'}",
                         "--set", "stdit:model.generator.depth=1", "--set", "dit:model.generator.depth=1",
                         "--modes", "eager", "--batch-size", "2", "--sample-batch", "2", "--warmup", "0",
                         "--repeats", "1", "--sample-repeats", "1", "--threads", "1", "--out", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    assert set(report["generators"]) == {"stdit", "dit"}  # no av_dit_backbone here: its default left out
    for label, g in report["generators"].items():
        assert g["overrides"] == ["model.generator.depth=1"]
        assert g["parameters"]["total"]["generator"] > 0
        for part in ("step", "sample", "decode"):
            assert g["eager"][part]["median"] > 0 and g["eager"][part]["batch"] == 2
    assert "s/step eager" in capsys.readouterr().out
