"""av_dit: shapes, the identity start of its inserted parts, which parameters train in each
step of the recipe, the video-only loss of the backbone step, backbone loading, FLOPs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import proav_core
from proav_core.cli import main
from proav_core.errors import ConfigError, MissingWeightsError
from proav_core.interfaces import Generator
from proav_core.training.generator_loop import FlowModel, flow_model
from proav_plugins.peers.av_dit.model import INSERTED
from proav_plugins.peers.av_dit.parts import ADAPTER_KINDS

from .helpers import PAPER, TINY, VIDEO_ONLY, random_planes, randomise_zero_inits

KINDS = list(ADAPTER_KINDS)


def build(shapes=TINY, **params):
    st = proav_core.build("stacker", "tokens", plane_shapes=shapes)
    params.setdefault("preset", "tiny")
    return st, proav_core.build("generator", "av_dit", latent_shape=st.latent_shape, cond_dim=8, stacker=st, **params)


def inputs(st, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    t, cond = torch.rand(batch, generator=g), torch.randn(batch, 2, 8, generator=g)
    return st.stack(random_planes(TINY, batch, seed)), t, cond


def inserted(name: str) -> bool:
    return name.split(".")[0] in INSERTED


def conditioner():
    return proav_core.build("conditioner", "class_label", dim=8, classes=["a", "b"])


def trained_backbone(tmp_path, **params):
    """A backbone-step model with non-trivial backbone weights (its inserted parts at their
    identity start, as the backbone step leaves them), saved with a conditioner as a proav
    generator checkpoint."""
    st, model = build(train="backbone", **params)
    randomise_zero_inits(model)
    model.start_inserted_as_identity()
    path = tmp_path / "backbone.ckpt"
    weights = {f"generator.{k}": v for k, v in model.state_dict().items()}
    weights.update({f"conditioner.{k}": v for k, v in conditioner().state_dict().items()})
    torch.save({"model": weights}, path)
    return st, model, path


def parts_of(model, stacker, cond):
    return type("Parts", (), {"generator": model, "stacker": stacker, "conditioner": cond,
                              "objective": proav_core.build("objective", "reflected_flow", latent_bound=3.0)})


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_a_fresh_model_outputs_zero(kind):
    st, model = build(adapter=kind)
    assert isinstance(model, Generator) and st.latent_shape == (4, 2 * (16 + 32 + 32))
    x, t, c = inputs(st)
    out = model(x, t, c)
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(x))
    assert model.num_video_tokens == 20 and model.num_tokens == 40


@pytest.mark.parametrize("kind", KINDS)
def test_step_two_starts_as_the_loaded_backbone(kind, tmp_path):
    """Adapters, temporal attention and fusion start as the identity: loading step 1's weights
    into a train = 'adapters' model gives exactly step 1's function."""
    st, backbone, path = trained_backbone(tmp_path, adapter=kind)
    x, t, c = inputs(st)
    expected = backbone(x, t, c)
    assert expected.abs().mean() > 0.01  # a non-trivial function
    _, step2 = build(adapter=kind, train="adapters", backbone_checkpoint=str(path))
    assert torch.equal(step2(x, t, c), expected)
    _, fresh = build(adapter=kind, train="adapters", backbone_checkpoint=str(path))
    randomise_zero_inits(fresh)  # once the inserted parts have learnt something, the function moves
    assert not torch.allclose(fresh(x, t, c), expected)


