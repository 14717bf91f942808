"""Hardware comes from the command line or from `fabric run`, never from a config file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.connector import _is_using_cli
from lightning_fabric.strategies import Strategy


@dataclass(frozen=True)
class Hardware:
    """What `proav train --accelerator/--devices/--strategy/--precision/--num-nodes/--compile` set."""

    accelerator: str = "auto"
    devices: str = "1"
    strategy: str = "auto"
    precision: str | None = None  # None: bf16-mixed where supported, else 32-true
    num_nodes: int = 1
    compile_scope: str | None = None  # --compile: "blocks", "network" or "cudagraphs" (proav_core.compiling); None: eager


def device_type(accelerator: str) -> str:
    """The torch device type an --accelerator value trains on: cuda for cuda / gpu (and auto with
    a CUDA device), mps for mps, else cpu."""
    if accelerator in ("cuda", "gpu") or (accelerator == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "mps" if accelerator == "mps" else "cpu"


def default_precision(accelerator: str) -> str:
    """bf16-mixed on a CUDA device that supports it; 32-true elsewhere (CPU, older GPUs)."""
    wants_cuda = device_type(accelerator) == "cuda"
    if wants_cuda and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _devices(value: str) -> int | str | list[int]:
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if "," in text:
        return [int(x) for x in text.split(",") if x.strip()]
    return text


def _strategy(name: str) -> str | Strategy:
    """--strategy: fsdp (and fsdp_cpu_offload) become proav's block-wise FSDP
    (proav_core.training.sharding); any other name goes to Fabric as it is."""
    from proav_core.training.sharding import FSDP_STRATEGIES, fsdp_strategy

    return fsdp_strategy(name) if name in FSDP_STRATEGIES else name


ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")


def check_accelerator(accelerator: str) -> str:
    """The device type of an --accelerator value that names a known kind of device present
    here; a UsageError naming the option otherwise."""
    from proav_core.errors import UsageError, did_you_mean

    if accelerator not in ACCELERATORS:
        raise UsageError(f"--accelerator {accelerator!r} is not known{did_you_mean(accelerator, ACCELERATORS)}; "
                         f"use one of {', '.join(ACCELERATORS)}")
    kind = device_type(accelerator)
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--accelerator {accelerator}: no CUDA device is available here; use --accelerator cpu "
                         "(or auto)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--accelerator {accelerator}: no MPS device is available here; use --accelerator cpu "
                         "(or auto)")
    return kind


def make_fabric(what: str, **settings: Any) -> Fabric:
    """Fabric(**settings), with the user's mistakes (an unknown or absent accelerator, a
    strategy, precision or device count Lightning refuses) as one-line UsageErrors naming the
    options; `what` says what could not start, e.g. "train", "encode"."""
    from proav_core.errors import UsageError

    check_accelerator(settings.get("accelerator", "auto"))
    try:
        return Fabric(**settings)
    except Exception as err:  # noqa: BLE001 - Lightning raises several types for the same user mistake
        shown = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items()
                         if isinstance(v, (str, int, list)))
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"cannot {what} with {shown}: {text}") from None


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one (a container
    or `taskset` pinning it to a few cores of a larger machine), else os.cpu_count(). A CPU
    quota (cgroup cpu.max) without pinning is not seen."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def share_cpu_threads(local_processes: int) -> int | None:
    """Under `fabric run`, cap each of a machine's `local_processes` at its share of the usable
    cores' threads (the launcher leaves every process as many threads as the machine has cores, so 2
    CPU processes ran 8x slower than `--devices 2`); a lower setting (OMP_NUM_THREADS=1) is
    kept. Returns the threads set, None when left alone."""
    share = max(1, usable_cores() // max(1, local_processes))
    if local_processes <= 1 or torch.get_num_threads() <= share:
        return None
    torch.set_num_threads(share)
    os.environ["OMP_NUM_THREADS"] = str(share)
    return share


def launch_fabric(hardware: Hardware) -> Fabric:
    """A launched Fabric. Under `fabric run` its LT_* settings win and launch() is not called
    (the processes already exist); otherwise the command-line settings are used. FSDP, from
    either, shards block-wise and saves full-state checkpoints (training/sharding.py)."""
    if _is_using_cli():
        share_cpu_threads(int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
        name = os.environ.get("LT_STRATEGY", "auto")
        if isinstance(strategy := _strategy(name), str):
            return Fabric()
        os.environ.pop("LT_STRATEGY")  # Fabric refuses an object beside the CLI's name; the object says the same
        try:
            return Fabric(strategy=strategy)
        finally:
            os.environ["LT_STRATEGY"] = name
    fabric = make_fabric(
        "train",
        accelerator=hardware.accelerator,
        devices=_devices(hardware.devices),
        strategy=_strategy(hardware.strategy),
        precision=hardware.precision or default_precision(hardware.accelerator),
        num_nodes=hardware.num_nodes,
    )
    fabric.launch()
    return fabric
