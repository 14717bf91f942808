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


def test_the_demo_generator_recipe_is_shared_not_copied():
    """demo.toml and quality_base.toml take the generator's recipe from one file: same
    generator, objective, training loop and sampler, on autoencoders of different sizes."""
    from proav_core import load_config
    from proav_core.config import config_to_dict

    demo, base = (config_to_dict(load_config(CONFIGS / n)) for n in ("demo.toml", "quality_base.toml"))
    recipe = config_to_dict(load_config(CONFIGS / "recipes" / "demo_generator.toml"))
    for key in ("objective", "sampler"):
        assert demo[key] == base[key] == recipe[key]
    assert demo["train"]["generator"] == base["train"]["generator"] == recipe["train"]["generator"]
    for key in ("stacker", "conditioner", "generator"):
        assert demo["model"][key] == base["model"][key] == recipe["model"][key]
    assert demo["model"]["autoencoder"] != base["model"]["autoencoder"]
    assert recipe["sampler"]["name"] == "reflected_flow_renoised" and recipe["train"]["generator"]["optim"]["lr"] == 6e-3
