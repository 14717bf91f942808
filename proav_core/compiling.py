"""`--compile`: torch.compile of a model's transformer blocks, or of its whole velocity network.

Compilation is in place (`nn.Module.compile`): the module keeps its class, its attributes and
its state-dict keys, so checkpoints written from a compiled model load without compile (no
`_orig_mod.` prefixes), EMA copies and optimisers see the same parameters, and Fabric's
wrappers are unaffected. Shapes are static (`dynamic=False`): the sampling loop keeps one batch
shape for every step (see `fixed_batches`), so a run compiles once per shape it meets.

Scopes (`COMPILE_SCOPES`):
- `blocks`: every module inside a ModuleList or Sequential attribute named `blocks` or
  `layers`, anywhere in the model (STDiT's and the peers' blocks, javisdit's layers, MDSA's
  space-time and projector blocks). One
  graph per block class and shape; the code around the blocks (embeddings, the stacker's
  gather/scatter, the final layer) stays eager.
- `network`: the generator's forward as one graph (more fusion, a longer first call).
- `cudagraphs`: `network`, replayed as CUDA graphs (torch.compile's "reduce-overhead" mode).
  A small batch on a large GPU is bound by kernel launches, not by arithmetic (the paper
  config's 30-step sample used 1-3% of an H200 eagerly, blocks or network compiled); a CUDA
  graph launches a whole forward at once. Each call starts a new graph step and returns a
  copy of the graph's output, so an output kept across calls (Heun's first velocity,
  autoguidance's guide) is never overwritten by the next replay. On a CPU inductor leaves
  the graphs out: the same as `network`.

Block discovery is generic, so FSDP's auto-wrap policy uses the same classes (`block_classes`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from proav_core.errors import UsageError, did_you_mean

COMPILE_SCOPES = ("blocks", "network", "cudagraphs")
BLOCK_CONTAINERS = ("blocks", "layers")  # attribute names whose ModuleList/Sequential holds a model's blocks


class CompileUnavailableError(UsageError):
    """torch.compile cannot run on this machine (no C++ compiler, an unsupported platform, ...)."""


def check_scope(scope: str, option: str = "--compile-scope") -> str:
    if scope not in COMPILE_SCOPES:
        raise UsageError(f"{option} {scope!r} is not known{did_you_mean(scope, COMPILE_SCOPES)}; "
                         f"use one of {', '.join(COMPILE_SCOPES)}")
    return scope


def iter_blocks(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(dotted name, block) for every child of a ModuleList/Sequential attribute named `blocks`
    or `layers` (javisdit's) in `model` (blocks nested inside blocks are not visited twice)."""
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in BLOCK_CONTAINERS and isinstance(module, (nn.ModuleList, nn.Sequential)):
            for child_name, child in module.named_children():
                yield f"{name}.{child_name}", child


def block_classes(model: nn.Module) -> set[type[nn.Module]]:
    """The classes of `model`'s transformer blocks (iter_blocks), e.g. {STDiTBlock}; FSDP wraps
    each instance of these as one shard unit. Classes that contain one another are kept, the
    auto-wrap policy wraps the outer and inner units alike."""
    return {type(block) for _, block in iter_blocks(model)}


@functools.lru_cache(maxsize=None)
def _probe(device_type: str) -> str | None:
    """None when torch.compile builds and runs a small function on this device type, else why not."""
    if device_type == "cpu":  # inductor's C++ build says "No CUDA runtime is found" on every CPU-only machine
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        fn = torch.compile(lambda x: torch.sin(x) * 2 + 1, dynamic=False, fullgraph=True)
        fn(torch.ones(4, device=device_type))
    except Exception as err:  # noqa: BLE001 - inductor raises many types for a missing toolchain
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"
    finally:
        torch._dynamo.reset()
    return None


def compile_unavailable(device: torch.device | str) -> str | None:
    """None when torch.compile runs on `device`'s type here, else why not (probed once)."""
    return _probe(torch.device(device).type)


