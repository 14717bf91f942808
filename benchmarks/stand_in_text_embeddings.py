"""Prompt embeddings from a stand-in text encoder, to measure the `text_embeddings` conditioner's
path where no text encoder runs (proav runs none and downloads nothing).

    .venv/bin/python benchmarks/stand_in_text_embeddings.py [--config configs/demo.toml]
        [--prompt "a video of ..." ...] [--width 64] [--seed 0] [--out runs/stand_in_prompt_embeddings.pt]

Each word of a prompt (split at spaces, hyphens and underscores, lower-cased) is one token whose
embedding is a fixed unit-norm random vector, drawn from a generator seeded by the word and
--seed: the same word is the same vector in every prompt and every file written with that seed,
and nothing is contextual (a real encoder's tokens are). The file holds every class's prompt of
the config's dataset through the conditioner's template (default "a video of {cls}"), then the
--prompt items, in the layout the `text_embeddings` conditioner reads: prompts, embeddings
(N, L, E), mask (N, L) True on real tokens, and the encoder's name.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from proav_core.benchmarking.report import run_script  # noqa: E402
from proav_core.build import dataset_classes  # noqa: E402
from proav_core.cli.common import console  # noqa: E402
from proav_core.config import load_config  # noqa: E402
from proav_core.errors import UsageError  # noqa: E402

DEFAULT_TEMPLATE = "a video of {cls}"


def words(prompt: str) -> list[str]:
    """The stand-in tokeniser: lower-cased words split at spaces, hyphens and underscores."""
    return [w for w in re.split(r"[\s\-_]+", prompt.lower()) if w]


def word_vector(word: str, width: int, seed: int) -> torch.Tensor:
    """A fixed unit-norm (width,) vector for `word`: the same for the same word, width and seed."""
    digest = hashlib.sha256(f"{seed}:{word}".encode()).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
    v = torch.randn(width, generator=g)
    return v / v.norm()


def stand_in_embeddings(prompts: list[str], width: int = 64, seed: int = 0) -> dict:
    """{"prompts", "embeddings" (N, L, width), "mask" (N, L), "encoder"} for `prompts`; L is the
    longest prompt's word count, shorter prompts padded with zeros outside the mask."""
    tokens = [words(p) for p in prompts]
    empty = [p for p, t in zip(prompts, tokens) if not t]
    if empty:
        raise UsageError(f"prompt {empty[0]!r} has no words to embed")
    length = max(len(t) for t in tokens)
    embeddings = torch.zeros(len(prompts), length, width)
    mask = torch.zeros(len(prompts), length, dtype=torch.bool)
    for i, t in enumerate(tokens):
        embeddings[i, : len(t)] = torch.stack([word_vector(w, width, seed) for w in t])
        mask[i, : len(t)] = True
    return {"prompts": list(prompts), "embeddings": embeddings, "mask": mask,
            "encoder": f"stand-in word vectors (width {width}, seed {seed})"}


def class_prompts(config: Path) -> list[str]:
    """Every class's prompt of the config's dataset, through its conditioner's template."""
    cfg = load_config(config)
    classes, error = dataset_classes(cfg)
    if error is not None:
        raise UsageError(f"{config}: the dataset's class names are not available ({error})")
    template = getattr(cfg.model.conditioner, "template", None) or DEFAULT_TEMPLATE
    return [template.format(cls=c) for c in classes]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--prompt", dest="prompts", action="append", default=[])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "stand_in_prompt_embeddings.pt")
    args = ap.parse_args(argv)
    prompts = list(dict.fromkeys([*class_prompts(args.config), *args.prompts]))
    data = stand_in_embeddings(prompts, args.width, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, args.out)
    console.print(f"{len(prompts)} prompts, up to {data['mask'].shape[1]} tokens of width {args.width}: {args.out}")
    return 0


if __name__ == "__main__":
    run_script(main, console)
