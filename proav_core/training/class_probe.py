"""The class of a given modality, read from its latent planes: the prompt of a2v and v2a.

A multi-task or joint generator is class-conditional, but a2v / v2a sampling gets a clip, not
a class: without a prompt the generated side has to find the class in the given planes by
itself, and in STDiT's stacked latent a property of the whole given side (the object's colour,
which decides the timbre) reaches the generated planes only through temporal attention at
the same position. Measured on the demo's latents, v2a's timbre then matched the video's
class in 0.60-0.93 of held-out clips depending on the run, where prompted joint samples match
their prompt in all; with the probe's prompt (and CFG 2), in all (docs/tasks.md, "The class probe").

`ClassProbe` is a ridge-regression classifier (one-hot targets, closed form) over one
modality's plane statistics (task_mix.plane_stats: per plane and channel the maximum,
minimum, mean and standard deviation over positions), standardised with the training set's
mean and standard deviation. The generator loop fits one per modality on its training
latents (normalised space, as the generator sees them) and stores them in the checkpoint;
sampling a2v / v2a without prompts predicts the class from the given planes and prompts the
generator with it (SamplingPipeline.sample, `given_label`). No learned weights beyond the
latent cache, no extra training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from proav_core.errors import UsageError
from proav_core.tasks import MODALITIES, plane_modality
from proav_core.training.task_mix import plane_stats

# on standardised features; on the demo's latents every value from 0.01 to 10 read 109 / 109
# training and 19 / 19 held-out clips for both modalities (100: 106 / 109 training, video)
RIDGE = 1.0


def modality_stats(planes: Mapping[str, Tensor], names: Sequence[str]) -> Tensor:
    """{name: (N, C, a, b)} -> (N, 4 C len(names)): plane_stats of `names`, in that order."""
    missing = [n for n in names if n not in planes]
    if missing:
        raise UsageError(f"the class probe reads planes {', '.join(names)}; missing: {', '.join(missing)}")
    return torch.cat([plane_stats(planes[n]) for n in names], 1).cpu()


@dataclass
class ClassProbe:
    """Ridge classifier: planes' stats (standardised by mean/std) -> class scores (weight; last row: bias)."""

    planes: list[str]  # the plane names it reads, e.g. ["video_hw", "video_th", "video_tw"]
    mean: Tensor  # (F,)
    std: Tensor  # (F,)
    weight: Tensor  # (F + 1, K)

    @classmethod
    def fit(cls, planes: Mapping[str, Tensor], labels: Tensor, num_classes: int, names: Sequence[str],
            ridge: float = RIDGE) -> ClassProbe:
        """planes {name: (N, C, a, b)}, labels (N,) in [0, num_classes) -> the probe on `names`."""
        x = modality_stats(planes, names).double()  # (N, F)
        mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
        z = torch.cat([(x - mean) / std, torch.ones(len(x), 1, dtype=x.dtype)], 1)  # (N, F + 1)
        targets = torch.nn.functional.one_hot(labels.long().cpu(), num_classes).double()  # (N, K)
        eye = torch.eye(z.shape[1], dtype=x.dtype)
        eye[-1, -1] = 0  # the bias is not shrunk
        weight = torch.linalg.solve(z.T @ z + ridge * eye, z.T @ targets)  # (F + 1, K)
        return cls(list(names), mean.float(), std.float(), weight.float())

    def scores(self, planes: Mapping[str, Tensor]) -> Tensor:
        """{name: (N, C, a, b)} -> (N, K) class scores."""
        z = (modality_stats(planes, self.planes) - self.mean) / self.std  # (N, F)
        return z @ self.weight[:-1] + self.weight[-1]  # (N, K)

    def predict(self, planes: Mapping[str, Tensor]) -> Tensor:
        """{name: (N, C, a, b)} -> (N,) int64 class indices."""
        return self.scores(planes).argmax(1)

    def to_dict(self) -> dict[str, Any]:
        return {"planes": self.planes, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "weight": self.weight.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassProbe:
        return cls(list(data["planes"]), torch.tensor(data["mean"]), torch.tensor(data["std"]),
                   torch.tensor(data["weight"]))


def fit_class_probes(planes: Mapping[str, Tensor], labels: Tensor, num_classes: int) -> dict[str, ClassProbe]:
    """One probe per modality present in `planes` ({name: (N, C, a, b)}, normalised space), on
    the items labelled 0 <= label < num_classes; none without two classes among those."""
    labels = labels.long().cpu()
    keep = (labels >= 0) & (labels < num_classes)  # (N,) unlabelled items (e.g. -1) are left out
    if num_classes < 2 or int(labels[keep].unique().numel()) < 2:
        return {}
    planes, labels = {k: v[keep.to(v.device)] for k, v in planes.items()}, labels[keep]
    out = {}
    for m in MODALITIES:
        names = sorted(n for n in planes if plane_modality(n) == m)
        if names:
            out[m] = ClassProbe.fit(planes, labels, num_classes, names)
    return out


def probes_to_dict(probes: Mapping[str, ClassProbe]) -> dict[str, Any]:
    return {m: p.to_dict() for m, p in probes.items()}


def probes_from_dict(data: Mapping[str, Any] | None) -> dict[str, ClassProbe]:
    return {m: ClassProbe.from_dict(d) for m, d in (data or {}).items()}
