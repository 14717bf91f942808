"""javisdit with a trained hist_sypo prior (prior = "hist_sypo"): the frozen prior is loaded from
its checkpoint, gradients reach exactly the trainable parameters, eval reads the prior's mean,
and a bad prior_checkpoint is one clear error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.errors import ConfigError, MissingWeightsError
from proav_core.training.generator_loop import flow_model

from .helpers import TINY, random_planes, randomise_zero_inits

PRIOR = {"width": 32, "depth": 1, "num_spatial": 3, "num_temporal": 5, "prior_dim": 16}


def save_prior(path: Path, st, cond_dim: int = 8) -> torch.nn.Module:
    """A prior checkpoint as `proav train prior` writes it (prior weights under model.prior.*)."""
    prior = proav_core.build("prior", "hist_sypo", cond_dim=cond_dim, stacker=st, **PRIOR)
    stage = {"name": "hist_sypo", "params": {**prior_params(), **PRIOR}, "cond_dim": cond_dim,
             "latent_shape": list(st.latent_shape)}
    torch.save({"prior_stage": stage, "step": 1, "model": {f"prior.{k}": v for k, v in prior.state_dict().items()}},
               path)
    return prior


def prior_params() -> dict:
    spec = proav_core.get_registry().get("prior", "hist_sypo")
    return spec.params(**PRIOR).model_dump()


def build(tmp_path: Path, **params):
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    trained = save_prior(tmp_path / "prior.ckpt", st)
    model = proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=8, stacker=st,
                             prior="hist_sypo", prior_checkpoint=str(tmp_path / "prior.ckpt"), **params)
    return st, trained, model


def test_the_trained_prior_is_loaded_frozen_and_a_fresh_model_outputs_zero(tmp_path):
    st, trained, model = build(tmp_path)
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in model.prior.state_dict().items())
    assert not any(p.requires_grad for p in model.prior.parameters())
    info = model.describe()
    assert info["prior_tokens"] == 8
    assert info["parameters"] - info["trainable_parameters"] == sum(p.numel() for p in trained.parameters())
    x = st.stack(random_planes(TINY))
    assert torch.equal(model(x, torch.rand(2), torch.randn(2, 1, 8)), torch.zeros_like(x))


def test_training_starts_the_conditioner_from_the_prior_stages(tmp_path):
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    path = tmp_path / "prior.ckpt"
    save_prior(path, st)
    stage_cond = proav_core.build("conditioner", "class_label", dim=8, classes=["a", "b"])
    torch.nn.init.normal_(next(stage_cond.parameters()))  # a trained table, not the fresh init
    raw = torch.load(path, weights_only=False)
    raw["model"] |= {f"conditioner.{k}": v for k, v in stage_cond.state_dict().items()}  # as prior_loop saves it
    torch.save(raw, path)
    model = proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=8, stacker=st,
                             prior="hist_sypo", prior_checkpoint=str(path))
    fresh = proav_core.build("conditioner", "class_label", dim=8, classes=["a", "b"])
    objective = proav_core.build("objective", "reflected_flow", latent_bound=3.0)
    parts = type("Parts", (), {"generator": model, "stacker": st, "conditioner": fresh, "objective": objective})
    flow_model(parts, None)
    labels = torch.tensor([0, 1])
    assert torch.equal(fresh.from_labels(labels), stage_cond.from_labels(labels))
    assert all(p.requires_grad for p in fresh.parameters())  # it keeps training
    other = proav_core.build("conditioner", "class_label", dim=8, classes=["a", "b", "c"])
    parts.conditioner = other
    with pytest.raises(ConfigError, match=r"model.conditioner: the conditioner saved with the prior in .*prior.ckpt"):
        flow_model(parts, None)
    without = proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=8, stacker=st)
    parts.generator, parts.conditioner = without, proav_core.build("conditioner", "class_label", dim=8,
                                                                   classes=["a", "b"])
    before = {k: v.clone() for k, v in parts.conditioner.state_dict().items()}
    flow_model(parts, None)  # no prior: the conditioner is left as built
    assert all(torch.equal(v, parts.conditioner.state_dict()[k]) for k, v in before.items())


def test_gradients_reach_exactly_the_trainable_parameters(tmp_path):
    st, _, model = build(tmp_path)
    randomise_zero_inits(model)
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 2, 8)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        if name.startswith("prior."):
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert any(n.startswith("layers.0.video.attn_p.") for n, _ in model.named_parameters())


def test_training_samples_the_prior_and_eval_reads_its_mean(tmp_path):
    st, _, model = build(tmp_path)
    randomise_zero_inits(model)
    x, t, c = st.stack(random_planes(TINY)), torch.rand(2), torch.randn(2, 1, 8)
    with torch.no_grad():
        model.train()
        assert not torch.allclose(model(x, t, c), model(x, t, c))  # a new draw each call
        model.eval()
        assert torch.equal(model(x, t, c), model(x, t, c))
        (tmp_path / "other").mkdir()
        _, _, other = build(tmp_path / "other")  # another prior file, overwritten by the state dict
        other.load_state_dict(model.state_dict())
        other.eval()
        assert torch.equal(other(x, t, c), model(x, t, c))  # checkpoint round trip


def test_bad_prior_checkpoints_are_named(tmp_path):
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)

    def build_with(path):
        return proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=8, stacker=st,
                                prior="hist_sypo", prior_checkpoint=path)

    with pytest.raises(ConfigError, match=r"model.generator.prior_checkpoint is not set.*proav train prior"):
        build_with(None)
    with pytest.raises(MissingWeightsError, match=f"prior checkpoint {tmp_path / 'none.ckpt'} not found"):
        build_with(str(tmp_path / "none.ckpt"))
    torch.save({"latents": {}, "model": {}}, tmp_path / "generator.ckpt")
    with pytest.raises(ConfigError, match="prior_checkpoint: .* is a generator checkpoint, not the prior checkpoint"):
        build_with(str(tmp_path / "generator.ckpt"))
    save_prior(tmp_path / "wide.ckpt", st, cond_dim=16)
    with pytest.raises(ConfigError, match="trained for condition width 16.*this generator has 8"):
        build_with(str(tmp_path / "wide.ckpt"))


def test_shipped_prior_config_builds_near_the_tiny_stdit(tmp_path):
    cfg = proav_core.load_config(Path(__file__).resolve().parents[2] / "configs" / "peers" / "javisdit_prior_tiny.toml")
    demo_planes = {f"{m}_{a}": (4, 8, 8) for m in ("video", "audio") for a in ("hw", "tw", "th")}
    st = proav_core.build_component(cfg.model.stacker, plane_shapes=demo_planes)
    cond_dim = cfg.model.conditioner.params.dim
    prior = proav_core.build_component(cfg.model.prior, cond_dim=cond_dim, stacker=st)
    stage = {"name": "hist_sypo", "params": cfg.model.prior.params.model_dump(), "cond_dim": cond_dim,
             "latent_shape": list(st.latent_shape)}
    torch.save({"prior_stage": stage, "model": {f"prior.{k}": v for k, v in prior.state_dict().items()}},
               tmp_path / "prior.ckpt")
    params = {**cfg.model.generator.params.model_dump(), "prior_checkpoint": str(tmp_path / "prior.ckpt")}
    model = proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=cond_dim, stacker=st,
                             **params)
    info = model.describe()
    assert 214_000 <= info["trainable_parameters"] <= 262_000  # the tiny STDiT: 238,032
    assert info["parameters"] - info["trainable_parameters"] == sum(p.numel() for p in prior.parameters())
    off_cfg = proav_core.load_config(Path(__file__).resolve().parents[2] / "configs" / "peers" /
                                     "javisdit_prior_off_tiny.toml")
    off = proav_core.build("generator", "javisdit", latent_shape=st.latent_shape, cond_dim=cond_dim, stacker=st,
                           **off_cfg.model.generator.params.model_dump())
    assert 214_000 <= sum(p.numel() for p in off.parameters()) <= 262_000
    with_prior = {k: v.shape for k, v in model.state_dict().items()}
    differ = [k for k, v in off.state_dict().items() if with_prior[k] != v.shape]
    # the same generator less the prior: only the modulation rows of the prior cross-attention differ
    assert differ and all(k.startswith("adaln.") or k.endswith(".table") for k in differ), differ
