"""Checkpoints: written atomically through `fabric.save`, checked against the config on load.

A checkpoint holds the modules, EMA, optimisers, schedulers, step, RNG states, the resolved
config and the component names (dotted config path -> registry name). It is first written to
`<name>.tmp` and then renamed over the old file, so a crash mid-write never corrupts the last
good checkpoint. The training loops write three kinds (`checkpoint_kind`): an autoencoder
checkpoint (with `discriminators`), a generator checkpoint (with `latents`, the geometry of
the latent cache it was trained on) and a prior checkpoint (with `prior_stage`); a checkpoint
of the wrong kind is refused by name.
"""

from __future__ import annotations

import os
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric import Fabric

from proav_core.config import ComponentConfig, ExperimentConfig, config_to_dict
from proav_core.errors import CheckpointError, ConfigError, load_error_reason


def component_names(cfg: ExperimentConfig) -> dict[str, str]:
    """Every component section of a resolved config: dotted path -> registry name."""
    from pydantic import BaseModel

    found: dict[str, str] = {}

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, ComponentConfig):
            found[path] = str(obj.name)
            walk(obj.params, path)
        elif isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{path}.{name}" if path else name)
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(item, f"{path}[{i}]")
        elif isinstance(obj, dict):  # e.g. the MDSA's stream_decoders: {modality: component}
            for key, item in obj.items():
                walk(item, f"{path}.{key}")

    walk(cfg, "")
    return found


