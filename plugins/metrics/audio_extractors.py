"""Audio feature extractors for FAD (kind `extractor`, input "waveform").

- `vggish`: VGGish with user-supplied torchvggish weights (vggish-10086976.pth); the raw
  128-d embedding of each 0.96 s example, averaged per clip (clips shorter than 0.96 s are
  padded by repeating their last log-mel frame).
- `logmel_stats`: a deterministic, weight-free embedding (per-band mean, std and mean
  |delta| of the VGGish log-mel). FAD on it is NOT comparable with published FAD.
"""

from __future__ import annotations

import torch
from einops import rearrange
from pydantic import Field
from torch import Tensor, nn

from proav_core import ClipSpec, ComponentParams
from proav_core.errors import MissingWeightsError, load_error_reason
from proav_core.metrics.audio_features import (
    NUM_MEL,
    VGGish,
    log_mel_statistics,
    vggish_examples,
    vggish_log_mel,
)
from proav_core.metrics.weights import WeightsFile, file_sha256, resolve_weights

VGGISH_WEIGHTS = WeightsFile(
    filename="vggish-10086976.pth",
    sha256="10086976",  # torch.hub names files by the first digits of their sha256
    source="the torchvggish release (github.com/harritaylor/torchvggish/releases, vggish-10086976.pth)",
)
LOGMEL_PREP = "logmel-stats-v1(16kHz, 25/10 ms Hann, 64 HTK mel 125-7500 Hz, log(+0.01); mean,std,mean|delta|)"


class VGGishParams(ComponentParams):
    weights_path: str | None = Field(
        None, description="vggish-10086976.pth (file or folder); unset: $PROAV_WEIGHTS_DIR/vggish-10086976.pth"
    )
    sha256: str | None = Field(
        VGGISH_WEIGHTS.sha256, description="expected sha256 (or prefix) of the file; unset to accept other VGGish weights"
    )


class VGGishExtractor(nn.Module):
    """VGGish embedding (128-d, mean over 0.96 s examples) from local torchvggish weights."""

    input = "waveform"
    dim = 128

    def __init__(self, clip: ClipSpec, weights_path: str | None = None, sha256: str | None = VGGISH_WEIGHTS.sha256):
        super().__init__()
        self.sample_rate = clip.sample_rate
        spec = WeightsFile(VGGISH_WEIGHTS.filename, sha256, VGGISH_WEIGHTS.source)
        self.weights_file = resolve_weights(spec, weights_path)
        try:
            state = torch.load(self.weights_file, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
            raise MissingWeightsError(f"cannot read VGGish weights {self.weights_file}: {load_error_reason(err)}; "
                                      f"save torchvggish's {VGGISH_WEIGHTS.filename} there") from None
        self.net = VGGish()
        try:
            self.net.load_state_dict({k: v for k, v in state.items() if not k.startswith("pproc.")})
        except (AttributeError, RuntimeError) as err:
            raise MissingWeightsError(f"{self.weights_file} is not a VGGish state dict ({type(err).__name__}: "
                                      f"{str(err).splitlines()[0][:160]}); save torchvggish's "
                                      f"{VGGISH_WEIGHTS.filename} there") from None
        self.net.eval().requires_grad_(False)

    def fingerprint(self) -> str:
        prep = "vggish-input-v1(16kHz, 96x64 log-mel examples, raw 128-d, clip mean)"
        return f"vggish/sha256:{file_sha256(self.weights_file)}/prep:{prep}"

    @torch.no_grad()
    def forward(self, waveform: Tensor) -> Tensor:
        """(B, S) at the clip's sample rate -> (B, 128)."""
        self.net.to(waveform.device)
        examples = vggish_examples(vggish_log_mel(waveform, self.sample_rate))  # (B, K, 96, 64)
        b = examples.shape[0]
        emb = self.net(rearrange(examples, "b k t m -> (b k) 1 t m"))  # (B*K, 128)
        return rearrange(emb, "(b k) d -> b k d", b=b).mean(dim=1).float()  # (B, 128)


class LogMelStats(nn.Module):
    """Deterministic log-mel statistics (192-d, no weights); not comparable with published FAD."""

    input = "waveform"
    dim = 3 * NUM_MEL

    def __init__(self, clip: ClipSpec):
        super().__init__()
        self.sample_rate = clip.sample_rate

    def fingerprint(self) -> str:
        return f"logmel_stats/sha256:none/prep:{LOGMEL_PREP}"

    @torch.no_grad()
    def forward(self, waveform: Tensor) -> Tensor:
        """(B, S) at the clip's sample rate -> (B, 192)."""
        return log_mel_statistics(waveform, self.sample_rate).float()
