"""`proav model summary CONFIG`: parameter counts per component, latent shapes, extra figures.

Generic: builds whatever model sections the config has (proav_core.build_from_config) on
torch's meta device, so even paper-size models are summarised in seconds without memory or
forwards. Each nn.Module component is broken down into its children (containers such as
ModuleDicts expanded: encoders.video, attention.cross_hw, ...); an autoencoder with a
`training_step()` also lists that step's discriminators. Any component or sub-component that
defines `describe() -> dict` has those figures printed too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from proav_core.cli.common import config_argument, console, err_console, load_cli_config

SECTIONS = ("autoencoder", "stacker", "conditioner", "generator", "objective", "sampler")


def _count(module: Any) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _children(module: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted name, module) of the children; ModuleDict / ModuleList members listed instead
    of their container (encoders.video, attention.cross_hw, ...)."""
    from torch import nn

    out = []
    for name, child in module.named_children():
        path = f"{prefix}.{name}"
        if isinstance(child, (nn.ModuleDict, nn.ModuleList)) and len(child):
            out += [(f"{path}.{k}", c) for k, c in child.named_children()]
        else:
            out.append((path, child))
    return out


def _describe(obj: Any) -> dict[str, Any] | None:
    fn = getattr(obj, "describe", None)
    if not callable(fn):
        return None
    try:
        return dict(fn())
    except Exception as err:  # noqa: BLE001 - a figure that cannot be computed is reported, not fatal
        return {"describe() failed": f"{type(err).__name__}: {err}"}


def _classes(cfg: Any) -> list[str]:
    from proav_core.build import dataset_classes

    if cfg.model.conditioner is None or cfg.dataset is None:
        return []
    classes, err = dataset_classes(cfg)
    if err is not None:
        err_console.print(f"note: dataset classes unavailable ({err}); the conditioner is sized for none")
    return classes


def build_model_sections(cfg: Any, classes: list[str]) -> Any:
    """The config's model sections (no data, metrics or audio representation) built with the
    current default device; call it under `torch.device("meta")` to build without memory."""
    from proav_core.build import build_from_config

    slim = cfg.model_copy(update={"metrics": [], "audio_repr": None, "dataset": None})
    return build_from_config(slim, classes=classes)


def model_summary(cfg: Any) -> dict[str, Any]:
    """Build the config's model sections on the meta device and collect the summary figures.

    Returns {"components": [{"component", "name", "parameters", "trainable"}...],
    "planes": {name: shape}, "latent_shape", "latent_bound", "details": {component: dict},
    "notes": [...]}.
    """
    import torch
    from torch import nn

    from proav_core.errors import ProavError

    classes = _classes(cfg)
    out: dict[str, Any] = {"components": [], "planes": {}, "latent_shape": None, "latent_bound": None,
                           "details": {}, "notes": []}
    with torch.device("meta"):
        parts = build_model_sections(cfg, classes)
        named = [(s, getattr(parts, s)) for s in SECTIONS if getattr(parts, s) is not None]
        ae = parts.autoencoder
        if ae is not None and callable(getattr(ae, "training_step", None)):
            try:
                named.insert(1, ("autoencoder.training_step", ae.training_step()))
            except ProavError as err:
                out["notes"].append(f"autoencoder training step not built: {err}")
    for section, comp in named:
        section_cfg = getattr(cfg.model, section, None) or getattr(cfg, section, None)
        reg_name = getattr(section_cfg, "name", "") or ""
        rows = [(section, comp)]
        if isinstance(comp, nn.Module):
            rows += _children(comp, section)
        for path, obj in rows:
            total, trainable = _count(obj) if isinstance(obj, nn.Module) else (0, 0)
            out["components"].append({"component": path, "name": reg_name if path == section else
                                      type(obj).__name__, "parameters": total, "trainable": trainable,
                                      "top": path == section})
            info = _describe(obj)
            if info:
                out["details"][path] = info
    if ae is not None:
        out["planes"] = {k: tuple(v) for k, v in ae.plane_shapes().items()}
        out["latent_bound"] = float(ae.latent_bound) if getattr(ae, "latent_bound", None) is not None else None
    if parts.stacker is not None:
        out["latent_shape"] = tuple(parts.stacker.latent_shape)
    return out


def _fmt(n: int) -> str:
    return f"{n:,}"


@click.group("model")
def command() -> None:
    """Model structure: parameters per component, latent shapes, analytic figures."""


@command.command("summary")
@config_argument
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="also write the figures as JSON to this file")
def summary_cmd(config: str, overrides: tuple[str, ...], json_path: str | None) -> None:
    """Parameter count per component and sub-component, plane and latent shapes."""
    cfg = load_cli_config(config, overrides)
    s = model_summary(cfg)
    if not s["components"]:
        console.print(f"{config}: the config has no [model.*], [objective] or [sampler] sections", markup=False)
        return
    total = sum(r["parameters"] for r in s["components"] if r["top"])
    table = Table(title=f"{cfg.name}: parameters ({total / 1e6:.2f} M in all)")
    table.add_column("component", no_wrap=True)
    table.add_column("registry name / class", overflow="fold", min_width=14)
    table.add_column("parameters", justify="right", no_wrap=True)
    table.add_column("trainable", justify="right", no_wrap=True)
    for row in s["components"]:
        style = "bold" if row["top"] else ""
        label = row["component"] if row["top"] else "  " + row["component"].split(".", 1)[1]
        table.add_row(label, row["name"], _fmt(row["parameters"]), _fmt(row["trainable"]), style=style)
    console.print(table)
    if s["planes"]:
        planes = Table(title="latent planes (per sample)")
        for column in ("plane", "shape (C, a, b)", "elements"):
            planes.add_column(column)
        for name, shape in s["planes"].items():
            planes.add_row(name, str(shape), f"{shape[0] * shape[1] * shape[2]:,}")
        console.print(planes)
    if s["latent_shape"] is not None:
        console.print(f"stacked latent shape: {s['latent_shape']}", highlight=False)
    if s["latent_bound"] is not None:
        console.print(f"latent box: [-{s['latent_bound']:g}, {s['latent_bound']:g}]", highlight=False)
    for path, info in s["details"].items():
        details = Table(title=f"{path}: describe()")
        details.add_column("figure")
        details.add_column("value", overflow="fold")
        for key, value in info.items():
            details.add_row(str(key), f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
        console.print(details)
    for note in s["notes"]:
        console.print(f"note: {note}", highlight=False)
    if json_path:
        Path(json_path).write_text(json.dumps(s, indent=2, default=str))