def rng_state() -> dict[str, Any]:
    """Every RNG's state, in types torch.load(weights_only=True) accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_step(seed: int, step: int, rank: int) -> None:
    """Reseed every RNG from (seed, step, rank): a resumed run draws what the original drew."""
    value = (seed * 1_000_003 + step * 4099 + rank) % (2**31)
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)


def save_checkpoint(fabric: Fabric, path: str | Path, state: dict[str, Any]) -> Path:
    """fabric.save to a temporary name, then an atomic rename over `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fabric.save(tmp, state)
    if fabric.is_global_zero:
        os.replace(tmp, path)
    fabric.barrier()
    return path


def component_differences(raw: dict[str, Any], components: dict[str, str], prefix: str) -> list[str]:
    """Where a checkpoint (`raw`, as read by peek_checkpoint) and a config's `components`
    (component_names) name other components under `prefix`, one line each."""
    saved = {k: v for k, v in raw.get("components", {}).items() if k.startswith(prefix)}
    return _differences(saved, {k: v for k, v in components.items() if k.startswith(prefix)})


def _differences(saved: dict[str, str], current: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, "(absent)"), current.get(key, "(absent)")
        if a != b:
            out.append(f"{key}: checkpoint has '{a}', config has '{b}'")
    return out


def config_differences(saved: Any, current: Any, prefix: str, show: int = 4) -> str:
    """The settings under `prefix` (e.g. "model.autoencoder") where a checkpoint's saved config
    and the present one (both as config_to_dict gives them) differ, as one phrase ("" if none,
    or if either config is missing): what explains weights that do not fit. A component parameter
    one config leaves out shows as "default": the component's own (e.g. a preset's width)."""
    if not isinstance(saved, dict) or not isinstance(current, dict):
        return ""

    def flat(tree: Any, path: str = "") -> dict[str, Any]:
        if not isinstance(tree, dict):
            return {path: tree}
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flat(value, f"{path}.{key}" if path else str(key)))
        return out

    def value(tree: dict[str, Any], key: str) -> str:
        return repr(tree[key]) if key in tree else "default"

    a, b = flat(saved), flat(current)
    keys = [k for k in sorted(set(a) | set(b))
            if (k == prefix or k.startswith(prefix + ".")) and value(a, k) != value(b, k)]
    if not keys:
        return ""
    shown = ", ".join(f"{k} (checkpoint {value(a, k)}, config {value(b, k)})" for k in keys[:show])
    return f"its config differs in {len(keys)} setting{'s' * (len(keys) != 1)}: {shown}" + (", ..." if len(keys) > show else "")


def _does_not_fit(path: Path | str, saved_config: Any, current_config: Any, prefix: str) -> str:
    """The head of the message for weights that do not fit: the differing settings where the
    configs tell them, else the guess that sizes differ."""
    why = config_differences(saved_config, current_config, prefix)
    return (f"checkpoint {path} does not fit the model the config builds (same components; {why})" if why else
            f"checkpoint {path} does not fit the model the config builds (same components, other sizes?)")


def _load_mapped(path: Path) -> Any:
    """torch.load (weights only, CPU) with the tensors memory-mapped: a peek at a checkpoint's
    plain values (kind, components, latents) reads only those, not gigabytes of weights, and
    weights are paged in as they are copied into a model. Files in torch's legacy (pre-zip)
    format (not a zip archive) cannot be mapped and are read whole."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))


def _read_raw(path: Path) -> dict[str, Any]:
    if path.stat().st_size == 0:
        raise CheckpointError(f"cannot read checkpoint {path}: empty file (0 bytes), not a proav checkpoint")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol warning: the error below says it all
            warnings.simplefilter("ignore")
            raw = _load_mapped(path)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is corrupt or not a proav checkpoint "
            f"({load_error_reason(err)})"
        ) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"cannot read checkpoint {path}: it holds a {type(raw).__name__}, "
                              "not a proav checkpoint")
    return raw


CHECKPOINT_KINDS = {
    "autoencoder": "`proav train autoencoder` writes it as <output_dir>/<name>/autoencoder/last.ckpt",
    "generator": "`proav train generator` writes it as <output_dir>/<name>/generator/last.ckpt",
    "prior": "`proav train prior` writes it as <output_dir>/<name>/prior/last.ckpt",
}


def checkpoint_kind(contents: dict[str, Any]) -> str | None:
    """"autoencoder", "generator" or "prior": which training loop wrote a checkpoint (or a state dict
    about to be saved), told by what only that loop saves; None for anything else."""
    if "prior_stage" in contents:
        return "prior"
    if "latents" in contents:
        return "generator"
    if "discriminators" in contents:
        return "autoencoder"
    return None


def require_kind(raw: dict[str, Any], path: str | Path, expected: str, option: str | None = None) -> None:
    """Refuse a checkpoint of the other kind, saying what it is and what is needed.

    `option` names where the path came from (e.g. "--ae-ckpt"). A file of no known kind is
    left to the weight checks, which name what it lacks."""
    found = checkpoint_kind(raw)
    if found is None or found == expected:
        return
    def a(kind: str) -> str:
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} checkpoint"

    needs = f"; {option} needs {a(expected)}" if option else f", not the {expected} checkpoint needed here"
    raise CheckpointError(f"{path} is {a(found)}{needs} ({CHECKPOINT_KINDS[expected]})")


def peek_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw contents of a checkpoint file (CPU tensors), with a clear error if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return _read_raw(path)


def load_checkpoint(
    fabric: Fabric, path: str | Path, state: dict[str, Any], components: dict[str, str]
) -> dict[str, Any]:
    """Restore `state` in place from `path`; returns the checkpoint's plain values (step,
    config, components, ...), those restored into `state` and those it did not ask for.

    Raises CheckpointError when the file is missing or corrupt, or was written for other
    components than `components` (the differing ones are named).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        remainder = fabric.load(path, state)
    except CheckpointError:
        raise
    except Exception as err:
        raw = _read_raw(path)  # raises for corrupt files
        if (expected := checkpoint_kind(state)) is not None:
            require_kind(raw, path, expected)
        diff = _differences(raw.get("components", {}), components)
        if diff:
            raise CheckpointError(
                f"checkpoint {path} was written for other components:\n  " + "\n  ".join(diff)
            ) from None
        if _has_pre_fused_qkv(state, raw):
            raise CheckpointError(
                f"checkpoint {path} was written before self-attention fused its q, k, v projections: its weights "
                "still load for sampling, encoding and evaluation, but its optimiser state cannot resume training; "
                "start a new run (or resume with the proav version that wrote it)"
            ) from None
        found = [f"{key}: {state_mismatch(value.state_dict(), raw[key])}" for key, value in state.items()
                 if isinstance(value, torch.nn.Module) and isinstance(raw.get(key), dict)]
        found = [line for line in found if not line.endswith(": ")]
        detail = "\n  ".join(found) or f"{type(err).__name__}: {str(err)[:1000]}"
        head = _does_not_fit(path, raw.get("config"), state.get("config"), "model")
        raise CheckpointError(f"{head}:\n  {detail}") from None
    loaded = {**state, **remainder}  # fabric copies plain values back into `state`
    diff = _differences(loaded.get("components", {}), components)
    if diff:
        raise CheckpointError(f"checkpoint {path} was written for other components:\n  " + "\n  ".join(diff))
    return loaded


def load_weights(
    module: torch.nn.Module,
    path: str | Path,
    components: dict[str, str],
    prefix: str,
    *,
    prefer_ema: bool = True,
    raw: dict[str, Any] | None = None,
    kind: str | None = None,
    option: str | None = None,
    config: ExperimentConfig | None = None,
) -> dict[str, Any]:
    """Load a trained module's weights (the EMA copy when the checkpoint has one) for inference.

    Only the components under `prefix` (e.g. "model.autoencoder") are compared with the
    config. `raw`: the checkpoint already read by peek_checkpoint(path), so it is not read
    twice. `kind`: the checkpoint kind needed ("autoencoder" or "generator"); one of the other
    kind is refused, naming `option` (where the path came from, e.g. "--ae-ckpt"). Returns
    the raw checkpoint for its other entries (config, latents, step). `config`: the present
    config, so weights that do not fit are explained by the settings under `prefix` that
    differ from the checkpoint's (read only then).
    """
    raw = peek_checkpoint(path) if raw is None else raw
    if kind is not None:
        require_kind(raw, path, kind, option)
    diff = component_differences(raw, components, prefix)
    if diff:
        raise CheckpointError(f"checkpoint {path} was written for other components:\n  " + "\n  ".join(diff))
    if prefer_ema and "ema" in raw:
        weights = {k.removeprefix("shadow."): v for k, v in raw["ema"].items() if k.startswith("shadow.")}
    elif "model" in raw:
        weights = raw["model"]
    else:
        raise CheckpointError(f"checkpoint {path} holds no model weights (keys: {sorted(raw)})")
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:
        detail = state_mismatch(module.state_dict(), weights) or str(err)[:1000]
        head = _does_not_fit(path, raw.get("config"), None if config is None else config_to_dict(config),
                             prefix.rstrip("."))
        raise CheckpointError(f"{head}: {detail}") from None
    return raw


def _has_pre_fused_qkv(state: dict[str, Any], raw: dict[str, Any]) -> bool:
    """Whether a module of `state` has a fused `to_qkv` where the saved weights have the earlier
    separate `to_q` + `to_kv` (proav_core.layers.Attention; the weights convert on load, the
    optimiser state does not)."""
    return any(k.endswith("to_qkv.weight") and k.removesuffix("to_qkv.weight") + "to_q.weight" in raw[key]
               for key, value in state.items() if isinstance(value, torch.nn.Module) and isinstance(raw.get(key), dict)
               for k in value.state_dict())


def load_saved_conditioner(conditioner: torch.nn.Module, saved: dict[str, Any], source: str) -> None:
    """Load conditioner weights saved beside another stage's model (a generator's `prepare_conditioner`
    hook); ConfigError naming model.conditioner, `source` and the difference when they do not fit."""
    if problem := state_mismatch(conditioner.state_dict(), saved):
        raise ConfigError(f"model.conditioner: the conditioner saved {source} does not fit the config's (same "
                          f"classes and dim?): {problem}", path="model.conditioner")
    conditioner.load_state_dict(saved)


def state_mismatch(expected: dict[str, Any], saved: dict[str, Any], show: int = 3) -> str:
    """One line on how a saved state dict differs from the model's ("" when it fits). A module's
    extra state (`_extra_state`, e.g. text_embeddings' fingerprint) missing from older weights is
    not a difference: such modules load without it."""
    def shape(v: Any) -> tuple[int, ...]:
        return tuple(getattr(v, "shape", ()))

    resized = [k for k in expected if k in saved and shape(expected[k]) != shape(saved[k])]
    missing = [k for k in expected if k not in saved and not k.endswith("_extra_state")]
    extra = [k for k in saved if k not in expected]
    parts = []
    if resized:
        shown = ", ".join(f"{k} (checkpoint {shape(saved[k])}, config {shape(expected[k])})" for k in resized[:show])
        parts.append(f"{len(resized)} tensors of other shapes: {shown}" + (", ..." if len(resized) > show else ""))
    for label, keys in (("missing from the checkpoint", missing), ("not in the model", extra)):
        if keys:
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:show])}" + (", ..." if len(keys) > show else ""))
    return "; ".join(parts)
