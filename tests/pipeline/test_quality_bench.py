"""The quality benchmark's parts: budgets, the reconstruction run and its curve, the Table-5
ablation configs and the ordering check."""

from __future__ import annotations

import re

import pytest

from proav_core.benchmarking.ablations import PAPER_TABLE5, ablation_config, paper_order_holds
from proav_core.benchmarking.quality import budget_config, calibrate, git_commit, loop_seconds_per_step, run_reconstruction
from proav_core.config import load_config
from proav_core.errors import ConfigError, UsageError
from proav_core.training.hardware import Hardware

from .conftest import CONFIGS, tiny_config

ABLATIONS = CONFIGS / "ablations"


@pytest.mark.parametrize("row", list(PAPER_TABLE5))
def test_every_table5_row_applies_to_another_base(row):
    base = load_config(CONFIGS / "demo.toml")
    cfg = ablation_config(base, ABLATIONS / f"{row}.toml")
    assert cfg.name == f"demo-{row}"
    assert cfg.clip == base.clip and cfg.train == base.train  # the base's size and budget are kept
    attention = cfg.model.autoencoder.params.attention
    expected = {"no_mt_selfattn": ("temporal", "identity"), "no_gcm_attn": ("cross", "identity"),
                "no_bi_block_crossattn": ("decoder", "identity")}
    base_attention = base.model.autoencoder.params.attention
    for part in ("spatial", "temporal", "cross", "decoder"):
        want = expected[row][1] if row in expected and expected[row][0] == part else getattr(base_attention, part).name
        assert getattr(attention, part).name == want, part
    base_kl = base.model.autoencoder.params.loss.kl_weight
    assert base_kl > 0 and cfg.model.autoencoder.params.loss.kl_weight == (0.0 if row == "no_kl" else base_kl)


def test_a_missing_ablation_file_is_named(tmp_path):
    base = load_config(CONFIGS / "demo.toml")
    with pytest.raises(ConfigError, match="ablation file not found: .*nope.toml"):
        ablation_config(base, tmp_path / "nope.toml")


def test_paper_order_counts_agreeing_pairs():
    perfect = {"full": 25.0, "no_mt_selfattn": 24.0, "no_gcm_attn": 23.0, "no_bi_block_crossattn": 22.0, "no_kl": 21.0}
    assert paper_order_holds(perfect) == {"paper_order": list(PAPER_TABLE5), "measured_order": list(PAPER_TABLE5),
                                          "agreeing_pairs": 10, "pairs": 10, "holds": True}
    swapped = {**perfect, "no_kl": 24.5}  # no_kl now beats three rows it should lose to
    verdict = paper_order_holds(swapped)
    assert verdict["agreeing_pairs"] == 7 and not verdict["holds"]
    assert verdict["measured_order"] == ["full", "no_kl", "no_mt_selfattn", "no_gcm_attn", "no_bi_block_crossattn"]


def test_budget_config_fills_each_share(tmp_path):
    cfg = load_config(tiny_config(tmp_path))
    run = budget_config(cfg, {"autoencoder": 0.5, "generator": 0.25}, minutes=2, ae_share=0.75)
    assert run.train.autoencoder.steps == 180 and run.train.generator.steps == 120  # 90 s / 0.5, 30 s / 0.25
    assert run.train.autoencoder.eval_every == 18 and run.name == cfg.name
    with pytest.raises(UsageError, match="--ae-share must lie strictly between 0 and 1"):
        budget_config(cfg, {"autoencoder": 0.5, "generator": 0.25}, minutes=2, ae_share=1.0)


def test_reconstruction_run_reports_a_curve_and_the_final_psnr(tmp_path):
    cfg = load_config(tiny_config(tmp_path))
    report = run_reconstruction(cfg, Hardware(accelerator="cpu"), minutes=0.001, evaluations=4, stage2_share=0.25,
                                say=lambda _: None)
    assert report["steps"] == 20 and report["stage2_from"] == 15  # the floor of 20 steps
    assert [row["step"] for row in report["curve"]] == [5, 10, 15, 20]
    assert all(row["train_s"] > 0 for row in report["curve"])
    assert report["curve"][0]["train_s"] < report["curve"][-1]["train_s"]
    assert set(report["final"]) == {"video_psnr", "audio_psnr"} and report["held_out_clips"] == 4
    assert all(0 < v < 100 for v in report["final"].values())
    per_class = report["final_per_class"]
    assert sum(c["clips"] for c in per_class.values()) == 4
    for m in ("video_psnr", "audio_psnr"):  # the clip-weighted mean of the classes is the overall figure
        mean = sum(c["clips"] * c[m] for c in per_class.values()) / 4
        assert mean == pytest.approx(report["final"][m], abs=0.02)


