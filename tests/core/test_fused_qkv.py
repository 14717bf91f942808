"""Fused qkv self-attention (proav_core.layers.Attention): state dicts of the earlier layout
(separate `to_q` and `to_kv`) load with strict=True and give the same outputs."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.layers import Attention
from proav_core.training.checkpoint import load_weights

FIXTURE = Path(__file__).parent / "fixtures" / "pre_fused_qkv.pt"  # written by make_pre_fused_qkv.py at 20ab669
OLD = torch.load(FIXTURE)


def split_to_old_layout(state: dict[str, torch.Tensor], dim: int) -> dict[str, torch.Tensor]:
    """Today's state dict -> the earlier layout: every to_qkv becomes to_q (rows :D) and to_kv."""
    out = {}
    for key, value in state.items():
        if ".to_qkv." in f".{key}":
            head, name = key.rsplit("to_qkv.", 1)
            out[f"{head}to_q.{name}"], out[f"{head}to_kv.{name}"] = value[:dim], value[dim:]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_old_layout_state_dict_loads_strictly_with_the_same_outputs(qkv_bias):
    torch.manual_seed(0)
    fused = Attention(16, heads=4, qkv_bias=qkv_bias)
    old = split_to_old_layout(fused.state_dict(), 16)
    assert {k.split(".")[0] for k in old} == {"to_q", "to_kv", "proj"}
    fresh = Attention(16, heads=4, qkv_bias=qkv_bias)
    fresh.load_state_dict(old, strict=True)
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    assert torch.equal(fresh(x), fused(x)) and torch.equal(fresh(x, ctx), fused(x, ctx))
    copied = copy.deepcopy(Attention(16, heads=4, qkv_bias=qkv_bias))  # EMA shadows are deep copies
    copied.load_state_dict(split_to_old_layout(fused.state_dict(), 16), strict=True)
    assert torch.equal(copied(x), fused(x))


def test_a_wrong_old_state_dict_is_still_refused():
    old = split_to_old_layout(Attention(16, heads=4).state_dict(), 16)
    del old["to_kv.bias"]
    with pytest.raises(RuntimeError, match="to_q.bias|to_qkv.bias"):
        Attention(16, heads=4).load_state_dict(old, strict=True)


def test_fusing_keeps_the_parameter_count():
    assert sum(p.numel() for p in Attention(24, heads=4).parameters()) == 24 * 24 + 24 * 48 + 24 * 24 + 4 * 24


def test_old_stdit_checkpoint_file_loads_and_predicts_the_same(tmp_path):
    old = OLD["stdit"]
    model = proav_core.build("generator", "stdit", preset="tiny", depth=1, hidden=8, heads=2,
                             latent_shape=(4, 6, 8, 4), cond_dim=16).eval()
    assert any(".to_qkv." in k for k in model.state_dict()) and any(".to_q." in k for k in old["state_dict"])
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in old["state_dict"].values())
    path = tmp_path / "old.ckpt"
    torch.save({"model": old["state_dict"]}, path)
    load_weights(model, path, {}, "model.")  # proav's inference loader, strict
    with torch.no_grad():
        for tokens, cond in old["cond"].items():  # one condition token (broadcast path) and three
            torch.testing.assert_close(model(old["x"], old["t"], cond), old["out"][tokens], atol=1e-6, rtol=0)


def test_old_mdsa_state_dict_loads_and_reconstructs_the_same():
    spec = importlib.util.spec_from_file_location("make_pre_fused_qkv", FIXTURE.parent / "make_pre_fused_qkv.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)  # the sizes the file was written with
    old = OLD["mdsa"]
    model = proav_core.build("autoencoder", "mdsa", clip=maker.CLIP, **maker.MDSA).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in old["state_dict"].values())
    model.load_state_dict(old["state_dict"], strict=True)
    with torch.no_grad():
        streams = model(old["video"], old["audio"]).streams
    for m, want in old["out"].items():
        torch.testing.assert_close(streams[m], want, atol=1e-6, rtol=0)


def test_resuming_training_from_a_pre_fused_checkpoint_says_why_it_cannot(tmp_path):
    from lightning_fabric import Fabric

    from proav_core.errors import CheckpointError
    from proav_core.training.checkpoint import load_checkpoint

    fused = Attention(16, heads=4)
    old_params = [torch.zeros(s, requires_grad=True) for s in ((16, 16), (16,), (32, 16), (32,), (16, 16), (16,))]
    old_optim = torch.optim.AdamW(old_params)
    sum(p.sum() for p in old_params).backward()
    old_optim.step()  # Adam state for six tensors; the fused module has four
    path = tmp_path / "old.ckpt"
    torch.save({"model": split_to_old_layout(fused.state_dict(), 16), "optimizer": old_optim.state_dict(),
                "step": 3}, path)
    model = Attention(16, heads=4)
    state = {"model": model, "optimizer": torch.optim.AdamW(model.parameters()), "step": 0}
    with pytest.raises(CheckpointError, match="before self-attention fused its q, k, v projections.*cannot resume"):
        load_checkpoint(Fabric(accelerator="cpu", devices=1), path, state, {})
