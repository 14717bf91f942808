"""What `proav demo` measures: AV-Align and the syncshapes ground-truth score (`shape_sync`)
of the samples, the held-out real clips, shuffled real pairs and shuffled samples (the
samples' chance level), the targets those figures are held to, the a2v and v2a examples, and
the contact sheet.

A clip set is a list of `Clip`s (video (3, T, H, W) in [-1, 1], waveform (S,), the class name
it is meant to show, and its audio representation for the contact sheet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from proav_core.build import build, build_component
from proav_core.config import ExperimentConfig
from proav_core.data.contact_sheet import SheetRow, save_contact_sheet
from proav_core.interfaces.metrics import MetricResult

# "shuffled samples" pairs each sample's video with the next sample's soundtrack (mostly one of the
# same class): their sync F1 is what the samples' events score by chance, so the samples' own
# sync F1 above it is the part that comes from a video and its soundtrack being generated together.
SETS = ("samples", "real clips", "shuffled real pairs", "shuffled samples")


@dataclass
class Clip:
    video: Tensor  # (3, T, H, W) in [-1, 1]
    waveform: Tensor  # (S,)
    class_name: str
    audio: Tensor | None = None  # (T, H, W) audio representation, for the contact sheet


def split_clips(cfg: ExperimentConfig, split: str) -> list[Clip]:
    """Every item of one split of the config's dataset as a Clip, named by the dataset's classes."""
    data = build_component(cfg.dataset, clip=cfg.clip, split=split)
    return [Clip(it["video"], it["waveform"], data.classes[int(it["label"])], it["audio"])
            for it in map(data.__getitem__, range(len(data)))]


def shuffled(clips: list[Clip]) -> list[Clip]:
    """Each clip's video with the next clip's soundtrack (the class is the video's)."""
    n = len(clips)
    return [Clip(c.video, clips[(i + 1) % n].waveform, c.class_name, clips[(i + 1) % n].audio)
            for i, c in enumerate(clips)]


def metric(cfg: ExperimentConfig, name: str, **defaults: Any) -> Any:
    """The config's [[metrics]] section of that name, or the metric built with `defaults`."""
    sections = [m for m in cfg.metrics if m.name == name]
    if sections:
        return build_component(sections[0], clip=cfg.clip)
    return build("metric", name, clip=cfg.clip, **defaults)


def score_set(cfg: ExperimentConfig, clips: list[Clip], shape_sync_params: dict[str, Any],
              reference: list[Clip] = ()) -> dict[str, MetricResult]:
    """AV-Align and shape_sync of one clip set; shape_sync also judges the `reference` clips (real
    ones) and reports their figures beside the set's (`real_` details, the timing mix's
    `pattern_overlap`)."""
    return {"av_align": scored(metric(cfg, "av_align"), clips),
            "shape_sync": scored(metric(cfg, "shape_sync", **shape_sync_params), clips, reference)}


def fed(m: Any, clips: list[Clip], role: str = "fake") -> Any:
    """The metric `m` after an update with each of `clips` in `role` ("fake" or "real")."""
    for c in clips:
        m.update({"video": c.video[None], "waveform": c.waveform[None], "class_name": [c.class_name]}, role=role)
    return m


def scored(m: Any, clips: list[Clip], reference: list[Clip] = ()) -> MetricResult:
    """A metric's result over `clips` (role "fake") and `reference` (role "real"), one clip per update."""
    return fed(fed(m, clips, "fake"), reference, "real").compute()


def timing_mix(scores: dict[str, dict[str, MetricResult]], show: int = 4) -> str:
    """One line on which frames the samples and the data's clips (the samples' shape_sync
    reference) bounce on (bounce patterns, commonest first) and how far the mixes overlap; ""
    without them."""
    result = scores["samples"]["shape_sync"]
    details = result.details
    if details.get("pattern_overlap") is None:
        return ""

    def mix(patterns: dict[str, float]) -> str:
        shown = [f"{k} {v:.2f}" for k, v in list(patterns.items())[:show]]
        return ", ".join(shown) + (", ..." if len(patterns) > show else "")

    return (f"timing mix (share of clips per bounce frames): samples {mix(details['bounce_patterns'])}; the "
            f"data's {result.num_real} clips {mix(details['real_bounce_patterns'])}; overlap "
            f"{details['pattern_overlap']:.2f} (1: the data's mix; sync F1 does not see samples that gather on "
            "one pattern)")


def above_chance(f1: float | None, chance: float | None) -> float | None:
    """How much of the sync possible above chance a clip set reaches: (F1 - chance) / (1 - chance),
    1 for perfect sync, 0 at chance, negative below it; None without both figures or when chance
    is already perfect. Sync F1 alone also rises when samples gather on the data's commonest
    event pattern (their shuffled pairs then line up as well); this figure discounts that."""
    if f1 is None or chance is None or chance >= 1.0:
        return None
    return (f1 - chance) / (1.0 - chance)


def sync_above_chance(scores: dict[str, dict[str, MetricResult]]) -> dict[str, float | None]:
    """Samples against shuffled samples, real clips against shuffled real pairs."""
    sync = {k: scores[k]["shape_sync"].value for k in SETS}
    out = {"samples": above_chance(sync["samples"], sync["shuffled samples"]),
           "real clips": above_chance(sync["real clips"], sync["shuffled real pairs"])}
    return {k: None if v is None else round(v, 3) for k, v in out.items()}


def targets(scores: dict[str, dict[str, MetricResult]], reconstruction: dict[str, float]) -> dict[str, dict]:
    """The issue's quality targets for the demo, each with its figure, threshold and verdict."""
    sync = {k: scores[k]["shape_sync"].value for k in SETS}
    fake = scores["samples"]["shape_sync"].details
    checks = {
        "video reconstruction >= 26 dB": (reconstruction["video_psnr"], 26.0),
        "mel reconstruction >= 32 dB": (reconstruction["audio_psnr"], 32.0),
        "sample frames with exactly one object >= 0.9": (fake.get("single_object_share"), 0.9),
        "samples' video class recognised >= 0.9": (fake.get("video_accuracy"), 0.9),
        "samples' audio class recognised >= 0.9": (fake.get("audio_accuracy"), 0.9),
        "sample sync F1 >= 0.9 x real clips'": (sync["samples"], None if sync["real clips"] is None
                                                else 0.9 * sync["real clips"]),
        "sample sync F1 >= 2 x shuffled pairs'": (sync["samples"], None if sync["shuffled real pairs"] is None
                                                  else 2 * sync["shuffled real pairs"]),
    }
    return {name: {"value": None if v is None else round(float(v), 3),
                   "threshold": None if t is None else round(float(t), 3),
                   "met": v is not None and t is not None and v >= t}
            for name, (v, t) in checks.items()}


def clip_note(judge: Any, clip: Clip) -> str:
    """What shape_sync saw in one clip, in three short lines for the contact sheet: frames with
    one object, frames with a steady shape (whole, of the clip's size and colour), events."""
    j = judge(clip.video, clip.waveform)
    frames = len(j.objects_per_frame)
    single = sum(c == 1 for c in j.objects_per_frame)
    steady = round(j.steady_shape_share * frames)
    return (f"1 object in {single}/{frames}\nsteady shape in {steady}/{frames}\n"
            f"bounce {','.join(map(str, j.bounces)) or '-'} onset {','.join(map(str, j.onsets)) or '-'}")


def write_contact_sheet(path: Path, cfg: ExperimentConfig, real: list[Clip], fake: list[Clip],
                        shape_sync_params: dict[str, Any], per_class: int = 2,
                        extra: list[tuple[str, list[SheetRow]]] = ()) -> Path:
    """Per class: `per_class` real clips above `per_class` generated ones, each with its mel images
    and a note of what shape_sync saw; then the `extra` groups (e.g. the a2v and v2a examples)."""
    judge = metric(cfg, "shape_sync", **shape_sync_params).judge
    groups = []
    for name in dict.fromkeys(c.class_name for c in fake):
        rows = [SheetRow(f"real {i + 1}", c.video, c.audio, clip_note(judge, c))
                for i, c in enumerate([c for c in real if c.class_name == name][:per_class])]
        rows += [SheetRow(f"generated {i + 1}", c.video, c.audio, clip_note(judge, c))
                 for i, c in enumerate([c for c in fake if c.class_name == name][:per_class])]
        groups.append((name, rows))
    return save_contact_sheet(path, [*groups, *extra])


TASK_CFG = 2.0  # the demo's a2v / v2a examples: CFG on the class the probe reads (README "Conditional tasks")


def task_examples(pipe: Any, real: list[Clip], judge: Any, folder: Path,
                  cfg_scale: float = TASK_CFG) -> tuple[dict[str, Any], list]:
    """One a2v and one v2a example on held-out clips (the demo's): the first clip's soundtrack
    animated, the video of the first clip of another class scored, each prompted with the class
    the checkpoint's probe reads from the given side, under classifier-free guidance `cfg_scale`.
    Writes a2v_<class>.* / v2a_<class>.* files into `folder` (apart from the joint samples, so
    that `proav eval` of those counts them alone); returns ({task: what shape_sync saw},
    contact-sheet groups [(title, [SheetRow])])."""
    from proav_core.data.writers import write_clip_outputs

    summary, groups = {}, []
    other = next((c for c in real if c.class_name != real[0].class_name), real[-1])  # another class if any
    for task, source in (("a2v", real[0]), ("v2a", other)):
        side = {"audio": source.waveform} if task == "a2v" else {"video": source.video}
        out = pipe.sample(task=task, seed=0, cfg_scale=cfg_scale, **side)
        made = Clip(out.video[0], out.waveform[0], source.class_name, out.audio[0])
        stem = f"{task}_{source.class_name}"
        write_clip_outputs(folder, stem, made.video, made.waveform, pipe.cfg.clip.fps, pipe.cfg.clip.sample_rate,
                           audio=made.audio)
        seen = judge(made.video, made.waveform)
        summary[task] = {"mode": out.mode, "source_class": source.class_name, "prompt": out.prompts[0],
                         "cfg_scale": cfg_scale, "file": str(folder / f"{stem}.mp4"),
                         "bounces": seen.bounces, "onsets": seen.onsets, "sync_f1": round(seen.f1, 3),
                         "video_class": seen.video_class, "audio_class": seen.audio_class,
                         "single_object_share": round(seen.single_object_share, 3)}
        given, generated = ("audio", "video") if task == "a2v" else ("video", "audio")
        note = (f"bounce {','.join(map(str, seen.bounces)) or '-'} onset {','.join(map(str, seen.onsets)) or '-'}\n"
                f"classes v{seen.video_class} a{seen.audio_class}")
        groups.append((f"{task} ({out.mode}): {source.class_name}",
                       [SheetRow(f"real clip ({given} given)", source.video, source.audio, ""),
                        SheetRow(f"{generated} generated", made.video, made.audio, note)]))
    return summary, groups
