"""`proav registry list|show`: what the loaded plugins provide."""

from __future__ import annotations

import types
import typing

import click
from rich.markup import escape
from rich.table import Table

from proav_core.cli.common import console


@click.group("registry")
def command() -> None:
    """Registered components (built-in and third-party plugins)."""


@command.command("list")
@click.option("--kind", default=None, help="only this kind (e.g. attention)")
def list_cmd(kind: str | None) -> None:
    """Table of components: kind, name, provider, summary."""
    from proav_core.plugin_manager import get_registry

    specs = get_registry().specs(kind)
    table = Table(title=f"proav components{f' of kind {kind}' if kind else ''}")
    for column in ("kind", "name", "provider", "summary"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        table.add_row(spec.kind, spec.name, spec.provider, spec.summary)
    console.print(table)
    if not specs:
        console.print(f"no {kind + ' ' if kind else ''}components are registered")
    _print_plugin_problems(get_registry().problems)


def _print_plugin_problems(problems) -> None:
    """Plugins that failed to load or registered nothing, one line each (whatever --kind asked
    for: their components could be of any kind)."""
    if not problems:
        return
    console.print(f"[bold yellow]{len(problems)} plugin(s) with problems[/]:", highlight=False)
    for problem in problems:
        state = "failed to load, none of its components are available" if problem.broken else "registered nothing"
        console.print(f"- [bold]{escape(problem.plugin)}[/] {state}: {escape(problem.line())}", highlight=False)


def _type_name(annotation: object) -> str:
    """A parameter's type as a user reads it: int, tuple[int, int, int] | None, "a" | "b"
    (constraints such as PositiveInt's show in the description and the error, not here)."""
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None and args:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    return text.replace("proav_core.config.components.", "")


@command.command("show")
@click.argument("kind")
@click.argument("name")
def show_cmd(kind: str, name: str) -> None:
    """Parameters of one component: type, default, description."""
    from pydantic_core import PydanticUndefined
    from rich.markup import escape

    from proav_core.config.components import ComponentConfig, to_plain
    from proav_core.plugin_manager import get_registry

    spec = get_registry().get(kind, name)
    factory = f"{getattr(spec.factory, '__module__', '?')}.{getattr(spec.factory, '__qualname__', spec.factory)}"
    console.print(f"[bold]{spec.kind} '{spec.name}'[/]: {spec.summary}", highlight=False)
    console.print(f"provider: {spec.provider}\nfactory:  {factory}", highlight=False)
    table = Table(title="parameters")
    for column in ("name", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for field_name, info in spec.params.model_fields.items():
        if info.default is PydanticUndefined and info.default_factory is None:
            default = "(required)"
        else:
            value = info.get_default(call_default_factory=True)
            if isinstance(value, ComponentConfig):
                value = value.name
            default = repr(to_plain(value))
        table.add_row(*(escape(text) for text in (field_name, _type_name(info.annotation), default,
                                                  info.description or "")))  # "tuple[int, int]" is not markup
    console.print(table)
    if not spec.params.model_fields:
        console.print("(no parameters)")
