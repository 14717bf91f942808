"""Reading configs (TOML with `extends`), `--set` overrides, and writing TOML back."""

from __future__ import annotations

import copy
import math
import re
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from proav_core.errors import ConfigError, ProavWarning


def read_config_tree(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Parse a TOML config and everything it `extends` (paths relative to the file).

    `extends` names one file or a list of them: `["mdsa_tiny.toml", "recipes/x.toml"]` merges
    the second over the first, and the child over both (a recipe, a partial config, can so be
    shared by configs of different bases). The child is merged over its parents table by table.
    A component table whose `name` differs from the parent's replaces the parent's table whole,
    so one component's parameters never leak into another's.
    """
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        via = f" (extended by {_chain[-1]})" if _chain else ""
        raise ConfigError(f"config file not found: {shown}{via}", path="extends" if _chain else None)
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, resolved))
        raise ConfigError(f"config files extend each other in a cycle: {cycle}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{shown}: not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read: {err}") from None
    refs = data.pop("extends", None)
    if refs is None:
        return data
    if isinstance(refs, str):
        refs = [refs]
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise ConfigError(f"{shown}: `extends` must be a path string or a non-empty list of them, got {refs!r}",
                          "extends")
    base: dict[str, Any] = {}
    for ref in refs:  # later files win
        base = merge(base, read_config_tree(path.parent / ref, (*_chain, resolved)))
    return merge(base, data)


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of `update` over `base` (see read_config_tree for the component rule)."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        old = out.get(key)
        if isinstance(value, str) and isinstance(old, dict) and "name" in old:
            value = {"name": value}  # shorthand component name replacing a table
        if isinstance(value, dict) and isinstance(old, dict):
            if "name" in value and "name" in old and value["name"] != old["name"]:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_value(text: str) -> Any:
    """A `--set` value: TOML syntax when it parses (4, 1e-4, true, [1, 2], "x"), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


UNSET = "default"  # `--set key=default`: the key takes its default again (e.g. an optional one: unset)


def apply_overrides(tree: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a config tree (returns a new tree); `a.b.c=default`
    removes the key, so it takes its default (None for an optional key: unset).

    `a.b.name=other` on a component table replaces the component: the previous one's parameters
    are dropped (they need not mean anything to the new one), with a ProavWarning naming those
    no later override sets again, so a size that falls back to a default is not a surprise.
    """
    tree = copy.deepcopy(tree)
    replaced: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = []  # (table, old, new, dropped, node)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
        parts = key.split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, str):  # shorthand component name -> table
                child = node[part] = {"name": child}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"--set {key}: {where} is a value ({child!r}), not a table", key)
            node = child
        last = parts[-1]
        if text.strip() == UNSET:  # back to the default: the key leaves the tree (TOML has no null)
            node.pop(last, None)
            continue
        value = parse_value(text.strip())
        is_component = len(parts) > 1  # the root's `name` is the run's name, not a component
        if is_component and last == "name" and isinstance(value, str) and node.get("name") not in (None, value):
            dropped = {k: v for k, v in node.items() if k != "name"}
            replaced.append((".".join(parts[:-1]), str(node["name"]), value, dropped, node))
            node.clear()  # another component: the previous one's parameters do not apply
        node[last] = value
    for table, old, new, dropped, node in replaced:
        if node.get("name") != new:  # replaced again later: that override's own warning
            continue
        lost = {k: v for k, v in dropped.items() if k not in node}
        if lost:
            shown = ", ".join(f"{k} = {'{...}' if isinstance(v, dict) else repr(v)}" for k, v in lost.items())
            warnings.warn(f"--set {table}.name={new}: the parameters set for '{old}' were dropped with it "
                          f"({shown}); '{new}' takes its defaults for them. Give any it shares again after that "
                          f"--set, e.g. --set {table}.{next(iter(lost))}=...", ProavWarning, stacklevel=2)
    return tree


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise ConfigError(f"cannot write {type(v).__name__} value {v!r} to TOML")


def to_toml(data: Mapping[str, Any]) -> str:
    """Write a plain nested dict as TOML: scalars first, then one [table] per sub-dict.

    Lists of dicts become arrays of tables ([[key]]). Round-trips through tomllib."""
    lines: list[str] = []
    _emit(data, (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit(table: Mapping[str, Any], prefix: tuple[str, ...], lines: list[str]) -> None:
    def is_table_list(v: Any) -> bool:
        return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, dict) for x in v)

    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not is_table_list(v)}
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        name = (*prefix, k)
        header = ".".join(_key(p) for p in name)
        if isinstance(v, dict):
            if any(not isinstance(x, dict) and not is_table_list(x) for x in v.values()) or not v:
                lines += ["", f"[{header}]"]
            _emit(v, name, lines)
        elif is_table_list(v):
            for item in v:
                lines += ["", f"[[{header}]]"]
                _emit(item, name, lines)
