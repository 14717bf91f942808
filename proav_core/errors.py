"""The errors and warnings a proav user meets. Each message names the thing at fault and what to do.

The CLI maps `UsageError` (and its subclasses) to exit code 2 and any other `ProavError`
to exit code 1; it prints a `ProavWarning` as one "warning:" line, once per message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProavError(Exception):
    """Base class of every error proav raises on purpose."""

    exit_code = 1


class UsageError(ProavError):
    """The user asked for something that cannot work as written (CLI usage, config)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file, key or value is wrong. `path` is the dotted config path, if any."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class UnknownComponentError(ConfigError):
    """A (kind, name) pair that no plugin registered."""


class ParameterError(ConfigError):
    """A component parameter failed validation."""


class PluginError(ProavError):
    """A plugin failed to import, registered a clash, or implements an unknown hook."""


class DuplicateComponentError(PluginError):
    """The same (kind, name) was registered by two plugins."""


class UnavailableComponentError(PluginError, ConfigError):
    """A config (or `build`) names a component whose plugin failed to load.

    A ConfigError too, so it carries the config path and the config file's name; exit code 1
    (not 2): the config is fine, the installed plugin is not.
    """

    exit_code = 1


class MissingWeightsError(ProavError):
    """A component that needs learned weights was not given a readable local file."""


class CheckpointError(ProavError):
    """A checkpoint is missing, corrupt, or does not match the config."""


class DataError(ProavError):
    """An input file cannot be used. `source` names the file."""

    def __init__(self, message: str, source: str | None = None):
        super().__init__(message)
        self.source = source


class ProavWarning(UserWarning):
    """Something that works but is probably not what the user meant (an unlabelled folder
    read with folder labels, a split that ends up empty). Raised with `warnings.warn`."""


def load_error_reason(err: BaseException) -> str:
    """"Type: reason" of a torch.load failure, without torch's advice.

    torch wraps a weights_only failure in a paragraph that suggests retrying with
    `weights_only=False` (or allow-listing globals), which runs arbitrary code from the file:
    proav never does that, so only the unpickler's own reason is kept."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation of torch.load", 1)[0]
        text = " ".join(text.split())
        text = text.split(". ", 1)[0].rstrip(".")  # "Unsupported global: GLOBAL x was not allowed" + advice
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to `name`, or None when nothing is similar."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (closest: x)' or '' -- a suffix for unknown-name messages."""
    best = closest(name, known)
    return f"; closest: '{best}'" if best else ""
