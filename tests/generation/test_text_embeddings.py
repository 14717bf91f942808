"""text_embeddings conditioner: a file of prompt embeddings -> condition tokens, errors naming the file."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.errors import ConfigError, MissingWeightsError, UsageError
from proav_core.interfaces import Conditioner
from proav_core.testing import check_component
from proav_core.training.checkpoint import state_mismatch

from .helpers import TINY, random_planes

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CLASSES = ["dog", "drum"]
PROMPTS = ["a video of dog", "a video of drum", "a dog barks at a drum"]


def embeddings_file(tmp_path, prompts=PROMPTS, tokens=3, width=5, mask=True, **extra):
    torch.manual_seed(0)
    data = {"prompts": list(prompts), "embeddings": torch.randn(len(prompts), tokens, width), **extra}
    if mask:
        data["mask"] = torch.arange(tokens)[None].expand(len(prompts), -1) < torch.tensor([3, 2, 1])[:len(prompts), None]
    path = tmp_path / "prompt_embeddings.pt"
    torch.save(data, path)
    return path


def conditioner(path, classes=CLASSES, **params):
    return proav_core.build("conditioner", "text_embeddings", classes=classes, embeddings_path=str(path), **params)


def test_the_generation_contract_holds_with_a_file(tmp_path):
    check_component("conditioner", "text_embeddings", embeddings_path=str(embeddings_file(tmp_path)), dim=8)


def test_labels_read_their_class_prompt_and_prompts_read_their_row(tmp_path):
    cond = conditioner(embeddings_file(tmp_path), dim=8)
    assert isinstance(cond, Conditioner) and cond.dim == 8 and cond.tokens == 3 and cond.classes == CLASSES
    by_label = cond.from_labels(torch.tensor([1, 0, 1]))
    assert by_label.shape == (3, 3, 8)
    same = cond.from_prompts(["a video of drum", "  A Video of DOG ", "drum"])  # case, spacing, bare class
    assert torch.allclose(same, by_label)
    free = cond.from_prompts(["a dog barks at a drum"])  # any prompt of the file, not only class prompts
    file = torch.load(cond.path, weights_only=True)
    expected = cond.proj(file["embeddings"][2] * file["mask"][2, :, None])  # (L, dim)
    assert torch.allclose(free[0], expected)
    empty = cond.from_prompts(["", "dog"])
    assert torch.equal(empty[0], cond.null(1)[0]) and not torch.equal(empty[0], empty[1])


def test_padding_tokens_become_the_projections_bias(tmp_path):
    cond = conditioner(embeddings_file(tmp_path), dim=4)
    tokens = cond.from_prompts(PROMPTS)  # real tokens per prompt: 3, 2, 1
    bias = cond.proj.bias.detach()
    assert torch.allclose(tokens[1, 2], bias) and torch.allclose(tokens[2, 1:], bias.expand(2, -1))
    assert not torch.allclose(tokens[0, 2], bias)


def test_only_the_projection_and_the_null_learn(tmp_path):
    cond = conditioner(embeddings_file(tmp_path), dim=4)
    assert {n for n, _ in cond.named_parameters()} == {"proj.weight", "proj.bias", "null_tokens"}
    assert "embeddings" not in cond.state_dict()  # frozen, read from the file again when sampling
    (cond.from_labels(torch.tensor([0, 1])).square().sum() + cond.null(2).sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cond.parameters())


def test_template_and_max_tokens(tmp_path):
    path = embeddings_file(tmp_path, prompts=["dog sound", "drum sound"], mask=False)
    cond = conditioner(path, dim=4, template="{cls} sound", max_tokens=2)
    assert cond.tokens == 2 and cond.from_labels(torch.tensor([0])).shape == (1, 2, 4)
    assert torch.equal(cond.from_prompts(["dog"]), cond.from_prompts(["Dog Sound"]))
    assert torch.allclose(cond.from_prompts(["a video of drum"]), cond.from_labels(torch.tensor([1])))  # proav's class prompt
    with pytest.raises(proav_core.ParameterError, match="template must hold '\\{cls\\}'"):
        conditioner(path, template="a video")


def test_a_two_dimensional_file_is_one_token_per_prompt(tmp_path):
    path = tmp_path / "pooled.pt"
    torch.save({"prompts": PROMPTS, "embeddings": torch.randn(3, 6), "encoder": "clip-pooled"}, path)
    assert conditioner(path, dim=4).from_prompts(["a dog barks at a drum"]).shape == (1, 1, 4)


def test_missing_unreadable_and_misshapen_files_name_the_file(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"model.conditioner.embeddings_path: .*nowhere.pt does not exist"):
        conditioner(tmp_path / "nowhere.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(MissingWeightsError, match=r"cannot read .*junk.pt") as err:
        conditioner(junk)
    assert "weights_only=False" not in str(err.value)
    wrong = tmp_path / "wrong.pt"
    torch.save({"texts": PROMPTS}, wrong)
    with pytest.raises(ConfigError, match=r"wrong.pt: holds \['texts'\], without the keys 'prompts' and 'embeddings'"):
        conditioner(wrong)
    torch.save({"prompts": PROMPTS, "embeddings": torch.randn(2, 3, 5)}, wrong)
    with pytest.raises(ConfigError, match="3 prompts but 2 embeddings"):
        conditioner(wrong)
    torch.save({"prompts": PROMPTS, "embeddings": torch.randn(3, 3, 5), "mask": torch.ones(3, 4)}, wrong)
    with pytest.raises(ConfigError, match=r"'mask' is not a tensor of shape \(N, L\) = \(3, 3\)"):
        conditioner(wrong)
    torch.save({"prompts": ["a video of dog", "A  video of Dog"], "embeddings": torch.randn(2, 5)}, wrong)
    with pytest.raises(ConfigError, match="are the same once case and spacing are ignored"):
        conditioner(wrong)


def test_a_class_without_its_prompt_and_an_unknown_prompt_are_named(tmp_path):
    path = embeddings_file(tmp_path, encoder="t5-small")
    with pytest.raises(ConfigError, match=r"\(t5-small\) has no embeddings for the prompts of 1 of the dataset's 3 "
                                          r"classes: 'a video of bell'; add them"):
        conditioner(path, classes=["dog", "drum", "bell"])
    cond = conditioner(path, dim=4)
    with pytest.raises(UsageError, match=r"prompt 'a video of drums' has no embedding in .*prompt_embeddings.pt; "
                                         r"closest: 'a video of drum'.*Encode new prompts with t5-small"):
        cond.from_prompts(["a video of drums"])
    unlabelled = conditioner(path, classes=[], dim=4)
    assert unlabelled.from_prompts(["a video of dog"]).shape == (1, 3, 4)
    with pytest.raises(UsageError, match="no classes to read labels as"):
        unlabelled.from_labels(torch.tensor([0]))


def saved_and_read(module, path):
    torch.save(module.state_dict(), path)
    return torch.load(path, weights_only=True)  # as checkpoints are read


def test_weights_load_only_beside_the_embeddings_they_were_trained_on(tmp_path):
    trained = conditioner(embeddings_file(tmp_path, encoder="t5-small"), dim=4)
    state = saved_and_read(trained, tmp_path / "weights.pt")
    assert state["_extra_state"]["encoder"] == "t5-small" and len(state["_extra_state"]["digests"]) == 3

    (other := tmp_path / "grown").mkdir()  # the same embeddings, a prompt added since: loads
    grown = embeddings_file(other, prompts=[*PROMPTS, "a drum alone"], mask=False, encoder="t5-small")
    data = torch.load(grown, weights_only=True)
    data["embeddings"][:3] = torch.load(trained.path, weights_only=True)["embeddings"]
    data["mask"] = torch.ones(4, 3, dtype=torch.bool)
    data["mask"][:3] = torch.load(trained.path, weights_only=True)["mask"]
    torch.save(data, grown)
    loaded = conditioner(grown, dim=4)
    loaded.load_state_dict(state)
    assert torch.equal(loaded.from_labels(torch.tensor([0, 1])), trained.from_labels(torch.tensor([0, 1])))

    data["embeddings"][1] += 0.5  # another encoder's view of 'a video of drum'
    data["encoder"] = "clip-l"
    torch.save(data, grown)
    with pytest.raises(ConfigError, match=r"grown/prompt_embeddings.pt \(clip-l\) is not the file these conditioner "
                                          r"weights were trained with \(t5-small\): its embeddings of 1 of the 3 "
                                          r"prompts both hold differ \('a video of drum'\)\. Point "
                                          r"model.conditioner.embeddings_path at the training run's file"):
        conditioner(grown, dim=4).load_state_dict(state)


def test_weights_saved_before_the_fingerprint_still_load(tmp_path):
    trained = conditioner(embeddings_file(tmp_path), dim=4)
    state = {k: v for k, v in trained.state_dict().items() if k != "_extra_state"}
    fresh = conditioner(trained.path, dim=4)
    assert state_mismatch(fresh.state_dict(), state) == ""  # what the loaders check first
    fresh.load_state_dict(state)
    assert torch.equal(fresh.proj.weight, trained.proj.weight)


def test_a_generator_trains_and_samples_on_it(tmp_path):
    from proav_core.training.generator_loop import FlowModel

    cfg = proav_core.config_from_dict({
        "name": "text-wiring",
        "model": {"stacker": "stack6",
                  "conditioner": {"name": "text_embeddings", "dim": 16, "embeddings_path": str(embeddings_file(tmp_path))},
                  "generator": {"name": "stdit", "preset": "tiny", "depth": 1, "hidden": 32}},
        "objective": {"name": "reflected_flow", "cond_dropout": 0.2},
        "sampler": {"name": "reflected_flow", "steps": 2},
    })
    parts = proav_core.build_generation(cfg, TINY, 2.0, CLASSES)
    flow = FlowModel(parts.generator, parts.conditioner, parts.objective, parts.stacker.loss_mask())
    x = parts.stacker.stack(random_planes(TINY, batch=2))
    loss = parts.objective.loss(parts.generator, x, parts.conditioner.from_labels(torch.tensor([0, 1])),
                                parts.conditioner.null(2), mask=flow.loss_mask)
    loss.backward()
    assert parts.conditioner.proj.weight.grad is not None
    with torch.no_grad():
        out = parts.sampler(parts.generator, torch.randn(2, *parts.stacker.latent_shape),
                            cond=parts.conditioner.from_prompts(["a dog barks at a drum", "drum"]),
                            null_cond=parts.conditioner.null(2), cfg_scale=2.0)
    assert out.shape == (2, *parts.stacker.latent_shape) and torch.isfinite(out).all()


def test_config_check_builds_it_with_the_datasets_class_names(tmp_path, capsys, monkeypatch):
    """`proav config check` builds with placeholder class names first (no data read); where that
    fails it builds again with the dataset's real classes (syncshapes' 'circle-drum-0', ...), so a
    file holding their prompts passes and one without fails naming them; where the dataset cannot
    say its classes, the placeholders are named beside the error."""
    from proav_core.cli import main

    build_module = importlib.import_module("proav_core.build")  # (proav_core.build is also the function)

    classes = ["circle-drum-0", "square-wood-1", "triangle-bell-2", "diamond-pluck-3"]
    good = embeddings_file(tmp_path, prompts=[f"a video of {c}" for c in classes] + ["x"], mask=False)
    demo = str(CONFIGS / "demo.toml")
    args = ["--set", "model.conditioner.name=text_embeddings", "--set", "model.conditioner.dim=32"]
    assert main(["config", "check", demo, *args, "--set", f"model.conditioner.embeddings_path={good}"]) == 0
    assert "is valid" in capsys.readouterr().out
    (other := tmp_path / "short").mkdir()
    short = embeddings_file(other, prompts=[f"a video of {c}" for c in classes[:3]], mask=False)
    assert main(["config", "check", demo, *args, "--set", f"model.conditioner.embeddings_path={short}"]) == 2
    assert "'a video of diamond-pluck-3'; add them" in capsys.readouterr().err
    assert main(["config", "check", demo, *args, "--set", f"model.conditioner.embeddings_path={good}",
                 "--set", "dataset.num_classes=5"]) == 2  # syncshapes' fifth class, 'ring-drum-4', is not in it
    assert "'a video of ring-drum-4'" in capsys.readouterr().err

    monkeypatch.setattr(build_module, "dataset_classes", lambda cfg: ([], ConfigError("x")))
    assert main(["config", "check", demo, *args, "--set", f"model.conditioner.embeddings_path={good}"]) == 2
    assert ("'a video of class0', 'a video of class1', 'a video of class2', 'a video of class3'; add them" in
            (err := capsys.readouterr().err)) and "(checked with 4 placeholder class names: the dataset's classes" in err


def test_config_check_reads_no_data_when_placeholders_build(monkeypatch, capsys):
    from proav_core.cli import main

    build_module = importlib.import_module("proav_core.build")  # (proav_core.build is also the function)

    def no_data(cfg):
        raise AssertionError("the dataset was built")

    monkeypatch.setattr(build_module, "dataset_classes", no_data)
    assert main(["config", "check", str(CONFIGS / "demo.toml")]) == 0
    assert "is valid" in capsys.readouterr().out
