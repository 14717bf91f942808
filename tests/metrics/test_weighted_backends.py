"""Backends that need user-supplied weights, tested on stand-in files with the real call
signatures: StyleGAN-V's TorchScript I3D, torchvggish VGGish weights, CLAP TorchScript towers.
(The real files cannot be downloaded here; these tests check the plumbing, not published values.)"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import proav_core
from proav_core import ClipSpec
from proav_core.errors import MissingWeightsError
from proav_core.metrics.audio_features import VGGish, vggish_log_mel
from proav_core.metrics.weights import file_sha256

# The stand-ins are written with torch.jit (deprecated in torch 2.14, still how the published file is made).
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")

CLIP = ClipSpec(frames=20, fps=10, height=24, width=32, sample_rate=16000)


class FakeStyleGANDetector(nn.Module):
    """Same call as i3d_torchscript.pt; returns per-frame means, the flags and the input size."""

    def forward(self, x: Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> Tensor:
        assert x.dtype == torch.uint8, "StyleGAN-V feeds uint8 videos"
        b = x.shape[0]
        means = x.float().mean(dim=(1, 3, 4))  # (B, T)
        flags = torch.tensor([float(rescale), float(resize), float(return_features)]).expand(b, 3)
        size = torch.tensor([float(x.shape[2]), float(x.shape[3]), float(x.shape[4])]).expand(b, 3)
        return torch.cat([means, flags, size], dim=1)


class Direction(nn.Module):
    """A TorchScript 'tower': embeds any input as sign(mean) * `axis` (+ a small orthogonal part)."""

    def __init__(self, axis: list[float]):
        super().__init__()
        self.register_buffer("axis", torch.tensor(axis))

    def forward(self, x: Tensor) -> Tensor:
        sign = torch.sign(x.flatten(1).mean(dim=1, keepdim=True))  # (B, 1)
        return sign * self.axis[None]  # (B, D)


def script(module: nn.Module, path) -> str:
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


def test_stylegan_torchscript_detector_gets_uint8_first_16_frames_and_its_flags(tmp_path):
    path = script(FakeStyleGANDetector(), tmp_path / "i3d_torchscript.pt")
    extractor = proav_core.build("extractor", "i3d_torchscript", weights_path=path, clip=CLIP)
    video = torch.linspace(-1, 1, CLIP.frames)[None, None, :, None, None].expand(2, 3, -1, 24, 32)
    out = extractor(video)
    u8 = (video[0, 0, :16, 0, 0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).float()
    torch.testing.assert_close(out[0, :16], u8)  # the first 16 frames, quantised like StyleGAN-V
    assert out[0, 16:19].tolist() == [1.0, 1.0, 1.0]  # rescale, resize, return_features
    assert out[0, 19:].tolist() == [16.0, 24.0, 32.0]
    assert extractor.fingerprint().startswith(f"i3d_torchscript/sha256:{file_sha256(path)}/prep:")


def test_fvd_runs_on_a_user_torchscript_detector(tmp_path):
    path = script(FakeStyleGANDetector(), tmp_path / "i3d_torchscript.pt")
    fvd = proav_core.build("metric", "fvd", clip=CLIP, extractor={"name": "i3d_torchscript", "weights_path": path})
    fvd.update({"video": torch.rand(4, 3, 20, 24, 32) * 2 - 1}, "real")
    fvd.update({"video": torch.rand(4, 3, 20, 24, 32) - 1}, "fake")  # darker
    result = fvd.compute()
    assert result.value > 100 and file_sha256(path) in result.fingerprint


def test_missing_stylegan_detector_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROAV_WEIGHTS_DIR", str(tmp_path))
    result = proav_core.build("metric", "fvd", clip=CLIP, extractor="i3d_torchscript").compute()
    assert result.value is None
    assert "'i3d_torchscript.pt'" in result.reason and "ge9e5ujwgetktms" in result.reason


def constant_vggish_weights(path) -> str:
    """A torchvggish-layout state dict whose tensors are broadcast constants (a tiny file)."""
    state = {}
    for name, tensor in VGGish().state_dict().items():
        value = 1e-3 if name.endswith("weight") else 1.0
        state[name] = torch.full((1,) * tensor.ndim, value).expand(tensor.shape)
    torch.save(state, path)
    return str(path)


def test_vggish_loads_torchvggish_layout_and_embeds_each_clip(tmp_path):
    path = constant_vggish_weights(tmp_path / "vggish-10086976.pth")
    with pytest.raises(MissingWeightsError, match="expected 10086976"):
        proav_core.build("extractor", "vggish", weights_path=path, clip=CLIP)
    extractor = proav_core.build("extractor", "vggish", weights_path=path, sha256=None, clip=CLIP)
    wave = torch.randn(3, CLIP.num_samples) * torch.tensor([[0.01], [0.1], [0.5]])
    emb = extractor(wave)
    assert emb.shape == (3, 128) and torch.isfinite(emb).all()
    assert not torch.allclose(emb[0], emb[2]) and torch.equal(emb, extractor(wave))
    assert file_sha256(path) in extractor.fingerprint()


def test_an_unreadable_or_foreign_vggish_file_is_named_without_torchs_advice(tmp_path):
    junk = tmp_path / "vggish-10086976.pth"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(MissingWeightsError, match=r"cannot read VGGish weights .*vggish-10086976.pth: .*save "
                                                  r"torchvggish's vggish-10086976.pth there") as err:
        proav_core.build("extractor", "vggish", weights_path=str(junk), sha256=None, clip=CLIP)
    assert "weights_only" not in str(err.value)
    torch.save({"conv.weight": torch.zeros(2)}, junk)
    with pytest.raises(MissingWeightsError, match=r"vggish-10086976.pth is not a VGGish state dict"):
        proav_core.build("extractor", "vggish", weights_path=str(junk), sha256=None, clip=CLIP)


def test_vggish_log_mel_front_end():
    rate = 16000
    tone = torch.sin(2 * math.pi * 1000 * torch.arange(rate) / rate)[None]  # 1 s at 1 kHz
    lm = vggish_log_mel(tone, rate)
    assert lm.shape == (1, 1 + (rate - 400) // 160, 64)
    hz = 700 * (torch.exp(torch.linspace(1127 * math.log(1 + 125 / 700), 1127 * math.log(1 + 7500 / 700), 66) / 1127) - 1)
    peak = lm[0].mean(0).argmax()
    assert hz[peak] < 1000 < hz[peak + 2]  # the loudest band's triangle covers 1 kHz
    silent = vggish_log_mel(torch.zeros(1, rate), rate)
    torch.testing.assert_close(silent, torch.full_like(silent, math.log(0.01)))
    resampled = vggish_log_mel(torch.zeros(1, 48000), 48000)
    assert resampled.shape == silent.shape


def test_clap_similarity_on_torchscript_towers(tmp_path, monkeypatch):
    monkeypatch.setenv("PROAV_WEIGHTS_DIR", str(tmp_path))
    script(Direction([1.0, 0.0]), tmp_path / "clap_audio.pt")
    script(Direction([0.6, 0.8]), tmp_path / "clap_video.pt")
    metric = proav_core.build("metric", "clap_sim", clip=CLIP, segments=2)
    video = torch.ones(2, 3, 20, 24, 32)
    wave = torch.ones(2, CLIP.num_samples)
    wave[1] = -1.0  # second clip: audio points the other way -> cosine -0.6
    metric.update({"video": video, "waveform": wave})
    result = metric.compute()
    assert result.value == pytest.approx((0.6 - 0.6) / 2)
    assert result.details["segments"] == 4 and result.num_fake == 2
    assert "clap_audio/sha256:" in result.fingerprint and "48000 Hz" in result.fingerprint
    metric.update({"video": video[:1], "waveform": wave[:1]}, "real")
    assert metric.compute().details["real"] == pytest.approx(0.6)


def test_exported_program_towers_load_too(tmp_path):
    video = torch.ones(2, 3, 20, 24, 32)
    program = torch.export.export(Direction([0.0, 1.0]), (video,))
    torch.export.save(program, str(tmp_path / "tower.pt2"))
    extractor = proav_core.build("extractor", "clap_video", weights_path=str(tmp_path / "tower.pt2"), clip=CLIP)
    assert extractor(video).tolist() == [[0.0, 1.0], [0.0, 1.0]]


def test_clap_similarity_without_weights_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("PROAV_WEIGHTS_DIR", str(tmp_path))
    metric = proav_core.build("metric", "clap_sim", clip=CLIP)
    metric.update({"video": torch.zeros(1, 3, 20, 24, 32), "waveform": torch.zeros(1, CLIP.num_samples)})
    result = metric.compute()
    assert result.value is None and result.num_fake == 1
    assert "'clap_audio.pt'" in result.reason and "'clap_video.pt'" in result.reason
