"""class_label and none conditioners: tokens, prompts, null condition, errors."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.errors import ConfigError, UsageError
from proav_core.interfaces import Conditioner

CLASSES = ["circle", "square", "hip_hop", "ballet jazz"]


def label_conditioner(**params):
    return proav_core.build("conditioner", "class_label", classes=CLASSES, **params)


def test_labels_prompts_and_null_shapes():
    cond = label_conditioner(dim=16, tokens=3)
    assert isinstance(cond, Conditioner) and cond.dim == 16 and cond.classes == CLASSES
    by_label = cond.from_labels(torch.tensor([1, 0]))
    assert by_label.shape == (2, 3, 16)
    by_prompt = cond.from_prompts(["a video of square", "circle"])
    assert torch.equal(by_prompt, by_label)
    assert cond.null(5).shape == (5, 3, 16)
    assert not torch.equal(cond.null(1)[0], by_label[0])


def test_prompt_matching_ignores_case_underscores_and_spacing():
    cond = label_conditioner(dim=8)
    same = cond.from_prompts(["A video of Hip Hop", "hip-hop", "a video of  ballet_jazz", "Ballet Jazz"])
    assert torch.equal(same[0], same[1]) and torch.equal(same[2], same[3])
    assert torch.equal(same[0], cond.from_labels(torch.tensor([2]))[0])


def test_class_prompt_is_read_as_its_class_and_prompt_class_inverts_it():
    from proav_core.generated import class_prompt, prompt_class

    cond = label_conditioner(dim=8)
    prompts = [class_prompt(c) for c in CLASSES]
    assert torch.equal(cond.from_prompts(prompts), cond.from_labels(torch.arange(len(CLASSES))))
    assert [prompt_class(p) for p in prompts] == CLASSES and prompt_class("circle") == "circle"


def test_empty_prompt_is_the_null_condition():
    cond = label_conditioner(dim=8)
    assert torch.equal(cond.from_prompts([""])[0], cond.null(1)[0])


def test_unknown_class_lists_known_ones():
    cond = label_conditioner(dim=8)
    with pytest.raises(UsageError) as info:
        cond.from_prompts(["a video of squre"])
    msg = str(info.value)
    assert "unknown class 'squre'" in msg and "closest: 'square'" in msg
    assert "known classes: circle, square, hip_hop, ballet jazz" in msg


def test_bad_labels_and_colliding_names():
    cond = label_conditioner(dim=8)
    with pytest.raises(UsageError, match=r"must lie in \[0, 4\)"):
        cond.from_labels(torch.tensor([4]))
    with pytest.raises(ConfigError, match="same prompt"):
        proav_core.build("conditioner", "class_label", classes=["Hip_Hop", "hip hop"])
    with pytest.raises(UsageError, match="use conditioner 'none'"):
        proav_core.build("conditioner", "class_label").from_labels(torch.tensor([0]))


def test_null_and_tokens_are_learned():
    cond = label_conditioner(dim=8)
    loss = cond.from_labels(torch.tensor([0, 3])).sum() + cond.null(2).sum()
    loss.backward()
    assert cond.table.grad[[0, 3]].abs().sum() > 0 and cond.table.grad[[1, 2]].abs().sum() == 0
    assert cond.null_tokens.grad.abs().sum() > 0


def test_none_gives_fixed_null_for_everything():
    cond = proav_core.build("conditioner", "none", dim=6, tokens=2)
    assert isinstance(cond, Conditioner) and cond.classes == [] and cond.dim == 6
    assert not list(cond.parameters())
    a, b = cond.from_labels(torch.tensor([0, 1, 2])), cond.from_prompts(["a video of anything", ""])
    assert a.shape == (3, 2, 6) and b.shape == (2, 2, 6)
    assert torch.equal(a[:2], b) and torch.equal(b, cond.null(2))