def test_reconstruction_run_of_a_fixed_number_of_steps_skips_calibration(tmp_path, monkeypatch):
    import proav_core.benchmarking.quality as quality

    def no_calibration(*args, **kwargs):
        raise AssertionError("a run of fixed steps must not calibrate")

    monkeypatch.setattr(quality, "calibrate", no_calibration)
    cfg = load_config(tiny_config(tmp_path))
    said = []
    report = run_reconstruction(cfg, Hardware(accelerator="cpu"), steps=6, evaluations=3, stage2_share=0.5, say=said.append)
    assert report["steps"] == 6 and report["stage2_from"] == 3 and report["minutes"] is None
    assert [row["step"] for row in report["curve"]] == [2, 4, 6]
    assert report["seconds_per_step"] == pytest.approx(report["seconds"] / 6, abs=0.01)  # measured on the run (seconds to 0.1)
    assert said == [f"{cfg.name}: 6 autoencoder steps"]
    with pytest.raises(ValueError, match="give minutes or steps, one of the two"):
        run_reconstruction(cfg, Hardware(accelerator="cpu"), minutes=1, steps=6)
    with pytest.raises(ValueError, match="give minutes or steps, one of the two"):
        run_reconstruction(cfg, Hardware(accelerator="cpu"))


def test_reconstruction_run_resumes_what_an_interruption_left_and_refuses_another_runs_folder(tmp_path):
    from proav_core.training.common import run_dir

    cfg = load_config(tiny_config(tmp_path))
    hw, quiet = Hardware(accelerator="cpu"), (lambda _: None)
    first = run_reconstruction(cfg, hw, steps=4, evaluations=2, say=quiet)
    folder = run_dir(cfg) / "autoencoder"
    saved = folder / "config.toml"
    # as if the run had been given 8 steps and stopped at its step-4 checkpoint
    saved.write_text(saved.read_text().replace("steps = 4\n", "steps = 8\n", 1))
    said = []
    report = run_reconstruction(cfg, hw, steps=6, evaluations=2, resume=True, say=said.append)
    assert said == [f"{cfg.name}: resuming its run of 8 autoencoder steps ({folder})"]
    assert report["resumed"] and report["steps"] == 8  # the interrupted run's steps, not this call's 6
    assert [row["step"] for row in report["curve"]] == [2, 4, 6, 8]  # its evaluations kept, then continued
    assert report["curve"][1] == first["curve"][1]
    assert report["seconds"] == round(report["curve"][-1]["train_s"], 1)  # both sessions' training, to 0.1 s
    assert report["curve"][-1]["train_s"] > report["curve"][1]["train_s"]
    # a folder holding another run (here: another learning rate) is refused, naming it
    saved.write_text(saved.read_text().replace("[train.autoencoder.optim]\nlr = ", "[train.autoencoder.optim]\nlr = 9", 1))
    with pytest.raises(UsageError, match="holds the checkpoint of another run than tiny's"):
        run_reconstruction(cfg, hw, steps=6, evaluations=2, resume=True, say=quiet)
    # without resume the row starts over
    again = run_reconstruction(cfg, hw, steps=6, evaluations=2, say=quiet)
    assert not again["resumed"] and [row["step"] for row in again["curve"]] == [3, 6]


def test_autoencoder_curve_pairs_held_out_psnr_with_the_training_batches_since_the_last_evaluation(tmp_path):
    from proav_core.benchmarking.quality import autoencoder_curve

    csv_file = tmp_path / "metrics.csv"
    csv_file.write_text("step,train_s,video/psnr,audio/psnr,val/video_psnr,val/audio_psnr\n"
                        "10,1.0,20.0,30.0,,\n20,2.0,22.0,31.0,19.0,29.0\n"
                        "30,3.0,24.0,32.0,,\n40,4.0,28.0,,21.5,30.5\n")
    assert autoencoder_curve(csv_file) == [
        {"step": 20, "train_s": 2.0, "val/video_psnr": 19.0, "val/audio_psnr": 29.0,
         "train/video_psnr": 21.0, "train/audio_psnr": 30.5},
        {"step": 40, "train_s": 4.0, "val/video_psnr": 21.5, "val/audio_psnr": 30.5,
         "train/video_psnr": 26.0, "train/audio_psnr": 32.0}]


def test_git_commit_names_head():
    commit = git_commit()
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)


