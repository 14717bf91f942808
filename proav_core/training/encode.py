"""`proav encode`: turn a dataset into the latent cache with a trained autoencoder.

Items are encoded in dataset order into shards of `shard_size`; each shard is written
atomically, so an interrupted run resumes at the first missing shard (when the same
checkpoint is used). The manifest is written last, with the per-channel statistics of the
latents that the generator normalises with (latent_norm.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from lightning_fabric import Fabric
from torch.utils.data import DataLoader, Subset

from proav_core.build import build_component
from proav_core.config import ExperimentConfig
from proav_core.data.manifest import file_sha256
from proav_core.errors import ConfigError
from proav_core.output_folders import check_output_folder
from proav_core.progress import progress_bar
from proav_core.training.checkpoint import component_names, load_weights
from proav_core.training.common import CHECKPOINT, run_dir
from proav_core.training.hardware import Hardware, default_precision, make_fabric
from proav_core.training.latent_cache import MANIFEST, LatentManifest, read_shard, write_shard
from proav_core.training.latent_norm import LatentNormalizer

PROGRESS = "encode-progress.json"


def single_device_fabric(hardware: Hardware) -> Fabric:
    """One process on one device (inference: encoding, sampling)."""
    return make_fabric("run on one device", accelerator=hardware.accelerator, devices=1,
                       precision=hardware.precision or default_precision(hardware.accelerator))


def load_autoencoder(cfg: ExperimentConfig, checkpoint: str | Path | None = None,
                     option: str | None = None) -> torch.nn.Module:
    """The config's autoencoder with trained weights (EMA when present), in eval mode.

    A generator checkpoint is refused by name; `option` says where the path came from
    (e.g. "--ae-ckpt") for that message."""
    if cfg.model.autoencoder is None:
        raise ConfigError("the config has no [model.autoencoder] section", path="model.autoencoder")
    checkpoint = Path(checkpoint or run_dir(cfg) / "autoencoder" / CHECKPOINT)
    autoencoder = build_component(cfg.model.autoencoder, clip=cfg.clip)
    load_weights(autoencoder, checkpoint, component_names(cfg), "model.autoencoder", kind="autoencoder", option=option,
                 config=cfg)
    return autoencoder.eval()


@torch.no_grad()
def encode_dataset(
    cfg: ExperimentConfig,
    hardware: Hardware = Hardware(),
    *,
    checkpoint: str | Path | None = None,
    out_dir: str | Path | None = None,
    batch_size: int = 16,
    shard_size: int = 256,
) -> Path:
    """Encode the training split into <run>/latents; returns the folder."""
    checkpoint = Path(checkpoint or run_dir(cfg) / "autoencoder" / CHECKPOINT).resolve()
    out = Path(out_dir or run_dir(cfg) / "latents")
    check_output_folder(out, "--out" if out_dir else "output_dir",
                        "pass another --out" if out_dir else "set output_dir (or name) to lead to a folder")
    fabric = single_device_fabric(hardware)
    autoencoder = fabric.setup_module(load_autoencoder(cfg, checkpoint))
    if cfg.dataset is None:
        raise ConfigError("the config has no [dataset] section to encode", path="dataset")
    audio_repr = None if cfg.audio_repr is None else build_component(cfg.audio_repr, clip=cfg.clip)
    dataset = build_component(cfg.dataset, clip=cfg.clip, audio_repr=audio_repr, split="train")
    modalities = set(autoencoder.modalities)

    out.mkdir(parents=True, exist_ok=True)
    progress_file = out / PROGRESS
    key = {"checkpoint": str(checkpoint), "mtime": checkpoint.stat().st_mtime, "items": len(dataset),
           "shard_size": shard_size}
    if not progress_file.is_file() or json.loads(progress_file.read_text()) != key:
        for stale in [*out.glob("shard-*.pt"), out / MANIFEST]:
            stale.unlink(missing_ok=True)  # another checkpoint or dataset: start over
        progress_file.write_text(json.dumps(key))

    num_shards = (len(dataset) + shard_size - 1) // shard_size
    shards = [f"shard-{i:05d}.pt" for i in range(num_shards)]
    with progress_bar(len(dataset), "encode") as advance:
        for index, name in enumerate(shards):
            items = range(index * shard_size, min(len(dataset), (index + 1) * shard_size))
            if (out / name).is_file():
                advance(len(items))
                continue
            planes: dict[str, list[torch.Tensor]] = {}
            labels = []
            for batch in DataLoader(Subset(dataset, list(items)), batch_size=batch_size):
                video = batch["video"].to(fabric.device) if "video" in modalities else None
                audio = batch["audio"].to(fabric.device) if "audio" in modalities else None
                for k, v in autoencoder.encode_latents(video, audio).items():
                    planes.setdefault(k, []).append(v.float().cpu())
                labels.append(torch.as_tensor(batch["label"]))
                advance(len(labels[-1]))
            write_shard(out, index, {k: torch.cat(v) for k, v in planes.items()}, torch.cat(labels))

    normalizer = LatentNormalizer.fit(read_shard(out / name)["planes"] for name in shards)
    LatentManifest(
        plane_shapes=dict(autoencoder.plane_shapes()),
        latent_bound=float(autoencoder.latent_bound),
        classes=list(getattr(dataset, "classes", [])),
        shards=shards,
        num_items=len(dataset),
        autoencoder_checkpoint=str(checkpoint),
        autoencoder_sha256=file_sha256(checkpoint),
        components=component_names(cfg),
        normalization=normalizer.to_dict(),
    ).save(out)
    return out
