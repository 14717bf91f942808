"""Contracts of the autoencoder kinds: encoder, pixel_stem, pixel_head, projector,
attention, decoder, discriminator, autoencoder, perceptual (proav_core.interfaces.autoencoder)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from proav_core.interfaces import PLANE_NAMES, AttentionBlock, Autoencoder, Decoder, Encoder, Projector
from proav_core.testing.common import (
    CLIP,
    expect,
    expect_gradients_everywhere,
    make,
    perturb_zero_params,
    weighted_sum,
)

T, H, W = CLIP.frames, CLIP.height, CLIP.width


def check_encoder(name: str, **params: Any) -> None:
    """(B, C_in, T, H, W) -> (B, out_dim, T, H/d, W/d) for C_in 3 and 1, batch 1 and 2;
    gradients reach every parameter."""
    for in_channels in (3, 1):
        enc = make("encoder", name, params, in_channels=in_channels, clip=CLIP)
        expect(isinstance(enc, Encoder), "encoder", name, "does not satisfy the Encoder protocol")
        d = enc.downsample
        for batch in (1, 2):
            u = enc(torch.rand(batch, in_channels, T, H, W) * 2 - 1)
            expect(u.shape == (batch, enc.out_dim, T, H // d, W // d), "encoder", name,
                   f"output {tuple(u.shape)}, expected {(batch, enc.out_dim, T, H // d, W // d)}")
        expect_gradients_everywhere(enc, weighted_sum(u), "encoder", name)


def _frames_stay_apart(module: nn.Module, x: torch.Tensor, kind: str, name: str) -> None:
    """A change in frame 1 moves frame 1 alone; not asked of a part whose `layout` is
    "spectrogram" (its frames are chunks of one image, joined on purpose)."""
    if getattr(module, "layout", "frames") == "spectrogram":
        return
    changed = x.clone()
    changed[:, :, 1] += 1.0  # only frame 1 differs
    with torch.no_grad():
        diff = (module.eval()(changed) - module(x)).abs().amax(dim=(0, 1, 3, 4))  # (T,)
    expect(diff[1] > 0 and diff[0] == 0 and diff[2] == 0, kind, name,
           f"frames must be handled one by one; a change in frame 1 moved frames {diff.tolist()}")


def check_pixel_stem(name: str, **params: Any) -> None:
    """(B, C_in, T, H, W) -> (B, dim, T, H/p, W/p) for p 2 and 4, batch-independent, frame by frame
    (unless its layout is "spectrogram")."""
    for patch in (2, 4):
        stem = make("pixel_stem", name, params, in_channels=3, dim=16, patch=patch)
        x = torch.rand(2, 3, T, H, W) * 2 - 1
        y = stem(x)
        expect(y.shape == (2, 16, T, H // patch, W // patch), "pixel_stem", name, f"output {tuple(y.shape)}")
        expect_gradients_everywhere(stem, y.square().mean(), "pixel_stem", name)
        expect(torch.allclose(stem(x[:1]), y[:1].detach(), atol=1e-5), "pixel_stem", name,
               "a clip's tokens depend on the other clips in its batch")
    _frames_stay_apart(stem, x, "pixel_stem", name)


def check_pixel_head(name: str, **params: Any) -> None:
    """(B, dim, T, H', W') -> (B, out_channels, T, H' p, W' p) for p 2 and 4, frame by frame (unless its
    layout is "spectrogram")."""
    for patch in (2, 4):
        head = make("pixel_head", name, params, dim=16, out_channels=1, patch=patch)
        x = torch.randn(2, 16, T, H // patch, W // patch)
        y = head(x)
        expect(y.shape == (2, 1, T, H, W), "pixel_head", name, f"output {tuple(y.shape)}")
        expect_gradients_everywhere(head, y.square().mean(), "pixel_head", name)
    _frames_stay_apart(head, x, "pixel_head", name)


def check_projector(name: str, **params: Any) -> None:
    """(B, D_in, T, H', W') -> (B, out_dim, a, b) collapsing t, h or w; only the collapsed
    axis is mixed (a change along one (h, w) line moves only that plane position)."""
    t, h, w = 5, 3, 4
    for axis, plane in (("t", (h, w)), ("h", (t, w)), ("w", (t, h))):
        proj = make("projector", name, params, axis=axis, in_dim=8, size=(t, h, w), out_dim=6)
        expect(isinstance(proj, Projector), "projector", name, "does not satisfy the Projector protocol")
        u = torch.randn(2, 8, t, h, w)
        out = proj(u)
        expect(out.shape == (2, 6, *plane) and proj(u[:1]).shape == (1, 6, *plane), "projector", name,
               f"axis {axis}: output {tuple(out.shape)}, expected {(2, 6, *plane)}")
        expect_gradients_everywhere(proj, weighted_sum(out), "projector", name)
    proj = make("projector", name, params, axis="t", in_dim=8, size=(t, h, w), out_dim=6)
    u = torch.randn(1, 8, t, h, w)
    u2 = u.clone()
    u2[:, :, :, 0, 0] += torch.randn(8, 1)  # one (h, w) line, every frame
    diff = (proj(u) - proj(u2)).abs().amax(dim=(0, 1))  # (H', W')
    expect(diff[0, 0] > 0 and diff.flatten()[1:].max() == 0, "projector", name,
           "collapsing t must not mix (h, w) positions")


ATTENTION_DIM = 16
ATTENTION_LAYOUTS = {"plane": (5, 6), "volume": (5, 4, 7)}  # after (B, D): odd T first, odd W


def _streams(layout: str, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, ATTENTION_DIM, *ATTENTION_LAYOUTS[layout])
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def check_attention(name: str, **params: Any) -> None:
    """Streams (B, D, *S), S a plane or a volume: shapes kept and finite for batch 1 and 2;
    gradients reach the inputs and every parameter; deterministic in eval mode; built for one
    stream it takes None for the other and returns None for it."""
    def block(streams=("video", "audio")):
        return make("attention", name, params, dim=ATTENTION_DIM, streams=streams)

    for layout in ATTENTION_LAYOUTS:
        m = block()
        expect(isinstance(m, AttentionBlock), "attention", name, "does not satisfy the AttentionBlock protocol")
        for batch in (1, 2):
            v, a = _streams(layout, batch)
            out_v, out_a = m(v, a)
            expect(out_v.shape == v.shape and out_a.shape == a.shape, "attention", name,
                   f"{layout}: output shapes {tuple(out_v.shape)}, {tuple(out_a.shape)} for {tuple(v.shape)}")
            expect(torch.isfinite(out_v).all() and torch.isfinite(out_a).all(), "attention", name, "not finite")
        if isinstance(m, nn.Module):
            perturb_zero_params(m)  # identity-at-init blocks pass no gradient through zero projections
        v, a = (s.requires_grad_(True) for s in _streams(layout))
        expect_gradients_everywhere(m, weighted_sum(*m(v, a)), "attention", name)
        expect(v.grad is not None and v.grad.abs().sum() > 0, "attention", name, "no gradient reaches the input")
        if isinstance(m, nn.Module):
            m.eval()
        v, a = _streams(layout)
        first, second = m(v, a), m(v.clone(), a.clone())
        expect(all(torch.equal(x, y) for x, y in zip(first, second, strict=True)), "attention", name,
               "two evaluation-mode calls on the same input differ")
    for only in ("video", "audio"):
        v, a = _streams("plane")
        out_v, out_a = block((only,))(v if only == "video" else None, a if only == "audio" else None)
        kept, dropped = (out_v, out_a) if only == "video" else (out_a, out_v)
        expect(dropped is None and kept is not None and kept.shape == v.shape, "attention", name,
               f"built for ('{only}',), it must return that stream's shape and None for the other")


def check_decoder(name: str, **params: Any) -> None:
    """expand (paper Eq. 7) against a hand-made example; (B, D, T, H', W') -> (B, C_out, T, H, W)."""
    dec = make("decoder", name, params, dim=8, out_channels=3, clip=CLIP, downsample=4)
    expect(isinstance(dec, Decoder), "decoder", name, "does not satisfy the Decoder protocol")
    hw = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).view(1, 1, 2, 3)  # (B, D, H'=2, W'=3)
    tw = torch.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]]).view(1, 1, 2, 3)  # (B, D, T=2, W'=3)
    th = torch.tensor([[100.0, 200.0], [300.0, 400.0]]).view(1, 1, 2, 2)  # (B, D, T=2, H'=2)
    expected = hw[:, :, None] + tw[:, :, :, None] + th[..., None]  # (1, 1, T, H', W')
    vol = dec.expand(hw, tw, th)
    expect(torch.equal(vol, expected) and vol[0, 0, 1, 0, 2] == 3.0 + 60.0 + 300.0, "decoder", name,
           "expand must broadcast each plane along its missing axis and sum (paper Eq. 7)")
    d = 4
    for out_channels in (3, 1):
        dec = make("decoder", name, params, dim=16, out_channels=out_channels, clip=CLIP, downsample=d)
        for batch in (1, 2):
            vol = dec.expand(torch.randn(batch, 16, H // d, W // d), torch.randn(batch, 16, T, W // d),
                             torch.randn(batch, 16, T, H // d))
            x = dec(vol)
            expect(x.shape == (batch, out_channels, T, H, W), "decoder", name, f"output {tuple(x.shape)}")
        expect_gradients_everywhere(dec, weighted_sum(x), "decoder", name)


def check_discriminator(name: str, **params: Any) -> None:
    """(B, C, T, H, W) -> list of >= 2 finite feature maps, the last being (B, 1, ...) logits."""
    for in_channels in (3, 1):
        disc = make("discriminator", name, params, in_channels=in_channels, clip=CLIP)
        perturb_zero_params(disc)
        for batch in (1, 2):
            feats = disc(torch.rand(batch, in_channels, T, H, W) * 2 - 1)
            expect(isinstance(feats, list) and len(feats) >= 2, "discriminator", name, "must return a list of maps")
            expect(all(f.shape[0] == batch and torch.isfinite(f).all() for f in feats), "discriminator", name,
                   "every map must be finite with the batch first")
            expect(feats[-1].shape[1] == 1, "discriminator", name, "the last map must be the logits (1 channel)")
        expect_gradients_everywhere(disc, weighted_sum(*feats), "discriminator", name)


def check_autoencoder(name: str, **params: Any) -> None:
    """plane_shapes names planes of PLANE_NAMES with latent_channels channels; encode_latents
    gives those shapes inside [-latent_bound, latent_bound]; decode_latents gives clips."""
    ae = make("autoencoder", name, params, clip=CLIP)
    expect(isinstance(ae, Autoencoder), "autoencoder", name, "does not satisfy the Autoencoder protocol")
    shapes = ae.plane_shapes()
    expect(shapes and set(shapes) <= set(PLANE_NAMES), "autoencoder", name, f"plane names {sorted(shapes)}")
    expect(all(s[0] == ae.latent_channels for s in shapes.values()), "autoencoder", name,
           "every plane must have latent_channels channels")
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, T, H, W, generator=g) * 2 - 1 if "video" in ae.modalities else None
    audio = torch.rand(2, T, H, W, generator=g) * 2 - 1 if "audio" in ae.modalities else None
    if isinstance(ae, nn.Module):
        ae.eval()
    with torch.no_grad():
        planes = ae.encode_latents(video, audio)
        expect({k: tuple(v.shape[1:]) for k, v in planes.items()} == {k: tuple(s) for k, s in shapes.items()},
               "autoencoder", name, "encode_latents' planes differ from plane_shapes()")
        peak = max(float(p.abs().max()) for p in planes.values())
        expect(peak <= ae.latent_bound * (1 + 1e-5), "autoencoder", name,
               f"latents reach {peak:.4g}, outside the box of latent_bound {ae.latent_bound}")
        out_video, out_audio = ae.decode_latents(planes)
    for given, out, modality in ((video, out_video, "video"), (audio, out_audio, "audio")):
        expect((given is None) == (out is None), "autoencoder", name, f"decode_latents' {modality} presence")
        if given is not None:
            expect(out.shape == given.shape, "autoencoder", name, f"decoded {modality} {tuple(out.shape)}")


def check_perceptual(name: str, **params: Any) -> None:
    """(x, x_hat) (B, C, T, H, W), C 3 or 1 -> finite scalar >= 0, zero for identical inputs."""
    loss_fn = make("perceptual", name, params, clip=CLIP)
    g = torch.Generator().manual_seed(0)
    for channels in (3, 1):
        x = torch.rand(2, channels, T, H, W, generator=g) * 2 - 1
        y = torch.rand(2, channels, T, H, W, generator=g) * 2 - 1
        with torch.no_grad():
            same, other = loss_fn(x, x), loss_fn(x, y)
        expect(other.dim() == 0 and torch.isfinite(other) and other >= 0, "perceptual", name,
               f"loss must be a finite scalar >= 0, got {other}")
        expect(abs(float(same)) < 1e-5, "perceptual", name, f"loss(x, x) must be 0, got {float(same)}")