def test_loop_seconds_per_step_skips_the_start(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("step,loss,train_s\n5,1.0,9.0\n10,0.9,10.0\n15,0.8,11.5\n20,0.7,13.0\n")
    assert loop_seconds_per_step(csv, skip=10) == pytest.approx(0.3)  # (13.0 - 10.0) / (20 - 10)
    with pytest.raises(UsageError, match="too few logged steps after step 20"):
        loop_seconds_per_step(csv, skip=20)


def test_calibration_times_both_real_loops_and_leaves_no_run(tmp_path):
    cfg = load_config(tiny_config(tmp_path))
    per_step = calibrate(cfg, Hardware(accelerator="cpu"), steps=12, skip=2)
    assert set(per_step) == {"autoencoder", "generator"} and all(0 < v < 60 for v in per_step.values())
    assert not (tmp_path / "runs").exists()  # a scratch folder, removed afterwards


def test_quality_benchmark_script_trains_scores_and_writes_json(benchmark_script, tmp_path, capsys):
    import json

    bench = benchmark_script("bench_quality")
    out = tmp_path / "quality.json"
    assert bench.main([str(tiny_config(tmp_path)), "--minutes", "0.0001", "--clips", "12", "--samples-per-class", "1",
                       "--no-fvd", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"] == "tiny-quality" and report["steps"] == {"autoencoder": 20, "generator": 20}
    assert set(report["seconds_per_step"]) == {"autoencoder", "generator"}
    assert [row["step"] for row in report["autoencoder_curve"]] == [2 * k for k in range(1, 11)]
    assert list(report["demo"]["scores"]) == ["samples", "real clips", "shuffled real pairs", "shuffled samples"]
    assert set(report["demo"]["reconstruction"]) == {"video_psnr", "audio_psnr"}
    assert set(report["demo"]["sync_above_chance"]) == {"samples", "real clips"}
    assert (tmp_path / "runs" / "tiny-quality" / "contact_sheet.png").is_file()
    printed = capsys.readouterr().out
    assert "held-out reconstruction PSNR against training time" in printed
    assert f"real clips {report['demo']['sync_above_chance']['real clips']} (against shuffled real pairs)" in printed
    texture = report["mel_texture"]  # syncshapes: the mel's content-only floor and the autoencoder's split of its error
    floor = texture["content_floor"]["all"]
    assert floor["floor_psnr"] == pytest.approx(floor["draws_psnr"] + 3.01, abs=0.011)
    assert set(texture["autoencoder"]) == {"recon_vs_own_draw", "recon_vs_other_draw", "floor_psnr", "noise_captured",
                                           "content_error"}
    from proav_plugins.data.syncshapes_texture import texture_floor  # the floor on its own path, same clips and draws

    alone, _ = texture_floor(load_config(tiny_config(tmp_path)), clips=floor["clips"], draws=2)
    assert alone["all"] == floor
    assert f"content-only floor {floor['floor_psnr']} dB" in printed


def test_ablation_script_runs_rows_on_shared_clips_and_resumes(benchmark_script, tmp_path, capsys):
    import json

    bench = benchmark_script("bench_ablations")
    out = tmp_path / "ablations.json"
    args = ["--base", str(tiny_config(tmp_path)), "--minutes-per-row", "0.001", "--rows", "full", "no_kl",
            "--clips", "12", "--out", str(out)]
    assert bench.main(args) == 0
    report = json.loads(out.read_text())
    assert list(report["rows"]) == ["full", "no_kl"] and report["ordering"]["pairs"] == 1
    assert all(r["steps"] == 20 and r["stage2_from"] == 14 for r in report["rows"].values())
    folder = tmp_path / "runs" / "tiny-ablations"
    assert sorted(p.name for p in folder.iterdir()) == ["data", "prepared", "tiny-full", "tiny-no_kl"]
    printed = capsys.readouterr().out
    assert "paper's order" in printed and f"mel content-only floor of these clips: {report['mel_content_floor']} dB" in printed
    assert bench.main(args) == 0  # a rerun keeps both rows
    assert "full: kept from" in capsys.readouterr().out and json.loads(out.read_text())["rows"] == report["rows"]
    # a row missing from the JSON whose folder holds its run (killed in its final evaluation) resumes it
    kept = json.loads(out.read_text())
    del kept["rows"]["no_kl"]
    out.write_text(json.dumps(kept))
    assert bench.main(args) == 0
    assert "tiny-no_kl: resuming its run of 20 autoencoder steps" in " ".join(capsys.readouterr().out.split())
    assert json.loads(out.read_text())["rows"]["no_kl"]["resumed"]
    assert bench.main([*args, "--fresh"]) == 0  # every row trained again from scratch
    assert "kept from" not in capsys.readouterr().out
    assert not any(r["resumed"] for r in json.loads(out.read_text())["rows"].values())
