"""Writing plugin modules and installed distributions (dist-info with a `proav` entry point)
into a folder on sys.path, for the plugin-loading tests."""

from __future__ import annotations

import textwrap


def write_module(directory, module, source):
    (directory / f"{module}.py").write_text(textwrap.dedent(source))


def write_distribution(site, dist, module, ep_name, source):
    """A real installed distribution: module + dist-info with an entry point in group proav."""
    write_module(site, module, source)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[proav]\n{ep_name} = {module}\n")
