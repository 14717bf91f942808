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


def placeholder_classes(cfg) -> list[str]:
    """As many placeholder class names as the dataset's `num_classes` (none without one)."""
    if cfg.model.conditioner is None or cfg.dataset is None:
        return []
    return [f"class{i}" for i in range(int(getattr(getattr(cfg.dataset, "params", None), "num_classes", 0) or 0))]


def build_checked(cfg) -> None:
    """Build on the meta device with placeholder class names (fast: no data read); where that
    fails, again with the dataset's own names, since a conditioner may need them (text_embeddings
    reads a prompt per class name): the config is refused only when the real names fail too."""
    from proav_core.errors import ConfigError, MissingWeightsError, ProavError

    placeholders = placeholder_classes(cfg)
    try:
        build_on_meta(cfg, placeholders)
        return
    except MissingWeightsError:
        raise
    except ProavError as first:
        from proav_core.build import dataset_classes

        real, err = dataset_classes(cfg) if cfg.model.conditioner is not None else ([], None)
        if not real:
            if placeholders and isinstance(first, ConfigError):
                why = f"the dataset's classes are unavailable ({err})" if err else "the dataset names no classes"
                raise ConfigError(f"{first} (checked with {len(placeholders)} placeholder class names: {why})",
                                  path=first.path) from None
            raise
    build_on_meta(cfg, real)


def build_on_meta(cfg, classes: list[str]) -> None:
    """Build the config's model sections on the meta device (no memory, no weights read but those
    a component's own factory reads) for `classes`."""
    import torch

    from proav_core.cli.model_cmd import build_model_sections

    with torch.device("meta"):
        build_model_sections(cfg, classes)


@command.command("check")
@config_argument
def check_cmd(config: str, overrides: tuple[str, ...]) -> None:
    """Validate every section and component, and build the model on the meta device; exit 2 on the
    first error."""
    from proav_core.errors import ConfigError, MissingWeightsError, ProavError

    cfg = load_cli_config(config, overrides)
    weights_note = None
    try:
        if cfg.model.autoencoder is not None:  # without it nothing sizes the rest (the check names it missing)
            build_checked(cfg)  # sizes that only building reveals: patches that do not divide the latent, ...
    except MissingWeightsError as err:  # a file another stage writes (e.g. AV-DiT's backbone run): not the config's fault
        weights_note = f"note: the model was not built, it reads weights that are not there yet: {err}"
    except ProavError:
        raise
    except Exception as err:  # noqa: BLE001 - a component's own check, in whatever type it raised
        raise ConfigError(f"{config}: the model cannot be built from it: {type(err).__name__}: {err}") from None
    console.print(_component_tree(cfg))
    console.print(f"[green]ok[/]: {config} is valid")
    if weights_note:
        console.print(weights_note, markup=False, highlight=False)
    missing = unset_sections(cfg)
    if missing:  # e.g. a recipe fragment: valid, but not every command can run it
        console.print("not set here: " + "; ".join(missing), markup=False, highlight=False)
