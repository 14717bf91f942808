"""The `mdsa` autoencoder: paper shapes (meta device), latent box, generator-space round trip,
single-stream variants, swapping attention blocks by name, input errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core import ClipSpec
from proav_core.interfaces import Autoencoder
from proav_plugins.mdsa.streams import IdentityBlock

from .helpers import TINY_MDSA, perturb_zero_params, random_clip, tiny_mdsa

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_paper_config_gives_the_paper_planes_on_the_meta_device():
    cfg = proav_core.load_config(CONFIGS / "mdsa_paper.toml")
    assert (cfg.clip.frames, cfg.clip.height, cfg.clip.width) == (16, 256, 256)
    with torch.device("meta"):
        ae = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
        video = torch.empty(1, 3, 16, 256, 256)
        audio = torch.empty(1, 16, 256, 256)
        planes = ae.encode_latents(video, audio)
        out_v, out_a = ae.decode_latents(planes)
    expected = {"hw": (4, 32, 32), "tw": (4, 16, 32), "th": (4, 16, 32)}
    for m in ("video", "audio"):
        for p, shape in expected.items():
            assert ae.plane_shapes()[f"{m}_{p}"] == shape
            assert planes[f"{m}_{p}"].shape == (1, *shape)
    assert out_v.shape == (1, 3, 16, 256, 256) and out_a.shape == (1, 16, 256, 256)
    # appendix 5.2: (32x32 + 32x16 + 32x16) x 4 = 8192 latent values per modality
    assert sum(c * a * b for name, (c, a, b) in ae.plane_shapes().items() if name.startswith("video")) == 8192
    assert ae.latent_channels == 4 and ae.downsample == 8
    proj = ae.projectors["video_hw"]
    assert len(proj.blocks) == 4 and proj.proj_in.out_features == 384
    assert proj.blocks[0].attn.heads == 4 and proj.blocks[0].mlp.fc1.out_features == 512


def test_mdsa_satisfies_the_autoencoder_protocol():
    ae = tiny_mdsa()
    assert isinstance(ae, Autoencoder)
    assert ae.modalities == ("video", "audio")
    assert ae.latent_bound == pytest.approx(3.0)


def test_encode_latents_stay_inside_the_box_even_when_saturated():
    ae = tiny_mdsa(latent_clip=2.0, latent_scale=0.5).eval()
    assert ae.latent_bound == pytest.approx(1.0)
    x = random_clip()
    with torch.no_grad():
        for proj in ae.projectors.values():
            proj.proj_out.weight.mul_(1e4)  # drive the raw means far outside the box
        planes = ae.encode_latents(x["video"], 100 * x["audio"])
    peak = max(p.abs().max() for p in planes.values())
    assert peak <= ae.latent_bound and peak > 0.99 * ae.latent_bound


def test_any_point_of_the_box_decodes_to_a_valid_clip():
    ae = tiny_mdsa(latent_scale=2.0).eval()
    corner = {k: torch.full((1, *s), ae.latent_bound) for k, s in ae.plane_shapes().items()}
    noise = {k: (torch.rand(2, *s) * 2 - 1) * ae.latent_bound for k, s in ae.plane_shapes().items()}
    for planes in (corner, noise):
        video, audio = ae.decode_latents(planes)
        assert video.shape[1:] == (3, 5, 16, 16) and audio.shape[1:] == (5, 16, 16)
        for x in (video, audio):
            assert torch.isfinite(x).all() and x.abs().max() <= 1.0


def test_generator_space_round_trip_matches_the_eval_forward():
    ae = tiny_mdsa(latent_scale=2.5).eval()
    x = random_clip()
    with torch.no_grad():
        out = ae(video=x["video"], audio=x["audio"])
        video, audio = ae.decode_latents(ae.encode_latents(x["video"], x["audio"]))
        again = ae.reconstruct(x["video"], x["audio"])
    assert torch.allclose(video, out.streams["video"].clamp(-1, 1), atol=1e-5)
    assert torch.allclose(audio, out.streams["audio"][:, 0].clamp(-1, 1), atol=1e-5)
    assert torch.equal(video, again[0]) and torch.equal(audio, again[1])


def test_training_forward_samples_the_posterior():
    ae = tiny_mdsa().train()
    x = random_clip()
    a, b = ae(**x), ae(**x)
    assert not torch.equal(a.latents["video_hw"], b.latents["video_hw"])
    assert torch.equal(a.posteriors["video_hw"].mean, b.posteriors["video_hw"].mean)


@pytest.mark.parametrize("only", ["video", "audio"])
def test_single_stream_variants(only):
    ae = tiny_mdsa(modalities=[only])
    assert ae.modalities == (only,)
    assert set(ae.plane_shapes()) == {f"{only}_hw", f"{only}_tw", f"{only}_th"}
    x = random_clip()
    planes = ae.encode_latents(x["video"] if only == "video" else None, x["audio"] if only == "audio" else None)
    video, audio = ae.decode_latents(planes)
    assert (video is None) == (only == "audio") and (audio is None) == (only == "video")
    assert not any(n.startswith("decoders.audio" if only == "video" else "decoders.video")
                   for n, _ in ae.named_parameters())


def test_a_stream_can_have_its_own_decoder_and_encoder():
    audio_decoder = {"name": "plane_decoder", "depth": 2, "heads": 2, "mlp_dim": 24,
                     "head": {"name": "conv", "channels": 8, "max_channels": 16, "blocks": 0}}
    audio_encoder = TINY_MDSA["encoder"] | {"depth": 2}
    ae = tiny_mdsa(stream_decoders={"audio": audio_decoder}, stream_encoders={"audio": audio_encoder})
    shared = tiny_mdsa()
    assert len(ae.decoders["audio"].blocks.blocks) == 2 and len(ae.decoders["video"].blocks.blocks) == 1
    assert type(ae.decoders["audio"].head).__name__ == "ConvHead"
    assert type(ae.decoders["video"].head) is type(shared.decoders["video"].head)  # noqa: E721
    assert len(ae.encoders["audio"].blocks.blocks) == 2 and len(ae.encoders["video"].blocks.blocks) == 1
    assert ae.plane_shapes() == shared.plane_shapes()  # one latent grid for both streams
    x = random_clip()
    video, audio = ae.reconstruct(x["video"], x["audio"])
    assert video.shape == x["video"].shape and audio.shape == x["audio"].shape


def test_stream_encoders_must_share_the_downsampling():
    with pytest.raises(proav_core.ConfigError, match=r"downsample by \{'video': 4, 'audio': 2\}.*same patch size"):
        tiny_mdsa(stream_encoders={"audio": TINY_MDSA["encoder"] | {"patch_size": 2}})


def test_a_stream_section_for_a_missing_modality_is_unused():
    """A video-only ablation (modalities = ["video"]) on a base whose audio stream has its own
    decoder (mdsa_tiny.toml) builds the video stream alone, as without that section."""
    ablated = tiny_mdsa(modalities=["video"], stream_decoders={"audio": TINY_MDSA["decoder"] | {"depth": 2}},
                        stream_encoders={"audio": TINY_MDSA["encoder"]})
    plain = tiny_mdsa(modalities=["video"])
    assert set(ablated.decoders) == set(ablated.encoders) == {"video"}
    assert {k: v.shape for k, v in ablated.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}


def test_attention_roles_are_swapped_by_registry_name():
    full = tiny_mdsa()
    ablated = tiny_mdsa(attention={"spatial": "spatial_selfattn", "temporal": "identity", "cross": "gcm_attn",
                                   "decoder": "identity"})
    for role in ("temporal_tw", "temporal_th", "decoder_volume"):
        assert isinstance(ablated.attention[role], IdentityBlock)
        assert not isinstance(full.attention[role], IdentityBlock)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ablated) < count(full)


def test_streams_meet_only_through_cross_modal_roles():
    x = random_clip(batch=1)
    other_audio = x["audio"].flip(-1)
    for cross, decoder, meets in [("gcm_attn", "identity", True), ("identity", "bi_block_crossattn", True),
                                  ("identity", "identity", False)]:
        torch.manual_seed(0)
        ae = tiny_mdsa(attention={"spatial": "spatial_selfattn", "temporal": "mt_selfattn", "cross": cross,
                                  "decoder": decoder}).eval()
        perturb_zero_params(ae)
        with torch.no_grad():
            v1, _ = ae.reconstruct(x["video"], x["audio"])
            v2, _ = ae.reconstruct(x["video"], other_audio)
        assert (not torch.allclose(v1, v2)) == meets, (cross, decoder)


def test_wrong_input_shapes_are_explained():
    ae = tiny_mdsa()
    x = random_clip()
    with pytest.raises(ValueError, match=r"needs audio of shape \(B, 5, 16, 16\)"):
        ae.encode_latents(x["video"], None)
    with pytest.raises(ValueError, match=r"needs video of shape \(B, 3, 5, 16, 16\).*got \(2, 3, 5, 8, 8\)"):
        ae.encode_latents(x["video"][..., :8, :8], x["audio"])
    planes = ae.encode_latents(x["video"], x["audio"])
    del planes["audio_th"]
    with pytest.raises(ValueError, match="audio_th"):
        ae.decode_latents(planes)


def test_clip_not_divisible_by_the_patch_is_a_config_error():
    with pytest.raises(proav_core.ConfigError, match="patch_size"):
        tiny_mdsa(clip=ClipSpec(frames=4, height=18, width=16))


def test_describe_reports_the_latent_box():
    info = tiny_mdsa().describe()
    assert info["latent elements / sample"] == 2 * 4 * (4 * 4 + 5 * 4 + 5 * 4)
    assert "[-3, 3]" in info["latent box"]


def test_clip_spec_is_taken_from_the_context():
    ae = tiny_mdsa(clip=ClipSpec(frames=3, height=8, width=12))
    assert ae.plane_shapes()["video_th"] == (4, 3, 2) and ae.plane_shapes()["video_tw"] == (4, 3, 3)


def test_activation_checkpointing_gives_the_same_values_and_gradients():
    def build(encoder_ckpt, projector_ckpt, decoder_ckpt):
        torch.manual_seed(0)
        parts = {"encoder": encoder_ckpt, "projector": projector_ckpt, "decoder": decoder_ckpt}
        sized = {k: TINY_MDSA[k] | {"depth": 2, "checkpoint_blocks": n} for k, n in parts.items()}
        return tiny_mdsa(**sized).train()

    plain, ckpt = build(0, 0, 0), build(1, 2, 2)  # the encoder's first block only; all of the others
    perturb_zero_params(plain)
    ckpt.load_state_dict(plain.state_dict())
    runs = {"block": [], "second": []}  # pre-hooks: backward's recomputation stops before post-hooks
    first, second = ckpt.encoders["video"].blocks.blocks
    first.register_forward_pre_hook(lambda *_: runs["block"].append(1))
    second.register_forward_pre_hook(lambda *_: runs["second"].append(1))
    clip, outs = random_clip(), []
    for model in (plain, ckpt):
        torch.manual_seed(1)  # the same posterior sample
        out = model(**clip)
        sum(s.square().mean() for s in out.streams.values()).backward()
        outs.append(out.streams)
    assert len(runs["block"]) == 2 and len(runs["second"]) == 1  # recomputed in backward / not
    for m in outs[0]:
        torch.testing.assert_close(outs[0][m], outs[1][m], atol=1e-6, rtol=0)
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=0, msg=name)
    runs["block"].clear()
    with torch.no_grad():
        ckpt.eval()(**clip)
    assert len(runs["block"]) == 1  # no recomputation outside training