def require_compile(device: torch.device | str, option: str = "--compile") -> None:
    """Raise CompileUnavailableError, naming `option`, when torch.compile cannot run on `device`
    (checked once per device type and process by compiling a one-line function)."""
    device_type = torch.device(device).type
    reason = _probe(device_type)
    if reason is not None:
        hint = ("install a C++ compiler (gcc or clang; set CXX if it is not on PATH)" if device_type == "cpu"
                else "install a working Triton for this GPU")
        raise CompileUnavailableError(f"{option}: torch.compile cannot run on {device_type} here ({reason}); "
                                      f"{hint}, or run without {option}")


def compile_model(model: nn.Module, scope: str, device: torch.device | str, *, network: nn.Module | None = None,
                  option: str = "--compile") -> dict[str, Any]:
    """Compile `model` in place and return what was compiled: {"scope", "compiled": [names]}.

    scope "blocks": each block of iter_blocks(model); "network": `network` (default: `model`)
    as a whole; "cudagraphs": the same, as CUDA graphs (compile_cudagraphs). A model without
    blocks under "blocks" is left eager and says so (compiled: []).
    """
    check_scope(scope)
    require_compile(device, option)
    if scope in ("network", "cudagraphs"):
        whole = network if network is not None else model
        if scope == "network":
            whole.compile(dynamic=False)
        else:
            compile_cudagraphs(whole)
        return {"scope": scope, "compiled": [type(whole).__name__]}
    names = []
    for name, block in iter_blocks(model):
        block.compile(dynamic=False)
        names.append(name)
    return {"scope": scope, "compiled": names}


def compile_cudagraphs(module: nn.Module) -> None:
    """Compile `module` in place, whole, in "reduce-overhead" mode (CUDA graphs on a GPU).

    As nn.Module.compile does (it sets `_compiled_call_impl` to the compiled `_call_impl`), plus
    two things around each call: `cudagraph_mark_step_begin` (every call is a new step, so no
    replay waits on an earlier one's outputs) and a copy of each output tensor (the graph's
    own output buffers are overwritten by its next replay).
    """
    compiled = torch.compile(module._call_impl, dynamic=False, mode="reduce-overhead")

    def call(*args: Any, **kwargs: Any) -> Any:
        torch.compiler.cudagraph_mark_step_begin()
        out = compiled(*args, **kwargs)
        return torch.utils._pytree.tree_map_only(torch.Tensor, torch.clone, out)

    module._compiled_call_impl = call


def compiled_summary(compiled: dict[str, Any], what: str) -> str:
    """One line for the user: what --compile compiled in `what` (e.g. "the generator")."""
    names = compiled["compiled"]
    if not names:
        return (f"--compile: {what} has no `blocks` or `layers` ModuleList, nothing was compiled (use --compile-scope network "
                "to compile its whole forward)")
    if compiled["scope"] == "network":
        return f"--compile: {what} ({names[0]}) compiled as one network"
    if compiled["scope"] == "cudagraphs":
        return f"--compile: {what} ({names[0]}) compiled as one network, replayed as CUDA graphs (on a GPU)"
    return f"--compile: {len(names)} blocks of {what} compiled ({names[0]}, ...)"


def is_compiled(module: nn.Module) -> bool:
    """Whether `module` itself was compiled in place (nn.Module.compile)."""
    return getattr(module, "_compiled_call_impl", None) is not None


def fixed_batches(total: int, batch: int) -> Iterator[tuple[list[int], int]]:
    """(rows, real) per batch covering range(total): `rows` holds `batch` item indices, the
    batch's `real` items followed by copies of its last one, so every batch has the same shape
    (the last partial batch is padded; the caller drops rows[real:] after sampling)."""
    if batch < 1:
        raise UsageError(f"batch size must be at least 1, got {batch}")
    for start in range(0, total, batch):
        stop = min(start + batch, total)
        yield list(range(start, stop)) + [stop - 1] * (batch - (stop - start)), stop - start
