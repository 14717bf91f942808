"""What sampling returns and how it is kept: `Generated` (decoded samples), the class prompts
that ask for them ("a video of <class>"), and `write_samples` (per sample an mp4 with its audio,
a wav, a frame strip and a mel image, plus the resolved config).

    out = SamplingPipeline.from_checkpoint(cfg, ckpt).sample([class_prompt("circle")])
    files = write_samples("samples/", out, cfg)
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from proav_core.config import ExperimentConfig, config_to_toml


@dataclass
class Generated:
    """Decoded samples. waveform is None without an audio stream or audio representation.

    task: what was generated; mode: "joint", "trained" (a task the generator was trained for)
    or "zero-shot" (given planes held on the flow path); note: why that mode, for the user;
    names: a file stem per sample (None: from the prompts)."""

    prompts: list[str]
    video: Tensor | None
    audio: Tensor | None
    waveform: Tensor | None
    task: str = "joint"
    mode: str = "joint"
    note: str = ""
    names: list[str] | None = None


CLASS_PROMPT_PREFIX = "a video of "


def class_prompt(class_name: str) -> str:
    """The prompt of one class: "a video of <class>" (what the class-label conditioner reads)."""
    return f"{CLASS_PROMPT_PREFIX}{class_name}"


def prompt_class(prompt: str) -> str:
    """The class a prompt names: "a video of circle" -> "circle"; a bare class name stays as it is."""
    return prompt.removeprefix(CLASS_PROMPT_PREFIX).strip()


def _slug(prompt: str) -> str:
    words = prompt_class(prompt).lower()
    return "".join(c if c.isalnum() else "_" for c in words)[:40].strip("_") or "sample"


WRITTEN = re.compile(r"sample_\d{3,}_\w*(\.mp4|\.wav|_frames\.png|_mel\.png)")  # what write_samples names


def write_samples(folder: str | Path, generated: Generated, cfg: ExperimentConfig) -> list[Path]:
    """Per sample: sample_<i>_<class>.mp4 (video + AAC audio), .wav, _frames.png, _mel.png;
    plus the resolved config.toml. Samples an earlier call left in `folder` are removed first,
    so the folder holds this call's alone. Returns the files written."""
    from proav_core.data.writers import save_frame_strip, write_clip_outputs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("sample_*"):
        if old.is_file() and WRITTEN.fullmatch(old.name):  # ours only: sample_<i>_<class>.mp4 / .wav / PNGs
            old.unlink()
    files: list[Path] = []
    clip = cfg.clip
    for i, prompt in enumerate(generated.prompts):
        stem = f"sample_{i:03d}_{_slug(generated.names[i] if generated.names else prompt)}"
        video = None if generated.video is None else generated.video[i]
        audio = None if generated.audio is None else generated.audio[i]
        if video is not None and generated.waveform is not None:
            files += write_clip_outputs(folder, stem, video, generated.waveform[i], clip.fps, clip.sample_rate,
                                        audio=audio).values()
        elif video is not None:
            files.append(save_frame_strip(folder / f"{stem}_frames.png", video))
    (folder / "config.toml").write_text(config_to_toml(cfg))
    return [*files, folder / "config.toml"]
