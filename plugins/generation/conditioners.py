"""Conditioners: class labels or prompts -> condition tokens (B, L, dim) for cross-attention.

`class_label` (the paper's label conditioning, "a video of <class>"): one learned table of
L tokens per class plus a learned null condition, the "no condition" of classifier-free
guidance (objectives swap it in with their condition-dropout probability).
`none` (the paper's "w/o text" rows): every request gives the same fixed all-zero tokens,
so conditional and null predictions coincide and guidance has no effect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from pydantic import Field
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError, UsageError, did_you_mean

PROMPT_PREFIX = re.compile(r"^a video of\s+", re.IGNORECASE)


def normalise(name: str) -> str:
    """Case-, underscore- and spacing-insensitive form of a class name."""
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def check_labels(labels: Tensor, classes: Sequence[str], conditioner: str) -> None:
    """Refuse labels a conditioner of `classes` cannot read: none at all, or out of range."""
    if not classes:
        raise UsageError(f"{conditioner} conditioner has no classes to read labels as (the dataset has no "
                         "labels); sample with prompts, or use conditioner 'none' for unconditional training")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise UsageError(f"class labels must lie in [0, {len(classes)}), got {labels.tolist()}")


class ClassLabelParams(ComponentParams):
    dim: int = Field(256, ge=1, description="width of each condition token (the generator's cond_dim)")
    tokens: int = Field(1, ge=1, description="condition tokens per class (L)")


class ClassLabelConditioner(nn.Module):
    """Learned tokens per class; prompts "a video of <class>" or "<class>" map to classes.

    from_labels: (B,) int64 -> (B, L, dim); from_prompts: B strings -> (B, L, dim), an empty
    prompt meaning the null condition; null(B) -> (B, L, dim), learned.
    """

    def __init__(self, dim: int, tokens: int, classes: Sequence[str] = ()):
        super().__init__()
        self.dim, self.tokens, self.classes = dim, tokens, list(classes)
        self._index: dict[str, int] = {}
        for i, name in enumerate(self.classes):
            key = normalise(name)
            if key in self._index:
                raise ConfigError(
                    f"class names '{self.classes[self._index[key]]}' and '{name}' are the same prompt "
                    "once case, '_' and '-' are ignored; rename one of the dataset's class folders",
                    path="model.conditioner",
                )
            self._index[key] = i
        self.table = nn.Parameter(torch.randn(max(len(self.classes), 1), tokens, dim) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(tokens, dim) * 0.02)

    def from_labels(self, labels: Tensor) -> Tensor:
        """(B,) int64 class indices -> (B, L, dim)."""
        check_labels(labels, self.classes, "class_label")
        return self.table[labels.to(self.table.device)]  # (B, L, dim)

    def class_index(self, prompt: str) -> int | None:
        """The class a prompt names, or None for an empty prompt. Unknown classes are errors."""
        name = PROMPT_PREFIX.sub("", prompt.strip()).strip()
        if not name:
            return None
        key = normalise(name)
        if key not in self._index:
            known = self.classes
            raise UsageError(
                f"unknown class '{name}' in prompt '{prompt}'{did_you_mean(name, known)}; "
                f"known classes: {', '.join(known) if known else '(none: the model is unconditional)'}. "
                "Write 'a video of <class>' or the bare class name."
            )
        return self._index[key]

    def from_prompts(self, prompts: Sequence[str]) -> Tensor:
        """B prompts -> (B, L, dim); an empty prompt gives the null condition."""
        rows = [self.class_index(p) for p in prompts]
        null = self.null_tokens
        out = [null if i is None else self.table[i] for i in rows]
        return torch.stack(out) if out else null.new_zeros(0, self.tokens, self.dim)  # (B, L, dim)

    def null(self, batch_size: int) -> Tensor:
        """(B, L, dim) learned null condition."""
        return self.null_tokens.expand(batch_size, -1, -1)


class NoneParams(ComponentParams):
    dim: int = Field(8, ge=1, description="width of the fixed null token (the generator's cond_dim)")
    tokens: int = Field(1, ge=1, description="number of null tokens (L)")


class NoCondition(nn.Module):
    """Unconditional: every condition is the same fixed zero tokens (B, L, dim).

    Cross-attention over it is well defined (softmax over L identical keys); `classes` is
    empty, so prompts are ignored and CFG reduces to the unconditional velocity.
    """

    def __init__(self, dim: int, tokens: int, classes: Sequence[str] = ()):
        super().__init__()
        self.dim, self.tokens, self.classes = dim, tokens, []  # the dataset's classes are ignored
        self.register_buffer("tokens_", torch.zeros(tokens, dim), persistent=False)

    def from_labels(self, labels: Tensor) -> Tensor:
        return self.null(labels.shape[0])  # (B, L, dim)

    def from_prompts(self, prompts: Sequence[str]) -> Tensor:
        return self.null(len(prompts))  # (B, L, dim)

    def null(self, batch_size: int) -> Tensor:
        return self.tokens_.expand(batch_size, -1, -1)  # (B, L, dim)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("conditioner", "class_label", ClassLabelConditioner, ClassLabelParams,
                 "learned tokens per class for 'a video of <class>' prompts, plus a learned null for CFG")
    registry.add("conditioner", "none", NoCondition, NoneParams,
                 "unconditional: a fixed zero null token for every sample (CFG has no effect)")
