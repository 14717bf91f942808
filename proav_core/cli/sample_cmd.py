"""`proav sample CONFIG --ckpt PATH ...`: generate sounding videos from a trained generator."""

from __future__ import annotations

import os
from pathlib import Path

import click

from proav_core.cli.common import compile_options, config_argument, console, load_cli_config
from proav_core.errors import UsageError


def check_no_earlier_samples(out: Path, overwrite: bool) -> None:
    """Refuse an --out that holds samples already (unless --overwrite), or that cannot be made
    (the nearest existing folder above it is not writable); nothing is created."""
    from proav_core.output_folders import check_output_folder

    check_output_folder(out, "--out", "pass another --out")
    earlier = sorted(out.glob("sample_*.mp4")) if out.is_dir() else []
    if earlier and not overwrite:
        raise UsageError(f"{out} already holds samples ({earlier[0].name}, ...); pass --overwrite or another --out")


def check_writable(out: Path) -> None:
    """The output folder exists or can be made, and accepts files."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".proav-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"output directory {out} is not writable ({err.strerror}); pass another --out") from None


@click.command("sample")
@config_argument
@click.option("--ckpt", required=True, help="generator checkpoint (e.g. runs/demo/generator/last.ckpt)")
@click.option("--ae-ckpt", default=None, help="autoencoder checkpoint (default: the one the latents came from)")
@click.option("--task", default="joint", show_default=True,
              help="joint (generate both), a2v (animate --audio), v2a (score --video)")
@click.option("--audio", "audio_file", default=None, help="a2v: the soundtrack, a wav or any file with an audio track; "
              "cut into clips, one sample each")
@click.option("--video", "video_file", default=None, help="v2a: the video to score, cut into clips, one sample each")
@click.option("--resize", default="crop", show_default=True, type=click.Choice(("crop", "pad", "stretch")),  # RESIZE_MODES
              help="v2a: frames of another aspect ratio than the clip's: crop (cover, centre-crop: the edges are "
              "lost), pad (fit inside, black bars) or stretch")
@click.option("--hold", default="auto", show_default=True,
              help="a2v/v2a: auto (trained when the generator learned the task, else zero_shot), trained, zero_shot")
@click.option("--prompt", "prompts", multiple=True, help='"a video of <class>" or a class name; repeatable '
              "(default: each class in turn; for a2v/v2a see --given-label)")
@click.option("--given-label", default="probe", show_default=True, type=click.Choice(("probe", "none")),  # GIVEN_LABELS
              help="a2v/v2a without --prompt: probe (prompt each sample with the class the checkpoint's class probe "
              "reads from the given side) or none (no prompt)")
@click.option("--num", default=None, type=click.IntRange(min=1),
              help="samples per prompt (per class without --prompt), default 4; joint only (a2v / v2a make one "
                   "per clip of the given file)")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="sampler steps (default: the config's)")
@click.option("--cfg", "cfg_scale", default=1.0, show_default=True, type=float, help="classifier-free guidance scale")
@click.option("--guide-ckpt", default=None, help="autoguidance in place of --cfg: a weaker generator checkpoint of "
              "the same run to steer away from, e.g. runs/demo/generator/guide.ckpt ([train.generator] guide_fraction)")
@click.option("--guide-scale", default=None, type=float, help="autoguidance scale (default 2 with --guide-ckpt)")
@click.option("--guide-condition", default=None, type=click.Choice(("null", "prompt")),  # sampling.GUIDE_CONDITIONS
              help="what the guide is conditioned on: null (default; also pulls toward the prompt, as CFG does) "
              "or prompt (the sample's own, Karras et al.'s autoguidance)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", required=True, help="output folder")
@click.option("--overwrite", is_flag=True, help="replace samples already in --out")
@click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, auto")
@click.option("--batch", "batch_size", default=None, type=click.IntRange(min=1),
              help="samples per sampler run (default: all at once); every run has this shape, the last one "
              "padded (with --compile nothing recompiles); samples do not depend on it")
@compile_options
def command(config, overrides, ckpt, ae_ckpt, task, audio_file, video_file, resize, hold, prompts, given_label, num, steps,
            cfg_scale, guide_ckpt, guide_scale, guide_condition, seed, out_dir, overwrite, accelerator, batch_size,
            compile_scope) -> None:
    """Write, per sample: an mp4 with its audio track, a wav, a PNG frame strip, a PNG mel image;
    and the resolved config. With --task a2v/v2a the mp4 carries the given side and the generated one."""
    from proav_core.compiling import compiled_summary, require_compile
    from proav_core.generated import write_samples
    from proav_core.sampling import SamplingPipeline
    from proav_core.tasks import get_task
    from proav_core.training.hardware import check_accelerator

    spec = get_task(task, "--task")
    if num is not None and spec.given:
        raise UsageError(f"--num goes with --task joint; --task {spec.name} makes one sample per clip of the given file")
    if resize != "crop" and "video" not in spec.given:
        raise UsageError(f"--resize fits a given --video: it goes with --task v2a, not {spec.name}")
    if guide_scale is not None and guide_ckpt is None:
        raise UsageError("--guide-scale needs --guide-ckpt FILE, the weaker model to steer away from (e.g. the run's "
                         "generator/guide.ckpt)")
    if guide_condition is not None and guide_ckpt is None:
        raise UsageError("--guide-condition needs --guide-ckpt FILE, the weaker model to steer away from")
    if guide_ckpt is not None and cfg_scale != 1.0:
        raise UsageError("--guide-ckpt (autoguidance) takes the place of classifier-free guidance: leave --cfg at 1")
    guide_scale = (2.0 if guide_scale is None else guide_scale) if guide_ckpt else 1.0
    guided = {"guide_scale": guide_scale, "guide_condition": guide_condition or "null"}
    if steps is not None:
        overrides = (*overrides, f"sampler.steps={steps}")
    cfg = load_cli_config(config, overrides)
    out = Path(out_dir)
    check_no_earlier_samples(out, overwrite)
    device = check_accelerator(accelerator)
    if compile_scope:
        require_compile(device)  # before the checkpoints are read
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt, ae_ckpt, device=device)
    pipe.batch_size = batch_size
    if guide_ckpt:
        step = pipe.load_guide(guide_ckpt)
        console.print(f"autoguidance, scale {guide_scale:g}: steering away from {guide_ckpt} (step {step}) under "
                      f"the {guided['guide_condition']} condition", highlight=False)
    if compile_scope:  # after load_guide: the guide is compiled too
        what = "the generator and its guide" if guide_ckpt else "the generator"
        console.print(compiled_summary(pipe.compile(compile_scope), what), highlight=False)
    if spec.given:
        generated = pipe.sample(list(prompts) or None, cfg_scale=cfg_scale, seed=seed, task=spec.name,
                                audio=audio_file, video=video_file, hold=hold, given_label=given_label,
                                resize=resize, **guided)
        console.print(generated.note)
    else:
        if audio_file or video_file:
            raise UsageError("--audio goes with --task a2v and --video with --task v2a; --task joint takes neither")
        chosen = [p for p in (prompts or pipe.default_prompts()) for _ in range(num or 4)]
        generated = pipe.sample(chosen, cfg_scale=cfg_scale, seed=seed, **guided)
    check_writable(out)
    files = write_samples(out, generated, cfg)
    count = len(generated.prompts)
    console.print(f"{count} sample{'s' if count != 1 else ''} in {out} ({len(files)} files), config: "
                  f"{out / 'config.toml'}")
