"""token_dit on the tokens stacker: shapes, zero init, gradients, plane embeddings, FLOPs, errors."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import Generator

from .helpers import PAPER, TINY, VIDEO_ONLY, random_planes, randomise_zero_inits


def build(shapes=TINY, **params):
    st = proav_core.build("stacker", "tokens", plane_shapes=shapes)
    params.setdefault("preset", "tiny")
    return st, proav_core.build("generator", "token_dit", latent_shape=st.latent_shape, cond_dim=8, stacker=st, **params)


def test_shapes_zero_output_and_round_trip_through_patches():
    st, model = build()
    assert isinstance(model, Generator) and st.latent_shape == (4, 2 * (16 + 32 + 32))
    x = st.stack(random_planes(TINY))
    assert torch.equal(model.unpatchify(model.patchify(x)), x)
    assert model.num_tokens == 2 * (4 + 8 + 8)  # 2x2 patches inside each plane
    out = model(x, torch.rand(2), torch.randn(2, 1, 8))
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(x))


def test_patches_never_straddle_planes():
    st, model = build(VIDEO_ONLY)  # planes 6x4, 8x4, 8x6 with 2x2 patches
    planes = {k: torch.zeros(1, *s) for k, s in VIDEO_ONLY.items()}
    planes["video_tw"] += 1.0
    tokens = model.patchify(st.stack(planes))[0]  # (T, C*4)
    is_tw = tokens.abs().sum(-1) > 0
    assert torch.equal(is_tw, model.plane_ids == 1)


def test_gradients_reach_every_parameter_and_plane_type_matters():
    st, model = build()
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 2, 8)
    randomise_zero_inits(model)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, name
    before = model(x, t, c)
    with torch.no_grad():
        model.plane_embed.weight[3] += 1.0  # audio_hw's type embedding
    assert not torch.allclose(model(x, t, c), before)


def test_describe_flops_match_torch_flop_counter():
    st, model = build()
    x = st.stack(random_planes(TINY, batch=1))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.rand(1), torch.randn(1, 1, 8))
    info = model.describe()
    assert counter.get_total_flops() == info["flops_per_sample"]
    assert info["tokens_per_sample"] == 40


def test_paper_planes_on_meta():
    st = proav_core.build("stacker", "tokens", plane_shapes=PAPER)
    with torch.device("meta"):
        model = proav_core.build("generator", "token_dit", preset="paper", patch=4, latent_shape=st.latent_shape,
                                 cond_dim=256, stacker=st)
        out = model(torch.empty(2, *st.latent_shape), torch.rand(2), torch.empty(2, 1, 256))
    assert out.shape == (2, 4, 2 * (1024 + 512 + 512))
    assert model.describe()["tokens_per_sample"] == 2 * (64 + 32 + 32)  # no padding tokens


def test_errors_name_the_fix():
    stack6 = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="needs the 'tokens' stacker.*use generator 'stdit'"):
        proav_core.build("generator", "token_dit", latent_shape=stack6.latent_shape, cond_dim=8, stacker=stack6)
    tokens = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="factory context `stacker`"):
        proav_core.build("generator", "token_dit", latent_shape=tokens.latent_shape, cond_dim=8)
    with pytest.raises(ConfigError, match="patch 3 does not divide plane video_hw"):
        proav_core.build("generator", "token_dit", patch=3, latent_shape=tokens.latent_shape, cond_dim=8, stacker=tokens)


def test_shipped_token_dit_config_is_the_tiny_stdits_size_on_the_demo_latent():
    """configs/token_dit_tiny.toml: the demo with a plain full-attention DiT, compared with STDiT
    at about its parameter count (docs/quality.md, "The samples' timing mix")."""
    from pathlib import Path

    from proav_core.cli.model_cmd import model_summary

    config = Path(__file__).resolve().parents[2] / "configs" / "token_dit_tiny.toml"
    summary = model_summary(proav_core.load_config(config))
    row = next(r for r in summary["components"] if r["component"] == "generator")
    assert row["name"] == "token_dit" and row["parameters"] == row["trainable"] == 259_088
    assert abs(row["parameters"] - 238_032) <= 0.1 * 238_032  # the tiny STDiT on the same latent
