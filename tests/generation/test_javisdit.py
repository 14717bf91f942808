"""javisdit on the tokens stacker: shapes, zero init, gradients, the attention masks, the
bidirectional cross-attention, FLOPs, checkpoint round trip, the shipped configs and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import proav_core
from proav_core.errors import ConfigError
from proav_core.interfaces import Generator
from proav_plugins.peers.javisdit.model import attention_masks, token_layout
from proav_plugins.peers.javisdit.blocks import BiCrossAttention

from .helpers import PAPER, TINY, VIDEO_ONLY, random_planes, randomise_zero_inits

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEMO_PLANES = {f"{m}_{a}": (4, 8, 8) for m in ("video", "audio") for a in ("hw", "tw", "th")}


def build(shapes=TINY, **params):
    st = proav_core.build("stacker", "tokens", plane_shapes=shapes)
    params.setdefault("preset", "tiny")
    return st, proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=8, stacker=st, **params)


def test_fresh_model_outputs_zero_and_patches_round_trip():
    st, model = build()
    assert isinstance(model, Generator)
    x = st.stack(random_planes(TINY))
    tokens = {m: model.patchify(x, m) for m in ("video", "audio")}
    assert torch.equal(model.unpatchify(tokens), x)
    assert model.num_tokens("video") == model.num_tokens("audio") == 4 + 8 + 8
    out = model(x, torch.rand(2), torch.randn(2, 1, 8))
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(x))


def test_branches_see_only_their_own_planes_before_the_bicross_attention():
    st, model = build()
    planes = {k: torch.zeros(1, *s) for k, s in TINY.items()}
    planes["audio_tw"] += 1.0
    x = st.stack(planes)
    assert not model.patchify(x, "video").any() and model.patchify(x, "audio").abs().sum() > 0


def test_gradients_reach_every_parameter_and_each_modality_reaches_the_other():
    st, model = build()
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 2, 8)
    randomise_zero_inits(model)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # audio input changes the video output (through MM-BiCrossAttn) and vice versa
    planes = random_planes(TINY)
    changed = dict(planes, audio_hw=planes["audio_hw"] + 1.0)
    with torch.no_grad():
        before, after = st.unstack(model(st.stack(planes), t, c)), st.unstack(model(st.stack(changed), t, c))
        for layer in model.layers:  # cut the audio -> video direction of MM-BiCrossAttn
            layer.bicross.video_proj.weight.zero_()
            layer.bicross.video_proj.bias.zero_()
        cut = st.unstack(model(st.stack(changed), t, c))
        base = st.unstack(model(st.stack(planes), t, c))
    assert not torch.allclose(before["video_hw"], after["video_hw"])
    assert torch.allclose(base["video_hw"], cut["video_hw"], atol=1e-6)  # only the bicross path joins them


def test_masks_follow_the_plane_axes():
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    video = [s for s in st.segments if s.type_id < 3]  # hw 4x4, tw 8x4, th 8x4 -> patch 2: 2x2, 4x2, 4x2
    masks = attention_masks(token_layout(video, 2), num_spatial=3, num_temporal=5)
    # tokens: hw 0-3, tw 4-11 (rows of 2), th 12-19 (rows of 2)
    assert masks["spatial"][0, :4].all() and not masks["spatial"][0, 4:].any()  # hw: its own plane
    assert masks["spatial"][4].nonzero().flatten().tolist() == [4, 5, 12, 13]  # time step 0 of tw and th
    assert masks["temporal"][4].nonzero().flatten().tolist() == [4, 6, 8, 10]  # tw column 0 over time
    assert masks["temporal"][13].nonzero().flatten().tolist() == [13, 15, 17, 19]  # th column 1 over time
    assert masks["temporal_keep"].flatten().tolist() == [0.0] * 4 + [1.0] * 16  # hw has no time axis
    assert masks["prior"][0].tolist() == [True] * 3 + [False] * 5 and masks["prior"][4].all()


def test_bicross_attention_shares_one_score_matrix():
    torch.manual_seed(0)
    bi = BiCrossAttention(8, 1)
    video, audio = torch.randn(1, 5, 8), torch.randn(1, 3, 8)
    to_video, to_audio = bi(video, audio)
    q_v, v_v = bi.video_qv(video).chunk(2, -1)
    k_a, v_a = bi.audio_kv(audio).chunk(2, -1)
    scores = q_v @ k_a.transpose(1, 2) / 8 ** 0.5  # (1, 5, 3)
    assert torch.allclose(to_video, bi.video_proj(scores.softmax(-1) @ v_a), atol=1e-5)
    assert torch.allclose(to_audio, bi.audio_proj(scores.transpose(1, 2).softmax(-1) @ v_v), atol=1e-5)


def test_state_dict_round_trip_gives_identical_outputs():
    st, model = build()
    randomise_zero_inits(model)
    _, other = build()
    other.load_state_dict(model.state_dict())
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    with torch.no_grad():
        assert torch.equal(model(x, t, c), other(x, t, c))


def test_describe_flops_match_torch_flop_counter():
    st, model = build()
    x = st.stack(random_planes(TINY, batch=1))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.rand(1), torch.randn(1, 2, 8))
    info = model.describe(cond_tokens=2)
    assert counter.get_total_flops() == info["flops_per_sample"]
    assert info["tokens_per_sample"] == 40 and info["trainable_parameters"] == info["parameters"]


@pytest.mark.parametrize("config", ["javisdit_tiny.toml", "javisdit_paper.toml"])
def test_shipped_configs_build(config):
    cfg = proav_core.load_config(CONFIGS / "peers" / config)
    planes = DEMO_PLANES if "tiny" in config else PAPER
    st = proav_core.build_component(cfg.model.stacker, plane_shapes=planes)
    with torch.device("meta"):
        model = proav_core.build_component(cfg.model.generator, latent_shape=st.latent_shape,
                                           cond_dim=cfg.model.conditioner.params.dim, stacker=st)
        if cfg.model.prior is not None:  # the prior stage's component at the paper's size
            prior = proav_core.build_component(cfg.model.prior, cond_dim=cfg.model.conditioner.params.dim, stacker=st)
            assert prior.describe()["prior_tokens"] == 64
    count = model.describe()["parameters"]
    if "tiny" in config:  # within 10% of the tiny STDiT on the demo's latent (238,032)
        assert st.latent_shape == (4, 384) and 214_000 <= count <= 262_000
    else:
        assert count > 500_000_000


def test_errors_name_the_fix():
    stack6 = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="needs the 'tokens' stacker"):
        proav_core.build("generator", "javisdit", latent_shape=stack6.latent_shape, cond_dim=8, stacker=stack6)
    video_only = proav_core.build("stacker", "tokens", plane_shapes=VIDEO_ONLY)
    with pytest.raises(ConfigError, match="no audio planes.*use generator 'token_dit'"):
        proav_core.build("generator", "javisdit", latent_shape=video_only.latent_shape, cond_dim=8, stacker=video_only)
    tokens = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="patch 3 does not divide plane video_hw"):
        proav_core.build("generator", "javisdit", patch=3, latent_shape=tokens.latent_shape, cond_dim=8, stacker=tokens)


@pytest.mark.parametrize("config", ["javisdit_tiny.toml", "javisdit_paper.toml", "javisdit_prior_tiny.toml",
                                    "javisdit_prior_off_tiny.toml"])
def test_shipped_configs_pass_config_check(config, capsys):
    from proav_core.cli import main

    assert main(["config", "check", str(CONFIGS / "peers" / config)]) == 0
    assert f"{config} is valid" in capsys.readouterr().out
