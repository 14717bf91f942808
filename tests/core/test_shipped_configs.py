"""Every config shipped under configs/ passes `proav config check` (schema, registry names,
parameters), so a renamed component or parameter cannot leave a config behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from proav_core.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.toml"))


def test_the_peer_configs_are_among_them():
    assert {"demo.toml", "peers/av_dit_tiny.toml", "peers/av_dit_frozen_tiny.toml", "peers/javisdit_tiny.toml",
            "peers/javisdit_prior_tiny.toml", "peers/uniform_tiny.toml", "peers/uniform_paper.toml"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_passes_config_check(name, capsys):
    assert main(["config", "check", str(CONFIGS / name)]) == 0
    assert "is valid" in capsys.readouterr().out
