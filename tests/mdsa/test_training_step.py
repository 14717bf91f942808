"""MDSA's training step: stages, loss composition (appendix Eq. 10-12), which parameters each
optimiser owns, the Table 5 ablation configs, and the perceptual losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.interfaces import AutoencoderTrainingStep

from .helpers import random_clip, tiny_mdsa

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ABLATIONS = sorted((CONFIGS / "ablations").glob("*.toml"))


def snapshot(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def changed(module, before):
    return {n for n, p in module.named_parameters() if not torch.equal(p.detach(), before[n])}


def test_one_generator_and_one_discriminator_step_touch_only_their_own_parameters():
    ae = tiny_mdsa(loss={"disc_start": 0, "video_discriminator": {"name": "video_patch3d", "channels": 8, "layers": 2},
                         "audio_discriminator": {"name": "audio_patch2d", "channels": 8, "layers": 2}})
    step = ae.training_step()
    assert isinstance(step, AutoencoderTrainingStep) and step.has_discriminators
    opt_g = torch.optim.Adam(ae.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(step.discriminators.parameters(), lr=1e-3)
    batch = random_clip()
    g0, d0 = snapshot(ae), snapshot(step.discriminators)

    loss, logs, recon = step.generator_loss(ae, batch, step=0)
    loss.backward()
    assert all(p.grad is None for p in step.discriminators.parameters()), "G loss must leave D's gradients alone"
    with_grad = {n for n, p in ae.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    opt_g.step()
    opt_g.zero_grad()
    assert changed(ae, g0) == with_grad and len(with_grad) > 0.8 * len(g0)
    assert not changed(step.discriminators, d0)
    assert {"video/adv", "video/fm", "audio/kl", "loss"} <= logs.keys()
    assert recon["video"].shape == batch["video"].shape and recon["audio"].shape == batch["audio"].shape

    g1 = snapshot(ae)
    d_loss, d_logs = step.discriminator_loss(batch, recon, step=0)
    d_loss.backward()
    assert all(p.grad is None for p in ae.parameters()), "D loss must leave G's gradients alone"
    opt_d.step()
    opt_d.zero_grad()
    assert changed(step.discriminators, d0) == set(d0)
    assert not changed(ae, g1)
    assert d_logs["d_loss"] == pytest.approx(0.5 * (d_logs["video/d_loss"] + d_logs["audio/d_loss"]), rel=1e-5)


def test_stage_one_is_reconstruction_only():
    ae = tiny_mdsa(loss={"disc_start": 100})
    step = ae.training_step()
    batch = random_clip()
    loss, logs, recon = step.generator_loss(ae, batch, step=99)
    assert logs["stage"] == 1 and not {"video/kl", "video/adv", "audio/fm"} & logs.keys()
    # sum_m 0.5 * 4.0 * L1_m (perceptual "none" is 0)
    assert loss.item() == pytest.approx(0.5 * 4.0 * (logs["video/l1"] + logs["audio/l1"]), rel=1e-5)
    assert step.discriminator_loss(batch, recon, step=99) is None
    assert step.discriminator_loss(batch, recon, step=100) is not None


def test_l2_weight_adds_the_mean_squared_error_of_each_modality():
    ae = tiny_mdsa(loss={"disc_start": 100, "l2_weight": 32.0})
    batch = random_clip()
    loss, logs, recon = ae.training_step().generator_loss(ae, batch, step=0)
    mse = {"video": (recon["video"] - batch["video"]).square().mean().item(),
           "audio": (recon["audio"] - batch["audio"]).square().mean().item()}
    assert logs["video/l2"] == pytest.approx(mse["video"], rel=1e-5)
    assert logs["audio/l2"] == pytest.approx(mse["audio"], rel=1e-5)
    expected = sum(0.5 * (4.0 * logs[f"{m}/l1"] + 32.0 * logs[f"{m}/l2"]) for m in ("video", "audio"))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    _, logs_default, _ = tiny_mdsa(loss={"disc_start": 100}).training_step().generator_loss(ae, batch, step=0)
    assert "video/l2" not in logs_default, "the paper's loss (l2_weight = 0) has no squared-error term"


def test_modality_weights_set_one_modality_apart_from_modality_weight():
    ae = tiny_mdsa(loss={"disc_start": 100, "modality_weights": {"audio": 1.5}})
    loss, logs, _ = ae.training_step().generator_loss(ae, random_clip(), step=0)
    assert loss.item() == pytest.approx(4.0 * (0.5 * logs["video/l1"] + 1.5 * logs["audio/l1"]), rel=1e-5)
    for bad in ({"audo": 1.0}, {"audio": -1.0}):
        with pytest.raises(proav_core.ConfigError, match="modality_weights"):
            tiny_mdsa(loss={"modality_weights": bad})


def test_stage_two_adds_kl_adversarial_and_feature_matching():
    ae = tiny_mdsa(loss={"disc_start": 0, "kl_weight": 1e-3, "adversarial_weight": 0.7, "feature_matching_weight": 0.3})
    loss, logs, _ = ae.training_step().generator_loss(ae, random_clip(), step=0)
    expected = sum(0.5 * (4.0 * logs[f"{m}/l1"] + 1e-3 * logs[f"{m}/kl"] + 0.7 * logs[f"{m}/adv"]
                          + 0.3 * logs[f"{m}/fm"]) for m in ("video", "audio"))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logs["video/kl"] > 0


def test_kl_is_the_closed_form_batchmean_over_the_planes():
    ae = tiny_mdsa(loss={"disc_start": 0, "kl_weight": 1.0, "adversarial_weight": 0.0,
                         "feature_matching_weight": 0.0})
    batch = random_clip()
    torch.manual_seed(3)
    _, logs, _ = ae.training_step().generator_loss(ae, batch, step=0)
    post = ae.encode(batch["video"], batch["audio"])
    kl = sum(0.5 * (q.mean**2 + q.log_var.exp() - 1 - q.log_var).sum() for k, q in post.items()
             if k.startswith("video")) / batch["video"].shape[0]
    assert logs["video/kl"] == pytest.approx(kl.item(), rel=1e-4)


def test_without_adversarial_weights_no_discriminator_is_built():
    ae = tiny_mdsa(loss={"disc_start": 0, "adversarial_weight": 0.0, "feature_matching_weight": 0.0})
    step = ae.training_step()
    assert not step.has_discriminators and not list(step.discriminators.parameters())
    _, logs, recon = step.generator_loss(ae, random_clip(), step=5)
    assert "video/adv" not in logs and "video/kl" in logs
    assert step.discriminator_loss(random_clip(), recon, step=5) is None


@pytest.mark.parametrize("config", ABLATIONS, ids=[p.stem for p in ABLATIONS])
def test_every_ablation_config_builds_and_runs_one_step(config):
    tiny = ["clip.frames=4", "clip.height=16", "clip.width=16", "model.autoencoder.width=16",
            "model.autoencoder.encoder.patch_size=4", "model.autoencoder.encoder.dim=16",
            "model.autoencoder.encoder.depth=1", "model.autoencoder.encoder.mlp_dim=32",
            "model.autoencoder.projector.width=16", "model.autoencoder.projector.depth=1",
            "model.autoencoder.projector.mlp_dim=32", "model.autoencoder.decoder.depth=1",
            "model.autoencoder.decoder.mlp_dim=32", "model.autoencoder.loss.disc_start=0",
            "model.autoencoder.loss.video_discriminator.channels=8",
            "model.autoencoder.loss.audio_discriminator.channels=8"]
    cfg = proav_core.load_config(config, overrides=tiny)
    ae = proav_core.build_from_config(cfg).autoencoder
    step = ae.training_step()
    batch = {k: v for k, v in random_clip(cfg.clip).items() if k in ae.modalities}
    opt_g = torch.optim.Adam(ae.parameters(), lr=1e-3)
    loss, logs, recon = step.generator_loss(ae, batch, step=0)
    loss.backward()
    opt_g.step()
    assert torch.isfinite(loss)
    d = step.discriminator_loss(batch, recon, step=0)
    if d is not None:
        opt_d = torch.optim.Adam(step.discriminators.parameters(), lr=1e-3)
        d[0].backward()
        opt_d.step()
        assert torch.isfinite(d[0])
    name = config.stem
    roles = {r: type(ae.attention[r]).__name__ for r in ("temporal_tw", "cross_hw", "decoder_volume")}
    assert (roles["temporal_tw"] == "IdentityBlock") == (name == "no_mt_selfattn")
    assert (roles["cross_hw"] == "IdentityBlock") == (name == "no_gcm_attn")
    assert (roles["decoder_volume"] == "IdentityBlock") == (name == "no_bi_block_crossattn")
    assert (ae.loss_params.kl_weight == 0) == (name == "no_kl")
    assert (d is None) == (name == "no_adversarial")
    assert ae.modalities == {"mdsa_v": ("video",), "mdsa_a": ("audio",)}.get(name, ("video", "audio"))


def test_ablations_cover_table_5():
    assert {p.stem for p in ABLATIONS} == {"full", "no_mt_selfattn", "no_gcm_attn", "no_bi_block_crossattn",
                                           "no_kl", "no_adversarial", "mdsa_v", "mdsa_a"}
    for path in ABLATIONS:
        assert 'extends = "../mdsa_base.toml"' in path.read_text()


def test_training_step_through_fabric_wrappers():
    from lightning_fabric import Fabric

    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    ae = tiny_mdsa(loss={"disc_start": 0, "video_discriminator": {"name": "video_patch3d", "channels": 8, "layers": 2},
                         "audio_discriminator": {"name": "audio_patch2d", "channels": 8, "layers": 2}})
    step = ae.training_step()
    ae, opt_g = fabric.setup(ae, torch.optim.Adam(ae.parameters(), lr=1e-3))
    step.discriminators, opt_d = fabric.setup(step.discriminators, torch.optim.Adam(step.discriminators.parameters(), lr=1e-3))
    assert step.has_discriminators
    batch = random_clip()
    d0 = snapshot(step.discriminators)
    loss, logs, recon = step.generator_loss(ae, batch, step=3)
    fabric.backward(loss)
    assert all(p.grad is None for p in step.discriminators.parameters())
    opt_g.step()
    opt_g.zero_grad()
    d_loss, _ = step.discriminator_loss(batch, recon, step=3)
    fabric.backward(d_loss)
    opt_d.step()
    assert changed(step.discriminators, d0) == set(d0)
    assert torch.isfinite(loss) and logs["stage"] == 2.0