def test_step_two_takes_and_freezes_the_conditioner_saved_with_the_backbone(tmp_path):
    st, backbone, path = trained_backbone(tmp_path)
    saved = torch.load(path, weights_only=True)["model"]
    _, model = build(train="adapters", backbone_checkpoint=str(path))
    fresh = conditioner()
    with torch.no_grad():
        fresh.table.add_(1.0)  # another initialisation than the saved one
    flow = flow_model(parts_of(model, st, fresh), None)
    assert torch.equal(flow.conditioner.table, saved["conditioner.table"])
    assert not any(p.requires_grad for p in flow.conditioner.parameters())
    # the whole FlowModel starts as step 1's: the same loss for the same draws
    step1 = FlowModel(backbone, conditioner(), flow.objective, st.loss_mask())
    step1.conditioner.load_state_dict({k.removeprefix("conditioner."): v for k, v in saved.items()
                                       if k.startswith("conditioner.")})
    x1, labels, losses = st.stack(random_planes(TINY)), torch.tensor([0, 1]), []
    for f in (step1, flow):
        torch.manual_seed(3)
        losses.append(f(x1, labels))
    assert torch.equal(losses[0], losses[1])
    other = conditioner()
    other_dim = proav_core.build("conditioner", "class_label", dim=8, classes=["a", "b", "c"])
    with pytest.raises(ConfigError, match="model.conditioner: the conditioner saved in .*backbone.ckpt does not fit"):
        flow_model(parts_of(model, st, other_dim), None)
    _, all_step = build(backbone_checkpoint=str(path))  # train = all: loaded, and it trains
    flow_model(parts_of(all_step, st, other), None)
    assert all(p.requires_grad for p in other.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_adapter_step_trains_exactly_the_inserted_parts(kind, tmp_path):
    st, _, path = trained_backbone(tmp_path, adapter=kind)
    _, model = build(adapter=kind, train="adapters", backbone_checkpoint=str(path))
    # zero-init factors (LoRA's B, up projections, gates) would hold their partners' first
    # gradient at exactly zero; give them values, as after some training
    randomise_zero_inits(model)
    x, t, c = inputs(st)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    names = [n for n, _ in model.named_parameters()]
    assert any(inserted(n) for n in names) and any(not inserted(n) for n in names)
    for name, p in model.named_parameters():
        if inserted(name):
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert not p.requires_grad and p.grad is None, name
    info = model.describe()
    assert info["trainable_parameters"] == info["inserted_parameters"] == sum(
        p.numel() for n, p in model.named_parameters() if inserted(n))
    assert info["parameters"] == sum(p.numel() for p in model.parameters()) > info["trainable_parameters"]


def test_backbone_step_trains_the_backbone_on_the_video_planes_only():
    st, model = build(train="backbone")
    randomise_zero_inits(model)
    model.start_inserted_as_identity()  # the inserted parts stay at their identity start in this step
    x, t, c = inputs(st)
    (model(x, t, c) * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        if inserted(name):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # the loss mask FlowModel gets covers exactly the video planes' positions
    parts = parts_of(model, st, conditioner())
    mask = flow_model(parts, None).loss_mask
    video = st.stack({k: torch.full((1, *s), float(k.startswith("video"))) for k, s in TINY.items()})[0]
    assert torch.equal(mask, video)
    # so the loss ignores the audio planes: changing them leaves it unchanged
    flow = FlowModel(model, parts.conditioner, parts.objective, mask)
    planes = random_planes(TINY)
    other = {k: (torch.randn_like(v) if k.startswith("audio") else v) for k, v in planes.items()}
    labels = torch.tensor([0, 1])
    losses = []
    for p in (planes, other):
        torch.manual_seed(3)
        losses.append(flow(st.stack(p), labels))
    assert torch.equal(losses[0], losses[1])
    _, joint = build()  # train = "all" keeps the stacker's mask
    assert torch.equal(joint.narrow_loss_mask(st.loss_mask()), st.loss_mask())
    # a task that gives the video planes would teach this step nothing: refused, naming the key
    with pytest.raises(ConfigError, match=r"train.generator.tasks: v2a would teach this generator nothing.*joint=1"):
        flow_model(parts, {"joint": 0.2, "a2v": 0.3, "v2a": 0.5})
    assert flow_model(parts, {"joint": 0.5, "a2v": 0.5}).tasks.names == ["joint", "a2v"]
    assert flow_model(parts_of(joint, st, conditioner()), {"joint": 0.2, "a2v": 0.3, "v2a": 0.5}).tasks is not None


def test_all_step_trains_everything_and_state_dict_round_trip():
    st, model = build(adapter="lora")
    randomise_zero_inits(model)
    x, t, c = inputs(st)
    out = model(x, t, c)
    (out * torch.randn_like(x)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    _, copy = build(adapter="lora")
    copy.load_state_dict(model.state_dict())
    assert torch.equal(copy(x, t, c), out)


def test_video_and_audio_streams_share_the_backbone_but_not_attention():
    st, model = build()
    randomise_zero_inits(model)
    with torch.no_grad():
        model.fusion.gate.zero_()  # without fusion, no token of one modality sees the other
    x, t, c = inputs(st)
    planes = st.unstack(x)
    planes["audio_hw"] = torch.randn_like(planes["audio_hw"])
    out, out_other = model(x, t, c), model(st.stack(planes), t, c)
    video = model.video_positions
    assert torch.equal(out[:, :, video], out_other[:, :, video])
    assert not torch.allclose(out[:, :, ~video], out_other[:, :, ~video])
    with torch.no_grad():
        model.fusion.gate.normal_(0, 0.5)  # the fusion block lets audio reach the video tokens
    assert not torch.allclose(model(x, t, c)[:, :, video], model(st.stack(planes), t, c)[:, :, video])


def test_temporal_attention_mixes_along_time_only():
    st, model = build()
    temporal = model.temporal[0]
    randomise_zero_inits(temporal)
    h = torch.randn(1, model.num_video_tokens, model.size.hidden)
    out = temporal(h)
    hw = 4  # video_hw: 4x4 values -> 2x2 patches; passes through
    assert torch.equal(out[:, :hw], h[:, :hw])
    changed = h.clone()  # video_tw: 8x4 values -> 4 time rows x 2 columns of patches
    changed[:, hw + 1] += 1.0  # row 0, column 1 of tw
    moved = (temporal(changed) - out)[0].abs().sum(-1)  # (Nv,)
    tw = moved[hw : hw + 8].reshape(4, 2)
    assert (tw[:, 1] > 0).all() and torch.equal(tw[:, 0], torch.zeros(4))  # its column, every time step
    assert not moved[:hw].any() and not moved[hw + 8 :].any()  # neither hw nor th


@pytest.mark.parametrize("kind", KINDS)
def test_describe_flops_match_torch_flop_counter(kind):
    st, model = build(adapter=kind, adapter_ratio=0.5)
    x = st.stack(random_planes(TINY, batch=1))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.rand(1), torch.randn(1, 1, 8))
    info = model.describe()
    assert counter.get_total_flops() == info["flops_per_sample"]
    assert info["tokens_per_sample"] == 40 and info["adapter"] == kind


def test_adapter_ratio_sets_the_bottleneck_and_rank():
    _, small = build(adapter="serial", adapter_ratio=0.125)
    assert small.audio_adapters[0].bottleneck.mlp.fc1.out_features == 8  # 0.125 x 64
    _, lora = build(adapter="lora", adapter_ratio=0.125)
    assert lora.audio_adapters[0].updates["attn__to_qkv"].a.shape == (8, 64)  # rank 0.125 x min(192, 64)


def test_a_token_dit_checkpoint_loads_as_the_backbone(tmp_path):
    st = proav_core.build("stacker", "tokens", plane_shapes=TINY)
    token = proav_core.build("generator", "token_dit", preset="tiny", latent_shape=st.latent_shape, cond_dim=8,
                             stacker=st)
    randomise_zero_inits(token)
    torch.save(token.state_dict(), tmp_path / "bare.pt")  # a bare state dict
    _, model = build(train="adapters", backbone_checkpoint=str(tmp_path / "bare.pt"))
    assert all(torch.equal(v, token.state_dict()[k]) for k, v in model.backbone_state().items())


def test_paper_planes_on_meta():
    st = proav_core.build("stacker", "tokens", plane_shapes=PAPER)
    with torch.device("meta"):
        model = proav_core.build("generator", "av_dit", preset="opensora_xl", latent_shape=st.latent_shape,
                                 cond_dim=256, stacker=st)
        out = model(torch.empty(2, *st.latent_shape), torch.rand(2), torch.empty(2, 1, 256))
    assert out.shape == (2, 4, 2 * (1024 + 512 + 512))
    assert model.describe()["tokens_per_sample"] == 2 * (256 + 128 + 128)


def test_errors_name_the_key_and_the_fix(tmp_path):
    stack6 = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    with pytest.raises(ConfigError, match="needs the 'tokens' stacker.*model.stacker = \"tokens\""):
        proav_core.build("generator", "av_dit", latent_shape=stack6.latent_shape, cond_dim=8, stacker=stack6)
    with pytest.raises(ConfigError, match="needs video and audio planes"):
        build(VIDEO_ONLY)
    with pytest.raises(ConfigError,
                       match="train = 'adapters' freezes the backbone.*model.generator.backbone_checkpoint"):
        build(train="adapters")
    missing = tmp_path / "nowhere.ckpt"
    with pytest.raises(MissingWeightsError, match=f"model.generator.backbone_checkpoint: {missing} does not exist"):
        build(train="adapters", backbone_checkpoint=str(missing))
    (tmp_path / "junk.ckpt").write_bytes(bytes(range(256)) * 4)  # random-looking bytes
    with pytest.raises(ConfigError, match="backbone_checkpoint: cannot read checkpoint .*junk.ckpt: the file is "
                                          "corrupt or not a proav checkpoint") as err:
        build(train="adapters", backbone_checkpoint=str(tmp_path / "junk.ckpt"))
    assert "weights_only" not in str(err.value)  # never torch's advice to unpickle untrusted code
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty.ckpt: empty file \(0 bytes\)"):
        build(train="adapters", backbone_checkpoint=str(tmp_path / "empty.ckpt"))
    torch.save({"model": {}, "discriminators": {}, "step": 1}, tmp_path / "autoencoder.ckpt")  # as the AE loop saves
    with pytest.raises(ConfigError, match=r"autoencoder.ckpt is an autoencoder checkpoint; "
                                          r"model.generator.backbone_checkpoint needs a generator checkpoint"):
        build(train="adapters", backbone_checkpoint=str(tmp_path / "autoencoder.ckpt"))
    _, wide = build(hidden=96, heads=4)
    torch.save(wide.state_dict(), tmp_path / "wide.pt")
    with pytest.raises(ConfigError, match=r"tensors of .*wide.pt do not fit this av_dit backbone.*"
                                          r"patch_embed.weight \(checkpoint \(96, 16\), config \(64, 16\)\)"):
        build(train="adapters", backbone_checkpoint=str(tmp_path / "wide.pt"))
    with pytest.raises(Exception, match="serial.*parallel.*lora"):
        build(adapter="prompt")


def test_shipped_configs_check_and_build(capsys):
    """configs/peers/av_dit_{tiny,paper}.toml pass `proav config check`; the tiny one is within
    10% of the tiny STDiT's parameters on the demo's latent; the paper one builds (meta)."""
    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("av_dit_tiny", "av_dit_paper"):
        assert main(["config", "check", str(root / "peers" / f"{name}.toml")]) == 0
        assert f"ok: {root / 'peers' / name}.toml is valid" in capsys.readouterr().out.replace("\n", "")
    demo_planes = {name: (4, 8, 8) for name in TINY}
    classes = ["a", "b", "c", "d"]

    def generator_parameters(path, planes):
        parts = proav_core.build_generation(proav_core.load_config(path), planes, 3.0, classes)
        return sum(p.numel() for p in parts.generator.parameters()), parts

    stdit, _ = generator_parameters(root / "demo.toml", demo_planes)
    tiny, parts = generator_parameters(root / "peers" / "av_dit_tiny.toml", demo_planes)
    assert parts.stacker.latent_shape == (4, 384) and parts.generator.cond_dim == 32
    assert stdit == 238_032 and tiny == 236_016 and abs(tiny - stdit) <= 0.1 * stdit
    with torch.device("meta"):
        _, parts = generator_parameters(root / "peers" / "av_dit_paper.toml", PAPER)
    assert (parts.generator.size.depth, parts.generator.size.hidden, parts.generator.p) == (28, 1152, 2)
    assert parts.generator.describe(cond_tokens=1)["tokens_per_sample"] == 1024


@pytest.mark.parametrize(("train", "factor"), [("all", 0.8), ("adapters", 0.9)])
def test_it_learns_with_everything_or_with_the_inserted_parts_alone(train, factor, tmp_path):
    """30 AdamW steps on one batch lower the flow loss (same draws before and after), also
    when only the inserted parts train on a frozen backbone (more slowly: this backbone is
    random, its final projection frozen; measured 0.83 of the loss before at lr 1e-2)."""
    st, _, path = trained_backbone(tmp_path)
    _, model = build(train=train, backbone_checkpoint=str(path), adapter="lora")
    flow = flow_model(parts_of(model, st, conditioner()), None)
    optimizer = torch.optim.AdamW([p for p in flow.parameters() if p.requires_grad], lr=1e-2)
    x1, labels = st.stack(random_planes(TINY, batch=4)), torch.tensor([0, 1, 0, 1])

    def held_out_loss():
        torch.manual_seed(5)
        with torch.no_grad():
            return float(flow(x1.repeat(8, 1, 1), labels.repeat(8)))

    before = held_out_loss()
    for _ in range(30):
        loss = flow(x1, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert held_out_loss() < factor * before
