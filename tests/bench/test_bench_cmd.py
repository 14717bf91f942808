"""`proav bench`: the rows, the JSON fields, FLOPs against the analytic count, skipped parts,
errors. Figures are checked for presence and consistency, never for speed."""

from __future__ import annotations

import json

import pytest

from proav_core.cli import main

from .conftest import CONFIGS, FAST, TINY, bench, rows

ALL_ROWS = {"ae_step_stage1", "ae_step_stage2", "generator_step", "sample", "decode", "waveform"}


def test_every_row_holds_positive_figures(tiny_report):
    got = rows(tiny_report)
    assert set(got) == ALL_ROWS
    for key, row in got.items():
        assert row["seconds"]["min"] > 0 and row["seconds"]["median"] >= row["seconds"]["min"], key
        assert len(row["seconds"]["all"]) == 1, key
        assert row["flops"] > 0 and row["flops_per_second"] > 0, key
        assert row["flops_per_second"] == pytest.approx(row["flops"] / row["seconds"]["median"])
        assert row["peak_memory_bytes"] > 0 and row["memory_scope"], key
    assert got["generator_step"]["batch"] == 2 and got["ae_step_stage1"]["batch"] == 2
    assert got["sample"]["batch"] == 1
    # decode is part of the sample, the waveform part of the decode
    assert got["sample"]["flops"] > got["decode"]["flops"] > got["waveform"]["flops"]
    # stage 2 adds the discriminators' forward and backward to stage 1
    assert got["ae_step_stage2"]["flops"] > got["ae_step_stage1"]["flops"]


def test_report_describes_the_run(tiny_report):
    r = tiny_report
    assert r["config"] == "generator_tiny" and r["precision"] == "32-true" and r["threads"] == 1
    assert r["device"]["type"] == "cpu" and r["device"]["name"] and r["device"]["torch"]
    s = r["settings"]
    assert (s["batch_size"], s["sample_batch"], s["steps"], s["cfg_scale"], s["repeats"]) == (2, 1, 2, 4.0, 1)
    assert set(r["parameters"]) == {"autoencoder", "discriminators", "generator", "conditioner"}
    assert all(n > 0 for n in r["parameters"].values())
    # nothing frozen in stdit: every generator and conditioner parameter trains
    assert r["trainable_parameters"] == {k: r["parameters"][k] for k in ("generator", "conditioner")}
    assert r["skipped"] == []
    # the tiny config's six planes are all 4x4 (patch 1x2x2): 6 frames of 4 tokens, no padding
    # (the padded share of the paper's stack6, 1/3, is tested in tests/generation/test_stdit_padding.py)
    assert r["generator_tokens"] == {"tokens_per_sample": 24, "padded_token_share": 0.0,
                                     "computed_tokens_per_sample": 24, "padding": "skip"}


def test_generator_forward_flops_match_the_analytic_count(tiny_report):
    """describe() counts the Linear layers and attention's QK^T and AV; FlopCounterMode counts
    every matmul, so one forward agrees to rounding (norms and softmax are in neither)."""
    check = tiny_report["checks"]["generator_forward_flops"]
    assert check["measured"] == pytest.approx(check["analytic"], rel=0.02)


def test_generator_step_is_about_three_forwards(tiny_report):
    """backward ~ 2 x forward; it skips the gradient w.r.t. the input latents (the patch
    embedding's input gradient), so the count falls a little short of 3 x forward."""
    step = rows(tiny_report)["generator_step"]
    assert step["generator_samples"] == 2
    assert 0.9 < step["flops"] / step["analytic_flops"] <= 1.0


def test_sample_generator_part_matches_the_analytic_count(tiny_report):
    got = rows(tiny_report)
    sample = got["sample"]
    assert sample["generator_samples"] == 2 * 2  # 2 steps, conditional + null batched
    generator_part = sample["flops"] - got["decode"]["flops"]
    assert generator_part == pytest.approx(sample["analytic_flops"], rel=0.02)


