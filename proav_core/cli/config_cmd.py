"""`proav config show|check`: the resolved config and its validation."""

from __future__ import annotations

import click
from rich.tree import Tree

from proav_core.cli.common import config_argument, console, load_cli_config


@click.group("config")
def command() -> None:
    """Experiment configs: show the resolved TOML, check every component."""


@command.command("show")
@config_argument
def show_cmd(config: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved config (extends and --set applied, all defaults) as TOML."""
    from proav_core.config import config_to_toml

    click.echo(config_to_toml(load_cli_config(config, overrides)), nl=False)


def _component_tree(cfg) -> Tree:
    from pydantic import BaseModel

    from proav_core.config import ComponentConfig

    tree = Tree(f"[bold]{cfg.name}[/]")

    def walk(obj, node, label):
        if isinstance(obj, ComponentConfig):
            child = node.add(f"{label}: [cyan]{obj.kind}[/] '{obj.name}' ({obj.spec.provider})")
            walk(obj.params, child, None)
        elif isinstance(obj, BaseModel):
            for field_name in type(obj).model_fields:
                walk(getattr(obj, field_name), node, f"{label}.{field_name}" if label else field_name)
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(item, node, f"{label}[{i}]")
        elif isinstance(obj, dict):
            for key, item in obj.items():
                walk(item, node, f"{label}.{key}" if label else str(key))

    walk(cfg, tree, None)
    return tree


# The sections a config may leave out, and the commands that stop without them.
_OPTIONAL_SECTIONS = {
    "dataset": "data prepare, train autoencoder, encode",
    "model.autoencoder": "train autoencoder, encode, sample",
    "model.stacker": "train generator, sample",
    "model.generator": "train generator, sample",
    "objective": "train generator, sample",
    "sampler": "sample",
}


def unset_sections(cfg) -> list[str]:
    """The optional sections `cfg` leaves out, each with the commands that need it."""
    missing = []
    for dotted, needed_by in _OPTIONAL_SECTIONS.items():
        obj = cfg
        for part in dotted.split("."):
            obj = getattr(obj, part)
        if obj is None:
            missing.append(f"{dotted} (needed by {needed_by})")
    return missing


@command.command("check")
@config_argument
def check_cmd(config: str, overrides: tuple[str, ...]) -> None:
    """Validate every section and component; exit 2 on the first error."""
    cfg = load_cli_config(config, overrides)
    console.print(_component_tree(cfg))
    console.print(f"[green]ok[/]: {config} is valid")
    missing = unset_sections(cfg)
    if missing:  # e.g. a recipe fragment: valid, but not every command can run it
        console.print("not set here: " + "; ".join(missing), markup=False, highlight=False)
