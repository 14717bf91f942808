"""The latent cache: planes in the autoencoder's generator space, written by `proav encode`,
read by generator training. Shards are written atomically; a manifest records the latent
geometry, the box, the per-channel statistics the generator normalises with
(latent_norm.py), the class names and where the latents came from.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from proav_core.errors import DataError
from proav_core.training.latent_norm import LatentNormalizer

MANIFEST = "latents.json"


@dataclass
class LatentManifest:
    plane_shapes: dict[str, tuple[int, int, int]]
    latent_bound: float
    classes: list[str]
    shards: list[str] = field(default_factory=list)
    num_items: int = 0
    autoencoder_checkpoint: str = ""
    components: dict[str, str] = field(default_factory=dict)
    normalization: dict[str, Any] | None = None  # LatentNormalizer.to_dict(); None: caches from before
    autoencoder_sha256: str = ""  # of the checkpoint file the cache was encoded with; "": caches from before

    def save(self, directory: Path) -> None:
        tmp = directory / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, directory / MANIFEST)

    @classmethod
    def load(cls, directory: str | Path) -> LatentManifest:
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise DataError(
                f"no latent cache at {directory} ({MANIFEST} missing): run `proav encode CONFIG` first",
                source=str(path),
            )
        data = json.loads(path.read_text())
        data["plane_shapes"] = {k: tuple(v) for k, v in data["plane_shapes"].items()}
        return cls(**data)


def read_shard(path: Path) -> dict[str, Any]:
    """One shard {planes: {name: (N, C, a, b)}, label: (N,)}, or a DataError naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(
            f"latent shard {path} is unreadable ({type(err).__name__}); rerun `proav encode`",
            source=str(path),
        ) from None


def write_shard(directory: Path, index: int, planes: dict[str, torch.Tensor], labels: torch.Tensor) -> str:
    """Save one shard {planes: {name: (N, C, a, b)}, label: (N,)} atomically; returns its file name."""
    name = f"shard-{index:05d}.pt"
    tmp = directory / (name + ".tmp")
    torch.save({"planes": {k: v.contiguous() for k, v in planes.items()}, "label": labels}, tmp)
    os.replace(tmp, directory / name)
    return name


class LatentDataset(Dataset):
    """Items {"planes": {name: (C, a, b)}, "label": int} from a latent cache folder."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.manifest = LatentManifest.load(self.directory)
        planes: dict[str, list[torch.Tensor]] = {}
        labels = []
        for shard in self.manifest.shards:
            data = read_shard(self.directory / shard)
            for k, v in data["planes"].items():
                planes.setdefault(k, []).append(v)
            labels.append(data["label"])
        if not labels:
            raise DataError(f"latent cache {self.directory} holds no latents; rerun `proav encode`")
        self.planes = {k: torch.cat(v) for k, v in planes.items()}
        self.labels = torch.cat(labels)

    def normalizer(self) -> LatentNormalizer:
        """The cache's per-channel statistics (identity for a cache written without them)."""
        if self.manifest.normalization is None:
            return LatentNormalizer.identity(self.manifest.plane_shapes)
        return LatentNormalizer.from_dict(self.manifest.normalization)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"planes": {k: v[index] for k, v in self.planes.items()}, "label": self.labels[index]}


def autoencoder_changed(checkpoint: str | Path, sha256: str) -> bool:
    """Whether the autoencoder checkpoint file at `checkpoint` is no longer the one whose sha256
    a latent cache recorded (False when nothing was recorded or the file is gone: no telling)."""
    from proav_core.data.manifest import file_sha256

    path = Path(checkpoint)
    return bool(sha256) and path.is_file() and file_sha256(path) != sha256


def encoding_autoencoder(generator_checkpoint: str | Path, recorded: str | Path, sha256: str) -> Path:
    """The autoencoder checkpoint a generator's latents were encoded with: the `recorded` path, or,
    when that is gone (a run folder moved or copied elsewhere), the file at the same place relative
    to the generator's checkpoint (<run>/autoencoder/last.ckpt beside <run>/generator/last.ckpt)
    if its sha256 is the recorded one. Otherwise a CheckpointError naming --ae-ckpt."""
    from proav_core.data.manifest import file_sha256
    from proav_core.errors import CheckpointError

    recorded = Path(recorded)
    if recorded.is_file():
        return recorded
    moved = Path(generator_checkpoint).resolve().parent.parent / recorded.parent.name / recorded.name
    if sha256 and moved.is_file() and file_sha256(moved) == sha256:
        return moved
    beside = f"; {moved} is another autoencoder (its sha256 differs)" if moved.is_file() and sha256 else ""
    raise CheckpointError(f"the autoencoder checkpoint the generator's latents were encoded with is gone: {recorded} "
                          f"(a moved or deleted run folder?){beside}; give that autoencoder's checkpoint with "
                          "--ae-ckpt (SamplingPipeline.from_checkpoint's `autoencoder_checkpoint`)")
