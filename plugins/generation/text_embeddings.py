"""`text_embeddings` conditioner: prompts -> a text encoder's token embeddings, read from a local file.

ProAV-DiT conditions on class names through text ("a video of <class>"); JavisDiT and
Open-Sora condition on T5 token embeddings. Such an encoder (billions of parameters, its own
tokenizer) is not part of proav, and nothing may be downloaded at run time, so this
conditioner reads the encoder's outputs, computed once wherever the encoder runs, from one
local torch file (the way those pipelines cache their T5 outputs):

    torch.save({
        "prompts": ["a video of circle-drum-0", ...],   # N strings
        "embeddings": tensor,                            # (N, L, E) float: the encoder's last hidden states
        "mask": tensor,                                  # optional (N, L) bool, True on real tokens
        "encoder": "t5-v1_1-xxl",                        # optional: what made them (shown in errors)
    }, "prompt_embeddings.pt")

The embeddings are frozen buffers (not saved in checkpoints: sampling reads the file again).
What the checkpoint keeps is a fingerprint of every prompt's embedding (its extra state), so a
checkpoint loaded with a file whose embedding of some prompt differs (another encoder, another
token length) is refused, naming the prompts; prompts added to the file since are fine.
Trained: one Linear E -> dim over every token, and a learned null condition (L, dim) for
classifier-free guidance. Padding tokens (mask False) enter the projection as zeros, so they
become its bias, one constant token the generator learns to ignore (the generators'
cross-attention takes no mask).

Training conditions on class labels: label k reads the prompt `template` makes of class k
(default "a video of {cls}"), and every class of the dataset must have its prompt in the file.
Sampling reads any prompt of the file (case and spacing ignored); a class name, bare or as
"a video of <class>" (the prompt proav's sampling writes per class), goes through the template;
an empty prompt is the null condition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import Tensor, nn

import proav_core
from proav_core import ComponentParams
from proav_core.errors import ConfigError, MissingWeightsError, UsageError, did_you_mean, load_error_reason
from proav_plugins.generation.conditioners import PROMPT_PREFIX, check_labels, normalise

PATH_KEY = "model.conditioner.embeddings_path"
FORMAT = ('a torch file of {"prompts": N strings, "embeddings": (N, L, E) float tensor, '
          '"mask": optional (N, L) bool tensor} (see proav_plugins.generation.text_embeddings)')


def prompt_key(prompt: str) -> str:
    """Case- and spacing-insensitive form of a prompt."""
    return " ".join(prompt.lower().split())


class TextEmbeddingsParams(ComponentParams):
    embeddings_path: str = Field(description="local torch file of prompt embeddings made by a text encoder: "
                                             + FORMAT)
    dim: int = Field(256, ge=1, description="width of each condition token (the generator's cond_dim)")
    template: str = Field("a video of {cls}", description="the prompt of class {cls}: what a class label reads")
    max_tokens: int | None = Field(None, ge=1, description="keep the first L tokens of each prompt (unset: all)")

    @field_validator("template")
    @classmethod
    def _names_the_class(cls, value: str) -> str:
        if "{cls}" not in value:
            raise ValueError(f"template must hold '{{cls}}' where the class name goes, got '{value}'")
        return value


def read_embeddings(path: str | Path) -> dict[str, Any]:
    """The checked content of an embeddings file: prompts (N), embeddings (N, L, E) float32,
    mask (N, L) bool, encoder (str)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"{PATH_KEY}: {path} does not exist; provide {FORMAT}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise MissingWeightsError(f"{PATH_KEY}: cannot read {path} ({load_error_reason(err)}); "
                                  f"provide {FORMAT}") from None

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: {what}; expected {FORMAT}", path=PATH_KEY)

    if not isinstance(data, dict) or not {"prompts", "embeddings"} <= set(data):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise bad(f"holds {found}, without the keys 'prompts' and 'embeddings'")
    prompts, emb = data["prompts"], data["embeddings"]
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise bad("'prompts' is not a list of strings")
    if not isinstance(emb, Tensor) or not emb.is_floating_point() or emb.dim() not in (2, 3):
        raise bad("'embeddings' is not a float tensor of shape (N, L, E) or (N, E)")
    emb = emb[:, None] if emb.dim() == 2 else emb  # (N, L, E)
    if emb.shape[0] != len(prompts) or not prompts:
        raise bad(f"{len(prompts)} prompts but {emb.shape[0]} embeddings")
    mask = data.get("mask")
    if mask is None:
        mask = torch.ones(emb.shape[:2], dtype=torch.bool, device=emb.device)  # on the file's device under meta too
    elif not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(emb.shape[:2]):
        raise bad(f"'mask' is not a tensor of shape (N, L) = {tuple(emb.shape[:2])}")
    seen: dict[str, str] = {}
    for p in prompts:
        if prompt_key(p) in seen:
            raise bad(f"the prompts '{seen[prompt_key(p)]}' and '{p}' are the same once case and spacing are ignored")
        seen[prompt_key(p)] = p
    return {"prompts": list(prompts), "embeddings": emb.float(), "mask": mask.bool(),
            "encoder": str(data.get("encoder", "an unnamed text encoder"))}


def row_digests(prompts: Sequence[str], embeddings: Tensor) -> dict[str, str]:
    """{prompt key: 16 hex digits of SHA-256 over its (L, E) float32 embedding row}."""
    rows = embeddings.detach().to("cpu", torch.float32).contiguous()
    return {prompt_key(p): hashlib.sha256(rows[i].numpy().tobytes()).hexdigest()[:16] for i, p in enumerate(prompts)}


