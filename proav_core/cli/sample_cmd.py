"""`proav sample CONFIG --ckpt PATH ...`: generate sounding videos from a trained generator."""

from __future__ import annotations

import os
from pathlib import Path

import click

from proav_core.cli.common import config_argument, console, load_cli_config
from proav_core.errors import UsageError


def check_writable(out: Path, overwrite: bool) -> None:
    """The output folder exists or can be made, accepts files, and holds no earlier samples.

    Folders it makes for the test are removed again: a run refused later (a bad checkpoint,
    an unknown prompt) leaves no empty --out behind; the samples' writer makes them."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".proav-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"output directory {out} is not writable ({err.strerror}); pass another --out") from None
    finally:
        for folder in made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break  # not made, or no longer empty: keep it and its parents
    earlier = sorted(out.glob("sample_*.mp4"))
    if earlier and not overwrite:
        raise UsageError(f"{out} already holds samples ({earlier[0].name}, ...); pass --overwrite or another --out")


@click.command("sample")
@config_argument
@click.option("--ckpt", required=True, help="generator checkpoint (e.g. runs/demo/generator/last.ckpt)")
@click.option("--ae-ckpt", default=None, help="autoencoder checkpoint (default: the one the latents came from)")
@click.option("--prompt", "prompts", multiple=True, help='"a video of <class>" or a class name; repeatable '
              "(default: each class in turn)")
@click.option("--num", default=4, show_default=True, type=click.IntRange(min=1), help="samples per prompt (per class without --prompt)")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="sampler steps (default: the config's)")
@click.option("--cfg", "cfg_scale", default=1.0, show_default=True, type=float, help="classifier-free guidance scale")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", required=True, help="output folder")
@click.option("--overwrite", is_flag=True, help="replace samples already in --out")
@click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, auto")
def command(config, overrides, ckpt, ae_ckpt, prompts, num, steps, cfg_scale, seed, out_dir, overwrite,
            accelerator) -> None:
    """Write, per sample: an mp4 with its audio track, a wav, a PNG frame strip, a PNG mel image;
    and the resolved config."""
    from proav_core.sampling import SamplingPipeline, write_samples

    if steps is not None:
        overrides = (*overrides, f"sampler.steps={steps}")
    cfg = load_cli_config(config, overrides)
    out = Path(out_dir)
    check_writable(out, overwrite)
    device = "cuda" if accelerator in ("cuda", "gpu") or (accelerator == "auto" and _cuda()) else "cpu"
    pipe = SamplingPipeline.from_checkpoint(cfg, ckpt, ae_ckpt, device=device)
    chosen = [p for p in (prompts or pipe.default_prompts()) for _ in range(num)]
    generated = pipe.sample(chosen, cfg_scale=cfg_scale, seed=seed)
    files = write_samples(out, generated, cfg)
    console.print(f"{len(chosen)} samples in {out} ({len(files)} files), config: {out / 'config.toml'}")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
