"""Writing plugin modules and installed distributions (dist-info with a `proav` entry point)
into a folder on sys.path, and pip-installing packages, for the plugin tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from proav_core.plugin_manager import AUTOLOAD_ENV

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "proav-plugin-example"


def pip(*args, cwd=None):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    subprocess.run(cmd, check=True, cwd=cwd, capture_output=True, text=True)


def isolated_env(target):
    """The environment of a subprocess that sees proav and what is installed in `target`."""
    env = {k: v for k, v in os.environ.items() if k not in {AUTOLOAD_ENV, "PYTHONPATH"}}
    env["PYTHONPATH"] = str(target)
    env["COLUMNS"] = "200"
    return env


def write_module(directory, module, source):
    (directory / f"{module}.py").write_text(textwrap.dedent(source))


def write_distribution(site, dist, module, ep_name, source):
    """A real installed distribution: module + dist-info with an entry point in group proav."""
    write_module(site, module, source)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[proav]\n{ep_name} = {module}\n")
