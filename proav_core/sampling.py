"""Sampling from trained checkpoints: noise -> sampler(generator) -> unstack -> undo the
latent normalisation -> decode.

    pipe = SamplingPipeline.from_checkpoint(cfg, "runs/demo/generator/last.ckpt")
    out = pipe.sample(["a video of circle"], cfg_scale=2.0, seed=0)
    out.video (N, 3, T, H, W) in [-1, 1], out.audio (N, T, H, W), out.waveform (N, S)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from proav_core.build import build_component, build_generation
from proav_core.config import ExperimentConfig
from proav_core.errors import ConfigError, UsageError
from proav_core.interfaces.generation import StepCallback
from proav_core.training.checkpoint import component_names, load_weights, peek_checkpoint, require_kind
from proav_core.training.encode import load_autoencoder
from proav_core.training.generator_loop import FlowModel
from proav_core.training.latent_norm import LatentNormalizer


@dataclass
class Generated:
    """Decoded samples. waveform is None without an audio stream or audio representation."""

    prompts: list[str]
    video: Tensor | None
    audio: Tensor | None
    waveform: Tensor | None


class SamplingPipeline:
    """A trained generator (EMA weights) with its autoencoder, ready to sample."""

    def __init__(self, cfg: ExperimentConfig, flow: FlowModel, stacker: Any, sampler: Any,
                 autoencoder: torch.nn.Module, audio_repr: Any, device: torch.device | str = "cpu",
                 normalizer: LatentNormalizer | None = None):
        self.cfg, self.flow, self.stacker, self.sampler = cfg, flow.eval(), stacker, sampler
        self.normalizer = normalizer  # None: the generator works in the autoencoder's own space
        self.autoencoder, self.audio_repr = autoencoder.eval(), audio_repr
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, cfg: ExperimentConfig, checkpoint: str | Path,
                        autoencoder_checkpoint: str | Path | None = None,
                        device: torch.device | str = "cpu") -> SamplingPipeline:
        raw = peek_checkpoint(checkpoint)
        require_kind(raw, checkpoint, "generator", "--ckpt")
        latents = raw.get("latents")
        if not latents:
            raise UsageError(f"{checkpoint} is not a generator checkpoint (no latent geometry in it)")
        if cfg.sampler is None or cfg.objective is None:
            raise ConfigError("sampling needs [sampler] and [objective] sections", path="sampler")
        plane_shapes = {k: tuple(v) for k, v in latents["plane_shapes"].items()}
        normalizer = (LatentNormalizer.from_dict(latents["normalization"]) if latents.get("normalization")
                      else None)  # generator checkpoints from before normalisation
        box = latents["latent_bound"] if normalizer is None else normalizer.bound(latents["latent_bound"])
        parts = build_generation(cfg, plane_shapes, box, list(latents["classes"]))
        flow = FlowModel(parts.generator, parts.conditioner, parts.objective, parts.stacker.loss_mask())
        load_weights(flow, checkpoint, component_names(cfg), "model.", raw=raw)
        autoencoder = load_autoencoder(cfg, autoencoder_checkpoint or latents["autoencoder_checkpoint"],
                                       option="--ae-ckpt" if autoencoder_checkpoint else None)
        audio_repr = None if cfg.audio_repr is None else build_component(cfg.audio_repr, clip=cfg.clip)
        pipe = cls(cfg, flow, parts.stacker, parts.sampler, autoencoder, audio_repr, device, normalizer)
        pipe.flow.to(device)
        pipe.autoencoder.to(device)
        return pipe

    @property
    def classes(self) -> list[str]:
        return list(self.flow.conditioner.classes)

    def default_prompts(self) -> list[str]:
        """"a video of <class>" for each class; one empty prompt (null condition) without classes."""
        return [f"a video of {c}" for c in self.classes] or [""]

    @torch.no_grad()
    def sample(self, prompts: Sequence[str], cfg_scale: float = 1.0, seed: int = 0,
               callback: StepCallback | None = None) -> Generated:
        """One sample per prompt; deterministic given the seed."""
        prompts = list(prompts)
        n = len(prompts)
        conditioner = self.flow.conditioner
        cond = (conditioner.from_prompts(prompts) if self.classes else conditioner.null(n)).to(self.device)
        null = conditioner.null(n).to(self.device)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x0 = self.flow.objective.sample_noise((n, *self.stacker.latent_shape), generator=generator).to(self.device)
        x1 = self.sampler(self.flow.generator, x0, cond=cond, null_cond=null, cfg_scale=cfg_scale, callback=callback)
        planes = self.stacker.unstack(x1)  # {name: (N, C, a, b)}
        if self.normalizer is not None:
            planes = self.normalizer.denormalize(planes)
        video, audio = self.autoencoder.decode_latents(planes)
        waveform = None
        if audio is not None and self.audio_repr is not None:
            waveform = self.audio_repr.decode(audio.float().cpu())
        return Generated(prompts, None if video is None else video.float().cpu().clamp(-1, 1),
                         None if audio is None else audio.float().cpu(), waveform)


def _slug(prompt: str) -> str:
    words = prompt.removeprefix("a video of ").strip().lower()
    return "".join(c if c.isalnum() else "_" for c in words)[:40].strip("_") or "sample"


def write_samples(folder: str | Path, generated: Generated, cfg: ExperimentConfig) -> list[Path]:
    """Per sample: sample_<i>_<class>.mp4 (video + AAC audio), .wav, _frames.png, _mel.png;
    plus the resolved config.toml. Returns the files written."""
    from proav_core.config import config_to_toml
    from proav_core.data.writers import save_frame_strip, write_clip_outputs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    clip = cfg.clip
    for i, prompt in enumerate(generated.prompts):
        stem = f"sample_{i:03d}_{_slug(prompt)}"
        video = None if generated.video is None else generated.video[i]
        audio = None if generated.audio is None else generated.audio[i]
        if video is not None and generated.waveform is not None:
            files += write_clip_outputs(folder, stem, video, generated.waveform[i], clip.fps, clip.sample_rate,
                                        audio=audio).values()
        elif video is not None:
            files.append(save_frame_strip(folder / f"{stem}_frames.png", video))
    (folder / "config.toml").write_text(config_to_toml(cfg))
    return [*files, folder / "config.toml"]
