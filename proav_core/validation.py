"""Validation shared by every config model: pydantic errors as messages that name the dotted
config path, and numbers that refuse booleans."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from proav_core.errors import did_you_mean

# Settings that belong to the command line (or `fabric run`), never to a TOML config.
HARDWARE_KEYS = frozenset(
    {"accelerator", "devices", "device", "strategy", "precision", "num_nodes", "nodes", "gpus"}
)
HARDWARE_HINT = (
    "hardware settings come from the command line (--accelerator, --devices, --strategy, "
    "--precision, --num-nodes) or from `fabric run`, never from a config file"
)


def _alternatives(annotation: Any) -> list[Any]:
    """The types a field accepts: Optional, unions and Annotated unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _alternatives(arg)]
    return [annotation]


def _number_word(annotation: Any) -> str | None:
    """'an integer' or 'a number' when the field takes numbers but not booleans, else None."""
    accepted = _alternatives(annotation)
    if bool in accepted or Any in accepted:
        return None
    if float in accepted:
        return "a number"
    return "an integer" if int in accepted else None


def _boolean_for_number(value: Any, annotation: Any) -> str | None:
    """"an integer" (or "a number", "numbers in the list", ...) when `value` puts a boolean
    where `annotation` wants a number; None otherwise."""
    if isinstance(value, bool):
        return _number_word(annotation)
    if isinstance(value, (list, tuple)):
        for alternative in _alternatives(annotation):
            if typing.get_origin(alternative) not in (list, tuple):
                continue
            args = [a for a in typing.get_args(alternative) if a is not Ellipsis]
            for i, item in enumerate(value):
                element = args[min(i, len(args) - 1)] if args else Any
                if isinstance(item, bool) and _number_word(element):
                    return f"{_number_word(element)} at [{i}]"
    return None


class NumbersRefuseBooleans(BaseModel):
    """Base for config models: `true` where a number is expected is a type error.

    pydantic's lax mode reads True as 1, so `--set clip.height=true` would otherwise be
    reported as a range error ("greater than or equal to 8 (got True)")."""

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        expected = _boolean_for_number(value, field.annotation) if field is not None else None
        if expected is not None:
            raise PydanticCustomError("bool_not_number", "expected {expected}, not a boolean",
                                      {"expected": expected})
        return value


def known_keys_at(model: type[BaseModel] | None, loc: Iterable[object]) -> list[str] | None:
    """The keys the model nested at `loc` (a path of field names and list indices) accepts,
    or None when `loc` leads out of fixed models (into a component's parameters, a dict)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the list's element type was taken with its field
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        nested = [t for t in _alternatives(annotation) if t is not type(None)]
        nested = [typing.get_args(t)[0] if typing.get_origin(t) in (list, tuple) and typing.get_args(t) else t
                  for t in nested]
        current = nested[0] if len(nested) == 1 else None
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    if current.model_config.get("extra") != "forbid":
        return None
    return list(current.model_fields)


def join_path(prefix: str, loc: Iterable[object]) -> str:
    """('a.b', ('c', 0, 'd')) -> 'a.b.c[0].d'."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def describe_errors(
    err: ValidationError, prefix: str, known_keys: Iterable[str] | None = None,
    model: type[BaseModel] | None = None,
) -> tuple[str, str]:
    """(first dotted path, one line per error: path, what was wrong, the bad value).

    An unknown key gets the closest known key of its table when `model` (the validated model
    class) says which keys that table takes; `known_keys` are listed for top-level ones."""
    lines: list[str] = []
    first = prefix
    for i, e in enumerate(err.errors()):
        # pydantic appends the name of a function validator to loc; it is not a config key
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = join_path(prefix, loc)
        if i == 0:
            first = path
        if e["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            msg = f"{path}: unknown key"
            if key in HARDWARE_KEYS:
                msg += f"; {HARDWARE_HINT}"
            else:
                siblings = known_keys_at(model, loc[:-1])
                if siblings is not None:
                    msg += did_you_mean(key, siblings)
                if known_keys is not None and len(loc) == 1:
                    msg += f"; known keys: {', '.join(sorted(known_keys)) or '(none)'}"
        elif e["type"] == "missing":
            msg = f"{path}: required key is missing"
        elif isinstance(e.get("input"), dict):  # a whole section failed its own check: its message says why
            msg = f"{path}: {e['msg']}"
        else:
            msg = f"{path}: {e['msg']} (got {e.get('input')!r})"
        lines.append(msg)
    return first, "\n".join(lines)
