"""uniform (UniForm) on the tokens stacker: shapes, zero init, the attention layout (instants,
time columns, the condition prefix), gradients, checkpoint round trip, FLOPs, sizes, errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import Generator

from .helpers import PAPER, TINY, random_planes, randomise_zero_inits


def build(shapes=TINY, **params):
    st = proav_core.build("stacker", "tokens", plane_shapes=shapes)
    params.setdefault("preset", "tiny")
    return st, proav_core.build("generator", "uniform", latent_shape=st.latent_shape, cond_dim=8, stacker=st, **params)


def token_range(model, plane):
    """Indices of `plane`'s patch tokens in the model's sequence (without the prefix)."""
    start, p = 0, model.p
    for s in model.segments:
        count = (s.a // p) * (s.b // p)
        if s.name == plane:
            return start, count, s.b // p
        start += count
    raise KeyError(plane)


def test_shapes_zero_output_and_round_trip_through_patches():
    st, model = build()
    assert isinstance(model, Generator) and st.latent_shape == (4, 2 * (16 + 32 + 32))
    x = st.stack(random_planes(TINY))
    assert torch.equal(model.unpatchify(model.patchify(x)), x)
    assert model.num_tokens == 2 * (4 + 8 + 8) and len(model.blocks) == 2 * 2  # tiny: 2 (spatial, temporal) pairs
    out = model(x, torch.rand(2), torch.randn(2, 3, 8))
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(x))


def test_spatial_mask_joins_audio_and_video_of_one_instant_and_temporal_mask_follows_columns():
    _, model = build()  # tw/th planes 8x4 -> 4 time rows x 2 columns of 2x2 patches; hw 2x2
    lay = model.layout
    vtw, _, cols = token_range(model, "video_tw")
    ath, _, _ = token_range(model, "audio_th")
    vhw, hw_count, _ = token_range(model, "video_hw")
    assert lay.steps == 4
    # video_tw row 1 sees audio_th row 1, not rows 0 or 2, and every hw token
    row1 = vtw + 1 * cols
    assert lay.spatial[row1, ath + 1 * cols] and lay.spatial[row1, ath + 1 * cols + 1]
    assert not lay.spatial[row1, ath + 0 * cols] and not lay.spatial[row1, ath + 2 * cols]
    assert lay.spatial[row1, vhw:vhw + hw_count].all() and lay.spatial[vhw].all()  # hw: in every instant
    # temporal: video_tw column 0 over its 4 rows only; an hw token alone
    col0 = [vtw + r * cols for r in range(4)]
    assert lay.temporal[col0[0]].nonzero().flatten().tolist() == col0
    assert lay.temporal[vhw].nonzero().flatten().tolist() == [vhw]
    # the condition prefix sees and is seen by every token
    full = lay.mask("spatial", 3)
    assert full.shape == (3 + model.num_tokens,) * 2 and full[:3].all() and full[:, :3].all()
    # audio and video of one instant get the same time position
    atw, _, _ = token_range(model, "audio_tw")
    assert torch.equal(lay.pos[vtw + 2 * cols], lay.pos[atw + 2 * cols])


def test_a_coarser_audio_time_axis_maps_onto_the_common_instants():
    shapes = dict(TINY, audio_tw=(4, 4, 4), audio_th=(4, 4, 4))  # audio: 2 time rows, video: 4
    _, model = build(shapes)
    lay = model.layout
    vtw, _, cols = token_range(model, "video_tw")
    atw, _, _ = token_range(model, "audio_tw")
    # audio row 1 covers instants 2 and 3
    assert [bool(lay.spatial[atw + 1 * cols, vtw + r * cols]) for r in range(4)] == [False, False, True, True]
    assert torch.equal(lay.pos[atw + 1 * cols], lay.pos[vtw + 2 * cols])


def test_one_spatial_block_mixes_only_within_an_instant():
    st, model = build()
    randomise_zero_inits(model)
    model.blocks = model.blocks[:1]  # the first spatial block alone
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    patches = model.patchify(x)
    vtw, _, cols = token_range(model, "video_tw")
    atw, _, _ = token_range(model, "audio_tw")
    moved = patches.clone()
    moved[:, vtw + 0 * cols] += 1.0  # one video token at instant 0
    with torch.no_grad():
        a, b = (model.patchify(model(model.unpatchify(p), t, c)) for p in (patches, moved))
    changed = (a - b).abs().sum(dim=(0, 2)) > 0  # (T,)
    assert changed[atw + 0 * cols] and changed[atw + 0 * cols + 1]  # the audio of the same instant
    assert not changed[atw + 1 * cols:atw + 4 * cols].any()  # not the audio of the other instants


def test_one_temporal_block_mixes_only_along_a_column():
    st, model = build()
    randomise_zero_inits(model)
    model.blocks = model.blocks[1:2]  # the first temporal block alone
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    patches = model.patchify(x)
    vtw, count, cols = token_range(model, "video_tw")
    moved = patches.clone()
    moved[:, vtw + 0 * cols + 1] += 1.0  # video_tw, instant 0, column 1
    with torch.no_grad():
        a, b = (model.patchify(model(model.unpatchify(p), t, c)) for p in (patches, moved))
    changed = ((a - b).abs().sum(dim=(0, 2)) > 0).nonzero().flatten().tolist()
    assert changed == [vtw + r * cols + 1 for r in range(count // cols)]  # column 1 at every instant, nothing else


def test_the_condition_enters_in_context_even_without_cross_attention():
    st, model = build()
    randomise_zero_inits(model)
    with torch.no_grad():
        for block in model.blocks:  # cut the cross-attention path
            block.attn_c.proj.weight.zero_()
            block.attn_c.proj.bias.zero_()
    x, t = st.stack(random_planes(TINY)), torch.rand(2)
    c1, c2 = torch.randn(2, 2, 8), torch.randn(2, 2, 8)
    with torch.no_grad():
        assert not torch.allclose(model(x, t, c1), model(x, t, c2))  # the prefix tokens carry it


def test_gradients_reach_every_parameter_and_modality_embedding_matters():
    st, model = build()
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 2, 8)
    randomise_zero_inits(model)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    before = model(x, t, c)
    with torch.no_grad():
        model.group_embed.weight[2] += 1.0  # the audio group's embedding
    assert not torch.allclose(model(x, t, c), before)


def test_recomputed_blocks_give_the_same_gradients():
    st, plain = build()
    randomise_zero_inits(plain)
    _, recomputed = build(checkpoint_blocks=4)
    recomputed.load_state_dict(plain.state_dict())
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    for model in (plain, recomputed):
        model(x, t, c).square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), recomputed.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_state_dict_round_trip_gives_identical_outputs():
    st, model = build()
    randomise_zero_inits(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert not any("layout" in k or "mask" in k for k in model.state_dict())  # the layout is rebuilt, not stored
    _, fresh = build()
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    with torch.no_grad():
        assert torch.equal(model(x, t, c), fresh(x, t, c))


@pytest.mark.parametrize("cond_tokens", [1, 3])
def test_describe_flops_match_torch_flop_counter(cond_tokens):
    st, model = build()
    x = st.stack(random_planes(TINY, batch=1))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.rand(1), torch.randn(1, cond_tokens, 8))
    info = model.describe(cond_tokens=cond_tokens)
    assert counter.get_total_flops() == info["flops_per_sample"]
    assert info["tokens_per_sample"] == 40 and info["blocks"] == 4
    assert info["computed_tokens_per_sample"] == 40 + cond_tokens and info["padded_token_share"] == 0.0
    assert info["parameters"] == info["trainable"] == sum(p.numel() for p in model.parameters())


def test_paper_planes_on_meta():
    st = proav_core.build("stacker", "tokens", plane_shapes=PAPER)
    with torch.device("meta"):
        model = proav_core.build("generator", "uniform", preset="paper", patch=2, latent_shape=st.latent_shape,
                                 cond_dim=256, stacker=st)
        out = model(torch.empty(2, *st.latent_shape), torch.rand(2), torch.empty(2, 1, 256))
    assert out.shape == (2, 4, 2 * (1024 + 512 + 512))
    assert model.describe()["tokens_per_sample"] == 2 * (256 + 128 + 128)


def test_errors_name_the_fix():
    stack6 = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="needs the 'tokens' stacker.*model.stacker = \"tokens\""):
        proav_core.build("generator", "uniform", latent_shape=stack6.latent_shape, cond_dim=8, stacker=stack6)
    tokens = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="patch 3 does not divide plane video_hw"):
        proav_core.build("generator", "uniform", patch=3, latent_shape=tokens.latent_shape, cond_dim=8, stacker=tokens)


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_shipped_configs_build_the_tiny_size_near_stdit_and_the_paper_size_on_meta():
    from proav_core.cli.model_cmd import model_summary

    sizes = {}
    for name in ("uniform_tiny", "uniform_paper"):
        summary = model_summary(proav_core.load_config(CONFIGS / "peers" / f"{name}.toml"))
        row = next(r for r in summary["components"] if r["component"] == "generator")
        sizes[name] = row["parameters"]
        assert row["name"] == "uniform" and row["trainable"] == row["parameters"]
        assert summary["details"]["generator"]["tokens_per_sample"] > 0
    assert sizes["uniform_tiny"] == 252_464  # the tiny STDiT on the demo latent: 238,032 (within 10 %)
    assert abs(sizes["uniform_tiny"] - 238_032) <= 0.1 * 238_032
    assert 1.0e9 < sizes["uniform_paper"] < 1.4e9  # STDiT3-XL/2's size: 28 pairs x 1152