def _tolerate_missing_fingerprint(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """A checkpoint written before the fingerprint loads unchecked (its extra state None)."""
    state_dict.setdefault(prefix + "_extra_state", None)


class TextEmbeddingsConditioner(nn.Module):
    """Frozen text-encoder embeddings of the file's prompts, projected to the generator's width.

    from_labels: (B,) int64 -> (B, L, dim); from_prompts: B strings -> (B, L, dim), an empty
    prompt meaning the null condition; null(B) -> (B, L, dim), learned.
    """

    def __init__(self, embeddings_path: str, dim: int, template: str, max_tokens: int | None,
                 classes: Sequence[str] = ()):
        super().__init__()
        data = read_embeddings(embeddings_path)
        emb, mask = data["embeddings"][:, :max_tokens], data["mask"][:, :max_tokens]  # (N, L, E), (N, L)
        self.dim, self.tokens, self.template = dim, emb.shape[1], template
        self.path, self.encoder, self.prompts = str(embeddings_path), data["encoder"], data["prompts"]
        self.classes = list(classes)
        self._row = {prompt_key(p): i for i, p in enumerate(self.prompts)}
        self._class_of = {normalise(c): i for i, c in enumerate(self.classes)}
        missing = [c for c in self.classes if prompt_key(self.class_prompt(c)) not in self._row]
        if missing:
            raise ConfigError(
                f"{self.path} ({self.encoder}) has no embeddings for the prompts of {len(missing)} "
                f"of the dataset's {len(self.classes)} classes: "
                + ", ".join(f"'{self.class_prompt(c)}'" for c in missing[:5]) + ("..." if len(missing) > 5 else "")
                + "; add them to the file (encode them with the same encoder) or change "
                "model.conditioner.template", path=PATH_KEY)
        label_rows = [self._row[prompt_key(self.class_prompt(c))] for c in self.classes]
        self.register_buffer("embeddings", emb * mask[..., None], persistent=False)  # (N, L, E), padding zeroed
        self.register_buffer("label_rows", torch.tensor(label_rows, dtype=torch.long), persistent=False)  # (K,)
        self.proj = nn.Linear(emb.shape[2], dim)
        self.null_tokens = nn.Parameter(torch.randn(self.tokens, dim) * 0.02)
        self.digests = row_digests(self.prompts, self.embeddings)  # what get_extra_state saves
        self.register_load_state_dict_pre_hook(_tolerate_missing_fingerprint)

    def get_extra_state(self) -> dict[str, Any]:
        """Saved with the weights: the encoder's name and each prompt's embedding fingerprint."""
        return {"encoder": self.encoder, "digests": dict(self.digests)}

    def set_extra_state(self, state: Mapping[str, Any] | None) -> None:
        """Refuse weights trained on other embeddings of the same prompts (ConfigError naming the
        file, the prompts and both encoders); None (a checkpoint without a fingerprint) passes."""
        if state is None:
            return
        saved = state.get("digests", {})
        changed = sorted(k for k, d in saved.items() if k in self.digests and self.digests[k] != d)
        if not changed:
            return
        shared = sum(k in self.digests for k in saved)
        raise ConfigError(
            f"{self.path} ({self.encoder}) is not the file these conditioner weights were trained with "
            f"({state.get('encoder', 'an unnamed text encoder')}): its embeddings of {len(changed)} of the {shared} "
            "prompts both hold differ (" + ", ".join(f"'{k}'" for k in changed[:3]) + (", ..." if len(changed) > 3
                                                                                      else "")
            + f"). Point {PATH_KEY} at the training run's file, or encode the prompts again with the same encoder "
            "and token length", path=PATH_KEY)

    def class_prompt(self, class_name: str) -> str:
        """The prompt a class label reads: the template with the class name."""
        return self.template.format(cls=class_name)

    def from_labels(self, labels: Tensor) -> Tensor:
        """(B,) int64 class indices -> (B, L, dim)."""
        check_labels(labels, self.classes, "text_embeddings")
        return self.proj(self.embeddings[self.label_rows[labels.to(self.label_rows.device)]])  # (B, L, dim)

    def row(self, prompt: str) -> int | None:
        """The file's row of a prompt; a class name, bare or as "a video of <class>", through the
        template; None for ""."""
        key = prompt_key(prompt)
        if not key:
            return None
        if key in self._row:
            return self._row[key]
        name = normalise(PROMPT_PREFIX.sub("", prompt.strip()))  # "a video of <class>", proav's class prompt
        if name in self._class_of:
            return int(self.label_rows[self._class_of[name]])
        raise UsageError(f"prompt '{prompt}' has no embedding in {self.path}{did_you_mean(prompt, self.prompts)}; "
                         f"it holds {len(self.prompts)} prompts (e.g. '{self.prompts[0]}'). Encode new prompts "
                         f"with {self.encoder} and add them to the file.")

    def from_prompts(self, prompts: Sequence[str]) -> Tensor:
        """B prompts -> (B, L, dim); an empty prompt gives the null condition."""
        rows = [self.row(p) for p in prompts]
        is_null = torch.tensor([r is None for r in rows], dtype=torch.bool, device=self.embeddings.device)
        index = torch.tensor([r or 0 for r in rows], dtype=torch.long, device=self.embeddings.device)
        tokens = self.proj(self.embeddings[index])  # (B, L, dim), one projection for the batch
        return torch.where(is_null[:, None, None], self.null_tokens, tokens)  # (B, L, dim)

    def null(self, batch_size: int) -> Tensor:
        """(B, L, dim) learned null condition."""
        return self.null_tokens.expand(batch_size, -1, -1)


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("conditioner", "text_embeddings", TextEmbeddingsConditioner, TextEmbeddingsParams,
                 "a text encoder's token embeddings of each prompt, read from a local file, projected; "
                 "learned null for CFG")
