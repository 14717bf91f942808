"""Sharded training: Fabric's FSDP with one shard unit per transformer block.

`proav train generator CONFIG --strategy fsdp --devices N` (or `fabric run --strategy fsdp
... scripts/train.py generator CONFIG`) trains with `BlockShardedFSDP`: Fabric's FSDPStrategy
whose auto-wrap policy wraps every instance of the model's block classes, found generically
(proav_core.compiling.block_classes: the modules inside any ModuleList/Sequential named
`blocks`, so STDiT, the peers and any third-party generator with such a list shard per block),
and whose checkpoints are full state dicts gathered on rank 0 ("full"), so a checkpoint from N
processes loads in a single process (sampling, evaluation, resuming on one device).

The EMA shadow is an unsharded copy on every rank, updated from the gathered weights
(`update_ema`); the other strategies update it from the live weights directly.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.strategies import FSDPStrategy
from torch import nn

from proav_core.compiling import block_classes

FSDP_STRATEGIES = ("fsdp", "fsdp_cpu_offload")
_WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


class BlockShardedFSDP(FSDPStrategy):
    """FSDPStrategy: auto-wrap policy over the block classes of the module it sets up (unless one
    is given), full-state checkpoints (unless `state_dict_type` is given)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("state_dict_type", "full")
        super().__init__(**kwargs)
        self.wrapped_classes: set[type[nn.Module]] = set()

    def setup_module(self, module: nn.Module) -> nn.Module:
        if "auto_wrap_policy" not in self._fsdp_kwargs:
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            self.wrapped_classes = block_classes(module)
            if self.wrapped_classes:
                self._fsdp_kwargs["auto_wrap_policy"] = ModuleWrapPolicy(self.wrapped_classes)
        if self.root_device.type != "cpu" or self._activation_checkpointing_kwargs:
            return super().setup_module(module)
        # CPU processes (gloo): FSDP looks for an accelerator unless device_id names the CPU, and
        # Fabric passes the device's index (None on CPU); the rest is FSDPStrategy.setup_module's
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel(module=module, cpu_offload=self.cpu_offload,
                                        mixed_precision=self.mixed_precision_config,
                                        sharding_strategy=self.sharding_strategy, device_id=self.root_device,
                                        **self._fsdp_kwargs)


def fsdp_strategy(name: str) -> BlockShardedFSDP:
    """The strategy object for `--strategy fsdp` (or fsdp_cpu_offload)."""
    return BlockShardedFSDP(cpu_offload=name == "fsdp_cpu_offload")


def is_sharded(fabric: Fabric) -> bool:
    return isinstance(fabric.strategy, FSDPStrategy)


def clean_name(name: str) -> str:
    """A parameter name inside FSDP/checkpoint/compile wrappers -> its name in the bare module."""
    for prefix in _WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


@torch.no_grad()
def update_ema(fabric: Fabric, ema: Any, model: nn.Module) -> None:
    """ema.update(model), with an FSDP model's weights gathered first (matched by name)."""
    if not is_sharded(fabric):
        ema.update(model)
        return
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    root = getattr(model, "_forward_module", model)
    with FSDP.summon_full_params(root, writeback=False, recurse=True):
        live = {clean_name(k): p for k, p in root.named_parameters()}
        shadow = dict(ema.shadow.named_parameters())
        pairs = [(shadow[k], live[k].detach().to(shadow[k].dtype)) for k in shadow]
        torch._foreach_lerp_([s for s, _ in pairs], [p for _, p in pairs], 1.0 - ema.decay)
