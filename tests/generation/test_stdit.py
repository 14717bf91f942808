"""STDiT: shapes per preset, zero/identity init, gradients, attention locality, padding, FLOPs."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import Generator
from proav_plugins.generation.dit_layers import PRESETS

from .helpers import PAPER, TINY, randomise_zero_inits

TINY_LATENT = (4, 6, 8, 4)  # stack6 of the tiny planes


def stack6(shapes=TINY):
    return proav_core.build("stacker", "stack6", plane_shapes=shapes)


def tiny(cond_dim=16, stacker=None, **params):
    params.setdefault("preset", "tiny")
    st = stacker or stack6()
    return proav_core.build("generator", "stdit", latent_shape=st.latent_shape, cond_dim=cond_dim, stacker=st, **params)


def inputs(batch=2, latent=TINY_LATENT, cond=(3, 16), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *latent, generator=g), torch.rand(batch, generator=g), torch.randn(batch, *cond, generator=g)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shapes_for_every_preset(preset):
    if preset == "tiny":
        model = tiny()
        out = model(*inputs())
        assert isinstance(model, Generator) and out.shape == (2, *TINY_LATENT)
        return
    st = stack6(PAPER)
    assert st.latent_shape == (4, 6, 32, 32)
    with torch.device("meta"):
        model = proav_core.build("generator", "stdit", preset=preset, latent_shape=st.latent_shape, cond_dim=256, stacker=st)
        out = model(torch.empty(2, *st.latent_shape), torch.rand(2), torch.empty(2, 1, 256))
    assert out.shape == (2, 4, 6, 32, 32) and out.device.type == "meta"
    info = model.describe()
    size = PRESETS[preset]
    assert (info["depth"], info["hidden"], info["heads"], info["patch"]) == (size.depth, size.hidden, size.heads, size.patch)
    assert info["tokens_per_sample"] == 6 * (32 // size.patch[1]) * (32 // size.patch[2])


def test_paper_preset_has_the_analytic_parameter_count():
    st = stack6(PAPER)
    with torch.device("meta"):
        model = proav_core.build("generator", "stdit", preset="paper", latent_shape=st.latent_shape, cond_dim=256)
    d, depth, dc, p = 1152, 16, 256, 1 * 4 * 4 * 4
    attention = 4 * d * d + 4 * d  # q, kv (2d), proj, with biases
    block = 3 * attention + (8 * d * d + 5 * d) + 10 * d  # spatial, temporal, cross, MLP(4d), modulation table
    rest = ((p * d + d) + (256 * d + d + d * d + d) + (d * 10 * d + 10 * d)  # patch, timestep MLP, adaLN
            + (dc * d + d + d * d + d) + (2 * d + d * p + p))  # condition MLP, final layer
    assert model.describe()["parameters"] == depth * block + rest == 441_853_120


@pytest.mark.parametrize("padding", ["skip", "compute"])
def test_output_is_exactly_zero_and_blocks_are_identity_at_init(padding):
    model = tiny(padding=padding)
    x, t, c = inputs()
    assert torch.equal(model(x, t, c), torch.zeros_like(x))
    # compute: the (B, F', S, D) grid; skip: the packed real tokens (B, 1, N, D)
    h = torch.randn(2, 6, 8, 64) if padding == "compute" else torch.randn(2, 1, model.layout.tokens, 64)
    y, mod = torch.randn(2, 3, 64), model.adaln(model.t_embed(t))
    for block in model.blocks:
        assert torch.equal(block(h, y, mod), h)


def test_gradients_reach_every_parameter():
    model = tiny()
    x, t, c = inputs()
    (model(x, t, c) * torch.randn(2, *TINY_LATENT)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # in the graph from step 0
    assert model.final.linear.weight.grad.abs().sum() > 0
    model.zero_grad()
    randomise_zero_inits(model)
    (model(x, t, c) * torch.randn(2, *TINY_LATENT)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad.abs().sum() > 0, name


def test_spatial_attention_never_mixes_frames_and_temporal_never_mixes_positions():
    block = tiny(padding="compute").blocks[0]  # the grid block (skip: test_stdit_padding.py)
    x = torch.randn(2, 6, 8, 64)
    bumped = x.clone()
    bumped[:, 2] += torch.randn(2, 8, 64)  # frame 2 only
    diff = (block.spatial(bumped) - block.spatial(x)).abs().sum(dim=(0, 2, 3))  # per frame
    assert diff[2] > 0 and torch.count_nonzero(diff) == 1
    bumped = x.clone()
    bumped[:, :, 5] += torch.randn(2, 6, 64)  # position 5 in every frame
    diff = (block.temporal(bumped) - block.temporal(x)).abs().sum(dim=(0, 1, 3))  # per position
    assert diff[5] > 0 and torch.count_nonzero(diff) == 1
    # and they do mix what they should
    bumped = x.clone()
    bumped[:, 2, 0] += 1.0
    assert (block.spatial(bumped) - block.spatial(x))[:, 2, 1:].abs().sum() > 0
    assert (block.temporal(bumped) - block.temporal(x))[:, [0, 1, 3, 4, 5], 0].abs().sum() > 0


@pytest.mark.parametrize("padding", ["skip", "compute"])
def test_padding_never_influences_the_prediction(padding):
    st = stack6()
    model = tiny(stacker=st, padding=padding)
    randomise_zero_inits(model)
    x, t, c = inputs()
    pad = 1 - st.loss_mask()
    out = model(x, t, c)
    assert torch.equal(model(x + 5 * torch.randn_like(x) * pad, t, c), out)
    assert torch.count_nonzero(out * pad) == 0 and torch.count_nonzero(out) > 0


def test_condition_and_time_change_the_prediction_and_time_broadcasts():
    model = tiny()
    randomise_zero_inits(model)
    x, t, c = inputs()
    out = model(x, t, c)
    assert not torch.allclose(model(x, t, c + 1), out)
    assert not torch.allclose(model(x, 1 - t, c), out)
    assert torch.equal(model(x, torch.tensor(0.3), c), model(x, torch.full((2,), 0.3), c))


def test_activation_checkpointing_gives_the_same_values_and_gradients():
    plain, ckpt = tiny(), tiny(checkpoint_blocks=2)
    randomise_zero_inits(plain)
    ckpt.load_state_dict(plain.state_dict())
    x, t, c = inputs()
    outs = []
    for model in (plain, ckpt):
        out = model(x, t, c)
        out.square().sum().backward()
        outs.append(out)
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_describe_flops_match_a_hand_count():
    # C=1, F=2, A=W=2, patch 1x1x1 -> F'=2 frames of S=4 tokens, N=8; D=8, MLP 16, depth 1, Dc=4, L=1
    model = proav_core.build("generator", "stdit", preset="tiny", depth=1, hidden=8, heads=2, mlp_ratio=2.0,
                             patch=(1, 1, 1), latent_shape=(1, 2, 2, 2), cond_dim=4)
    embed = 2 * 256 * 8 + 2 * 8 * 8 + 2 * 8 * 80 + 2 * 4 * 8 + 2 * 8 * 8  # t MLP, adaLN (10 D), cond MLP
    patch_and_final = 2 * 8 * 1 * 8 * 2
    spatial = 2 * 8 * 8 * 24 + 2 * (2 * 2 * 4 * 4 * 8) + 2 * 8 * 8 * 8  # qkv, 2 frames of QK^T+AV, proj
    temporal = 2 * 8 * 8 * 24 + 4 * (2 * 2 * 2 * 2 * 8) + 2 * 8 * 8 * 8  # 4 positions of 2 frames
    cross = 2 * 1 * 8 * 8 + 2 * 1 * 8 * 8  # one condition token: v and proj of it, broadcast
    mlp = 2 * (2 * 8 * 8 * 16)
    info = model.describe(cond_tokens=1)
    assert info["flops_per_sample"] == embed + patch_and_final + spatial + temporal + cross + mlp == 20032
    assert info["tokens_per_sample"] == 8
    assert info["parameters"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("padding", ["skip", "compute"])
@pytest.mark.parametrize("cond_tokens", [1, 3])
def test_describe_flops_match_torch_flop_counter(cond_tokens, padding):
    model = tiny(padding=padding)
    x, t, c = inputs(batch=1, cond=(cond_tokens, 16))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:  # math SDPA = counted bmm
        model(x, t, c)
    assert counter.get_total_flops() == model.describe(cond_tokens=cond_tokens)["flops_per_sample"]


def test_real_token_fraction_reports_padding_waste():
    st = stack6(PAPER)
    model = proav_core.build("generator", "stdit", preset="tiny", patch=(1, 4, 4), latent_shape=st.latent_shape,
                             cond_dim=8, stacker=st)
    assert model.describe()["real_token_fraction"] == pytest.approx((2 * 64 + 4 * 32) / 384)


def test_overrides_beat_the_preset():
    model = tiny(depth=3, hidden=32, heads=2)
    assert len(model.blocks) == 3 and model.size.hidden == 32 and model.size.heads == 2


def test_errors_name_the_fix():
    tokens = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="stacker 'stack6'.*use generator 'token_dit'"):
        proav_core.build("generator", "stdit", preset="tiny", latent_shape=tokens.latent_shape, cond_dim=8)
    with pytest.raises(ConfigError, match="model.generator.patch"):
        proav_core.build("generator", "stdit", preset="tiny", patch=(1, 3, 3), latent_shape=TINY_LATENT, cond_dim=8)
    with pytest.raises(ConfigError, match=r"model.generator: width hidden=64 is not divisible by heads=3; change hidden or heads"):
        proav_core.build("generator", "stdit", preset="tiny", heads=3, latent_shape=TINY_LATENT, cond_dim=8)


def test_bad_patch_is_a_parameter_error_with_its_path():
    from proav_core.errors import ParameterError

    with pytest.raises(ParameterError, match="patch"):
        proav_core.build("generator", "stdit", preset="tiny", patch=(1, 0, 2), latent_shape=TINY_LATENT, cond_dim=8)
