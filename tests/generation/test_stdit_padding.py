"""STDiT padding = "skip": no compute on padded tokens, exact against a per-frame loop over the
real tokens, independent of what the padding holds, same weights as "compute"."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

import proav_core
from proav_core.layers import modulate
from proav_plugins.generation.real_tokens import RealTokenLayout

from .helpers import PAPER, TINY, VIDEO_ONLY, randomise_zero_inits

# planes whose sides the 2x2 patch does not divide: tokens half real, half padding
PARTIAL = {"video_hw": (2, 3, 4), "video_tw": (2, 8, 4), "video_th": (2, 8, 3)}


def build(shapes, padding, stacker="stack6", preset="tiny", seed=0, **params):
    st = proav_core.build("stacker", stacker, plane_shapes=shapes)
    torch.manual_seed(seed)
    model = proav_core.build("generator", "stdit", preset=preset, latent_shape=st.latent_shape, cond_dim=16,
                             stacker=st, padding=padding, **params)
    randomise_zero_inits(model)
    return st, model.eval()


def inputs(st, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, *st.latent_shape, generator=g), torch.rand(batch, generator=g),
            torch.randn(batch, 3, 16, generator=g))


def real_token_grid(st, patch):
    """(F', S) bool, from the stacker's mask: a token is real when its patch has a real value."""
    pf, ph, pw = patch
    m = rearrange(st.loss_mask(), "c (f pf) (h ph) (w pw) -> f (h w) (pf ph pw c)", pf=pf, ph=ph, pw=pw)
    return m.amax(-1) > 0


def reference(model, st, x, t, cond):
    """A plain loop: each frame's spatial attention over its real tokens, each position's
    temporal attention over the frames present there, per-token parts on every token."""
    real = real_token_grid(st, model.size.patch)
    mask = st.loss_mask()
    t = t.expand(x.shape[0])
    h = model.patch_embed(model.patchify(x * mask))
    h = h + model.pos_spatial[None, None] + model.pos_temporal[None, :, None]  # (B, F', S, D)
    t_emb = model.t_embed(t)
    mod, y = model.adaln(t_emb), model.y_embed(cond)
    for block in model.blocks:
        m = (block.table[None] + mod)[:, :, None]  # (B, K, 1, D)
        sh_s, sc_s, g_s, sh_t, sc_t, g_t, g_c, sh_m, sc_m, g_m = m.unbind(1)
        new = h.clone()
        for f in range(real.shape[0]):
            idx = torch.nonzero(real[f]).flatten()
            hf = h[:, f, idx]  # (B, n, D)
            new[:, f, idx] = hf + g_s * block.attn_s(modulate(block.norm_s(hf), sh_s, sc_s))
        h, new = new, new.clone()
        for s in range(real.shape[1]):
            idx = torch.nonzero(real[:, s]).flatten()
            if idx.numel():
                hs = h[:, idx, s]  # (B, frames, D)
                new[:, idx, s] = hs + g_t * block.attn_t(modulate(block.norm_t(hs), sh_t, sc_t))
        h = new
        b, fp, n, d = h.shape
        flat = h.reshape(b, fp * n, d)
        flat = flat + g_c * block.attn_c(block.norm_c(flat), context=y)
        flat = flat + g_m * block.mlp(modulate(block.norm_m(flat), sh_m, sc_m))
        h = flat.reshape(b, fp, n, d)
    return model.unpatchify(model.final(h, t_emb)) * mask


@pytest.mark.parametrize("shapes", [TINY, VIDEO_ONLY, PARTIAL], ids=["tiny", "video_only", "partial_patches"])
def test_skip_matches_a_per_frame_loop_over_real_tokens(shapes):
    st, model = build(shapes, "skip")
    assert model.layout is not None  # these stackers pad, so the real-token path runs
    x, t, cond = inputs(st)
    with torch.no_grad():
        out, ref = model(x, t, cond), reference(model, st, x, t, cond)
    assert out.abs().max() > 1e-2  # a non-trivial output
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_skip_output_does_not_depend_on_the_padding():
    st, model = build(TINY, "skip")
    x, t, cond = inputs(st)
    pad = 1 - st.loss_mask()
    noisy = x + 100 * torch.randn_like(x) * pad
    out, out_noisy = model(x, t, cond), model(noisy, t, cond)
    assert torch.equal(out, out_noisy)
    assert torch.count_nonzero(out * pad) == 0  # padding's velocity is 0
    x.requires_grad_(True)
    model(x, t, cond).square().sum().backward()
    assert torch.count_nonzero(x.grad * pad) == 0 and x.grad.abs().sum() > 0


def test_compute_lets_padding_tokens_take_part_and_skip_differs():
    """The old path attends over the zeroed padding tokens, so the two modes differ on real
    positions (same weights); the skip path is the one the loop reference reproduces."""
    st, skip = build(TINY, "skip")
    _, compute = build(TINY, "compute")
    compute.load_state_dict(skip.state_dict())
    x, t, cond = inputs(st)
    with torch.no_grad():
        assert not torch.allclose(skip(x, t, cond), compute(x, t, cond), atol=1e-4)


def test_modes_share_weights_shapes_and_checkpoints():
    _, skip = build(PAPER, "skip", depth=1, hidden=64, heads=4)
    _, compute = build(PAPER, "compute", depth=1, hidden=64, heads=4)
    a, b = skip.state_dict(), compute.state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    assert sum(p.numel() for p in skip.parameters()) == sum(p.numel() for p in compute.parameters())
    compute.load_state_dict(a)  # strict: a skip checkpoint loads in compute mode and back


def test_no_padding_means_skip_equals_compute():
    """stack_packed at the paper's sizes has no padding: both modes run the full grid."""
    st, skip = build(PAPER, "skip", stacker="stack_packed", depth=1, hidden=64, heads=4, patch=(1, 4, 4))
    _, compute = build(PAPER, "compute", stacker="stack_packed", depth=1, hidden=64, heads=4, patch=(1, 4, 4))
    compute.load_state_dict(skip.state_dict())
    assert skip.layout is None and st.latent_shape == (4, 4, 32, 32)
    x, t, cond = inputs(st)
    with torch.no_grad():
        assert torch.equal(skip(x, t, cond), compute(x, t, cond))


def test_training_step_with_checkpointed_blocks_matches_plain():
    st, model = build(TINY, "skip", checkpoint_blocks=2)
    x, t, cond = inputs(st)
    model.train()
    model(x, t, cond).square().sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.checkpoint_blocks = 0
    model(x, t, cond).square().sum().backward()
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


def test_layout_groups_of_the_paper_stack6():
    st = proav_core.build("stacker", "stack6", plane_shapes=PAPER)
    layout = RealTokenLayout(real_token_grid(st, (1, 4, 4)))
    # hw frames: 64 real tokens; tw/th frames: the top 4 of 8 patch rows, 32 tokens
    assert layout.tokens == 2 * 64 + 4 * 32
    assert sorted(layout.spatial_sizes) == [(2, 64), (4, 32)]
    # top half of a frame: all 6 frames present; bottom half: the 2 hw frames
    assert sorted(layout.temporal_sizes) == [(32, 2), (32, 6)]
    assert torch.equal(layout.spatial_perm[layout.spatial_inverse], torch.arange(layout.tokens))


def test_describe_reports_padded_share_and_fewer_flops():
    st = proav_core.build("stacker", "stack6", plane_shapes=PAPER)
    with torch.device("meta"):
        skip = proav_core.build("generator", "stdit", preset="paper", latent_shape=st.latent_shape, cond_dim=256,
                                stacker=st, padding="skip")
        compute = proav_core.build("generator", "stdit", preset="paper", latent_shape=st.latent_shape,
                                   cond_dim=256, stacker=st, padding="compute")
    a, b = skip.describe(), compute.describe()
    assert a["padded_token_share"] == pytest.approx(1 / 3) and a["computed_tokens_per_sample"] == 256
    assert b["computed_tokens_per_sample"] == b["tokens_per_sample"] == 384
    assert a["parameters"] == b["parameters"]
    assert 0.5 < a["flops_per_sample"] / b["flops_per_sample"] < 2 / 3 + 0.01


def test_unknown_padding_mode_is_a_config_error():
    st = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(proav_core.errors.ConfigError, match="padding"):
        proav_core.build("generator", "stdit", preset="tiny", latent_shape=st.latent_shape, cond_dim=16,
                         stacker=st, padding="drop")