def test_sample_flops_scale_with_the_steps(tiny_report, tiny_report_4_steps):
    two, four = rows(tiny_report), rows(tiny_report_4_steps)
    assert set(four) == {"sample", "decode", "waveform"}
    assert four["sample"]["generator_samples"] == 2 * two["sample"]["generator_samples"]
    assert four["decode"]["flops"] == two["decode"]["flops"]
    gen_two = two["sample"]["flops"] - two["decode"]["flops"]
    gen_four = four["sample"]["flops"] - four["decode"]["flops"]
    assert gen_four == 2 * gen_two
    skipped = {s["item"]: s["reason"] for s in tiny_report_4_steps["skipped"]}
    assert skipped == {"autoencoder steps": "--skip autoencoder", "generator step": "--skip generator"}


def test_mdsa_only_config_measures_the_autoencoder(tmp_path, capsys):
    checkpointing = "model.autoencoder.decoder.checkpoint_blocks=1"
    code, report = bench(tmp_path / "mdsa.json", "mdsa_tiny.toml", "--no-flops", "--set", checkpointing)
    assert code == 0 and report["overrides"][-1] == checkpointing  # the JSON says what was measured
    text = capsys.readouterr().out
    assert set(rows(report)) == {"ae_step_stage1", "ae_step_stage2"}
    assert all(row["flops"] is None and row["seconds"]["min"] > 0 for row in report["rows"])
    skipped = {s["item"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"generator step", "sample"}
    assert "[model.generator]" in skipped["sample"] and "[objective]" in skipped["sample"]
    assert "skipped generator step" in text and "ae step, stage 2" in text
    assert f"skipped sample: {skipped['sample']}" in text  # section names in brackets printed as such
    assert set(report["parameters"]) == {"autoencoder", "discriminators"}


def test_default_json_path_is_in_the_run_folder(tmp_path):
    runs = tmp_path / "runs"
    code = main(["bench", str(CONFIGS / "mdsa_tiny.toml"), *TINY, *FAST, "--no-flops",
                 "--set", f"output_dir='{runs}'", "--set", "model.autoencoder.loss.disc_start=0"])
    assert code == 0
    report = json.loads((runs / "mdsa_tiny" / "bench-cpu.json").read_text())
    assert rows(report).keys() == {"ae_step_stage2"}  # disc_start = 0: no stage 1
    assert {"item": "ae step, stage 1", "reason": "disc_start = 0: training starts in stage 2"} in report["skipped"]


@pytest.mark.parametrize(("args", "expected"), [
    (("--accelerator", "tpu"), "--accelerator 'tpu' is not known"),
    (("--precision", "7-bogus"), "--precision 7-bogus"),
    (("--skip", "autoencoder", "--skip", "generator", "--skip", "sample"), "--skip leaves nothing to measure"),
])
def test_bad_hardware_is_a_usage_error(tmp_path, capsys, args, expected):
    code = main(["bench", str(CONFIGS / "mdsa_tiny.toml"), *args, "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err
    assert not (tmp_path / "x.json").exists()



def test_a_frozen_part_shows_in_the_trainable_counts(tmp_path, capsys):
    """av_dit's backbone step freezes the inserted parts (43,744 of the tiny config's 236,016
    parameters, whatever the clip size): the generator step optimises, and the report counts,
    the backbone alone."""
    code, r = bench(tmp_path / "av_dit.json", "peers/av_dit_tiny.toml", "--steps", "1", "--skip", "autoencoder",
                    "--skip", "sample", "--set", "model.generator.train=backbone")
    assert code == 0
    assert r["parameters"]["generator"] == 236_016
    assert r["trainable_parameters"] == {"generator": 236_016 - 43_744, "conditioner": r["parameters"]["conditioner"]}
    assert "192,272" in capsys.readouterr().out
