"""benchmarks/bench_mel_texture.py end to end on the tiny pipeline's trained autoencoder: the
floor it stores with --run equals texture_floor's own rendering, and the split's shares follow
from the stored PSNRs."""

from __future__ import annotations

import json

import pytest

from proav_core.config import load_config
from proav_plugins.data.syncshapes_texture import texture_floor, variance_shares

from .conftest import run_folder


@pytest.fixture
def bench_main(benchmark_script):
    return benchmark_script("bench_mel_texture").main


def test_run_split_stores_the_floor_of_the_same_draws(bench_main, trained, tmp_path, capsys):
    out = tmp_path / "texture.json"
    bench_main([str(trained), "--clips", "4", "--run", str(run_folder(trained)), "--out", str(out)])
    report = json.loads(out.read_text())
    cfg = load_config(trained)
    floor, level = texture_floor(cfg, clips=4, draws=2)  # rendered again, independently
    assert report["ambient_level"] == level == cfg.dataset.params.ambient_level
    assert report["per_class"] == floor and set(floor) == {*load_classes(cfg), "all"}
    split = report["autoencoder"]["per_class"]
    assert split.keys() == floor.keys() and split["all"]["clips"] == 4
    for name, row in split.items():
        assert row["floor_psnr"] == floor[name]["floor_psnr"]
        noise, content = variance_shares(row["recon_vs_own_draw"], row["recon_vs_other_draw"], row["floor_psnr"])
        # the stored PSNRs are rounded to 0.01 dB: a share moves by up to 0.3 % of MSE / Var
        slack = 0.003 * 10 ** ((row["floor_psnr"] - row["recon_vs_other_draw"]) / 10)
        assert row["noise_captured"] == pytest.approx(noise, abs=slack)
        assert row["content_error"] == pytest.approx(content, abs=slack)
        assert row["content_error"] > 1  # two training steps: far from the content, as it should be
    printed = capsys.readouterr().out
    assert "content-only floor" in printed and "noise captured" in printed


def test_fewer_than_two_draws_is_refused(bench_main, trained, tmp_path):
    with pytest.raises(SystemExit, match="--draws: at least 2"):
        bench_main([str(trained), "--draws", "1", "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()


def load_classes(cfg) -> list[str]:
    from proav_core.build import build_component

    rep = build_component(cfg.audio_repr, clip=cfg.clip)
    return list(build_component(cfg.dataset, "dataset", clip=cfg.clip, audio_repr=rep, split="test").classes)
