"""`proav eval`: two folders of mp4 files -> a table and a JSON; unavailable metrics say why."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import soundfile
import torch

from proav_core.cli import main
from proav_core.data.writers import write_mp4

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from av_sync_clips import square_and_clicks  # noqa: E402

FPS, SIZE, RATE = 24, 64, 16000
CONFIG = f"""
name = "evaltest"
[clip]
frames = 48
fps = {FPS}.0
height = {SIZE}
width = {SIZE}
sample_rate = {RATE}

[[metrics]]
name = "av_align"
mode = "iou"
window = 1
"""
EVENTS = [[0.5, 1.0, 1.5], [0.4, 1.2], [0.7, 1.4]]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """real/: three aligned clips; fake/: the same clips, slightly noisy, the last one with
    its audio 250 ms late."""
    root = tmp_path_factory.mktemp("eval")
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    g = torch.Generator().manual_seed(0)
    for i, events in enumerate(EVENTS):
        video, wave = square_and_clicks(events, fps=FPS, size=SIZE, sample_rate=RATE, seed=i)
        write_mp4(real / f"clip{i}.mp4", video, FPS, wave, RATE)
        noisy = (video + 0.05 * torch.randn(video.shape, generator=g)).clamp(-1, 1)
        shift = 0.25 if i == 2 else 0.0
        _, fake_wave = square_and_clicks(events, shift=shift, fps=FPS, size=SIZE, sample_rate=RATE, seed=i)
        write_mp4(fake / f"clip{i}.mp4", noisy, FPS, fake_wave, RATE)
    (root / "empty").mkdir()
    config = root / "eval.toml"
    config.write_text(CONFIG)
    return root


def run_eval(folders, *args):
    return main(["eval", str(folders / "eval.toml"), "--fake", str(folders / "fake"), *args])


def test_eval_writes_every_figure_and_reports_missing_weights(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROAV_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    out = tmp_path / "results.json"
    code = run_eval(folders, "--real", str(folders / "real"), "--metrics", "av_align,psnr,fad_logmel,fad",
                    "--out", str(out), "--batch-size", "2")
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.read_text())
    figures = {m["name"]: m for m in report["metrics"]}
    assert set(figures) == {"av_align", "psnr_video", "fad_logmel", "fad"}
    # configured av_align section (iou, window 1) is the one used; two of three fake clips are in sync
    assert "iou" in figures["av_align"]["protocol"] and figures["av_align"]["num_fake"] == 3
    assert figures["av_align"]["value"] == pytest.approx(2 / 3)  # the 250 ms late clip scores 0
    assert figures["av_align"]["details"]["real"] == 1.0
    assert 20 < figures["psnr_video"]["value"] < 40 and figures["psnr_video"]["details"]["pairs"] == 3
    assert figures["fad_logmel"]["value"] > 0
    assert "not comparable with published FAD" in figures["fad_logmel"]["protocol"]
    fad = figures["fad"]
    assert fad["value"] is None and fad["available"] is False and fad["num_real"] == 3
    assert "vggish-10086976.pth" in fad["reason"] and "PROAV_WEIGHTS_DIR" in fad["reason"]
    assert report["unavailable"] == ["fad"] and report["files"] == {"real": 3, "fake": 3}
    assert report["clip"]["frames"] == 48
    assert "unavailable" in printed and "fad" in printed and str(out) in printed.replace("\n", "")


def test_config_metrics_are_the_default_and_real_is_optional_for_them(folders, tmp_path):
    out = tmp_path / "r.json"
    assert run_eval(folders, "--out", str(out)) == 0
    report = json.loads(out.read_text())
    assert [m["name"] for m in report["metrics"]] == ["av_align"]
    assert report["metrics"][0]["num_real"] == 0


def test_usage_errors_exit_2(folders, capsys):
    assert run_eval(folders, "--metrics", "fvdd") == 2
    assert "closest: 'fvd'" in capsys.readouterr().err
    assert run_eval(folders, "--metrics", "psnr") == 2
    assert "pass --real DIR" in capsys.readouterr().err
    assert main(["eval", str(folders / "eval.toml"), "--fake", str(folders / "empty")]) == 2
    assert "holds no media files" in capsys.readouterr().err
    assert run_eval(folders, "--metrics", "av_align", "--set", "clip.frames=0") == 2


def test_psnr_of_the_audio_representation_needs_audio_repr(folders, tmp_path):
    base = CONFIG.split("[[metrics]]")[0] + '[[metrics]]\nname = "psnr"\nsignal = "audio"\n'
    for with_repr in (True, False):
        config = tmp_path / f"audio{with_repr}.toml"
        config.write_text(base + ('[audio_repr]\nname = "mel_frames"\n' if with_repr else ""))
        out = tmp_path / f"audio{with_repr}.json"
        code = main(["eval", str(config), "--real", str(folders / "real"), "--fake", str(folders / "fake"),
                     "--out", str(out)])
        assert code == 0
        (figure,) = json.loads(out.read_text())["metrics"]
        if with_repr:
            assert figure["name"] == "psnr_audio" and figure["value"] > 10 and figure["details"]["pairs"] == 3
        else:
            assert figure["value"] is None and "[audio_repr]" in figure["reason"]


def test_audio_files_in_a_folder_are_listed_as_skipped_not_passed_over(folders, tmp_path, capsys):
    fake = tmp_path / "fake"
    shutil.copytree(folders / "fake", fake)
    _, wave = square_and_clicks(EVENTS[0], fps=FPS, size=SIZE, sample_rate=RATE, seed=0)
    soundfile.write(fake / "voice.wav", wave.numpy(), RATE)
    out = tmp_path / "r.json"
    assert main(["eval", str(folders / "eval.toml"), "--fake", str(fake), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["files"]["fake"] == 3
    (entry,) = report["skipped"]
    assert entry["source"] == str(fake / "voice.wav") and entry["reason"] == "no video stream"
    assert "voice.wav" in capsys.readouterr().out
    # the wav a video of the same name has beside it (as `proav sample` writes them) is its own soundtrack
    soundfile.write(fake / "clip0.wav", wave.numpy(), RATE)
    assert main(["eval", str(folders / "eval.toml"), "--fake", str(fake), "--out", str(out)]) == 0
    assert [e["source"] for e in json.loads(out.read_text())["skipped"]] == [str(fake / "voice.wav")]


def test_an_out_that_cannot_be_written_is_refused_before_reading(folders, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    assert run_eval(folders, "--metrics", "av_align", "--out", str(blocker / "r.json")) == 2
    err = capsys.readouterr().err
    assert f"--out: {blocker} cannot be made, {blocker} is a file, not a folder" in err and "reading clips" not in err
    assert run_eval(folders, "--metrics", "av_align", "--out", str(tmp_path)) == 2
    assert "Invalid value for '--out'" in capsys.readouterr().err  # a folder: click says so
    assert blocker.read_text() == "keep me"


def test_a_metric_whose_inputs_clips_lack_says_so(folders, tmp_path):
    """plane_mi reads latent planes: from clip folders it is unavailable, saying what the clips hold."""
    config = tmp_path / "planes.toml"
    config.write_text(CONFIG.split("[[metrics]]")[0] + '[[metrics]]\nname = "plane_mi"\n')
    out = tmp_path / "r.json"
    assert main(["eval", str(config), "--fake", str(folders / "fake"), "--out", str(out)]) == 0
    (figure,) = json.loads(out.read_text())["metrics"]
    assert figure["value"] is None
    assert figure["reason"].startswith("needs planes, which these clips do not hold (they hold video, waveform: e.g. "
                                       "latent planes come from an autoencoder")


def test_limit_spreads_over_the_sorted_files():
    from proav_core.cli.eval_cmd import spread

    files = [Path(f"{c}/{i}.mp4") for c in "abcd" for i in range(6)]  # 4 class folders of 6
    assert [p.parent.name for p in spread(files, 4)] == ["a", "b", "c", "d"]
    assert spread(files, 8) == files[::3] and spread(files, 30) == files
    assert spread(files, 1) == [files[0]]
