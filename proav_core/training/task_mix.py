"""Multi-task generator training in UniForm's manner (`[train.generator] tasks`).

Per item a task is drawn with the configured probabilities; the task's given planes enter
the generator clean (the data latent, at every t) while the others follow the flow path;
the loss covers only the generated planes; a learned task embedding (one row per task of
proav_core.tasks.TASKS, zero-initialised so a fresh multi-task model starts as a joint
one) is added to every condition token, the null condition included.

With `given_summary = "plane_stats"` the given side also joins the condition: per given
plane and channel its maximum, minimum, mean and standard deviation over positions, mapped
by a zero-initialised linear layer per modality to one vector added to every condition token
(`GivenPlaneStats`). In STDiT's stacked latent a generated plane reads a given one only
through temporal attention at the same position, so a property of the whole given side (the
object's colour, which decides the timbre in v2a) has to travel two hops; the summary hands
it to every token through the condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from proav_core.tasks import MODALITIES, TASK_IDS, TASKS, given_mask, plane_modality, probe_planes

GivenSummary = Literal["none", "plane_stats"]
GIVEN_SUMMARIES: tuple[str, ...] = get_args(GivenSummary)


def plane_stats(plane: Tensor) -> Tensor:
    """(B, C, a, b) -> (B, 4 C): per channel the maximum, minimum, mean and standard deviation over positions."""
    flat = plane.flatten(2).float()  # (B, C, a*b)
    return torch.cat([flat.amax(2), flat.amin(2), flat.mean(2), flat.std(2, unbiased=False)], 1)


class GivenPlaneStats(nn.Module):
    """The given planes' statistics -> a vector per item for its condition tokens (B, Dc).

    One linear layer per modality over the stats of that modality's planes (plane_stats, in the
    stacker's plane order), zero-initialised, so a fresh summary changes nothing; an item's
    vector is the sum over the modalities its task gives (zero for joint).
    """

    def __init__(self, stacker: Any, cond_dim: int):
        super().__init__()
        self.stacker = stacker
        planes = probe_planes(stacker)  # {name: (1, C, a, b)}
        self.planes = {m: [n for n in planes if plane_modality(n) == m] for m in MODALITIES}
        self.proj = nn.ModuleDict({m: nn.Linear(4 * sum(planes[n].shape[1] for n in names), cond_dim)
                                   for m, names in self.planes.items() if names})
        for layer in self.proj.values():
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        gives = torch.tensor([[m in TASKS[name].given for m in self.proj] for name in TASKS])  # (len(TASKS), M)
        self.register_buffer("gives", gives, persistent=False)

    def forward(self, latent: Tensor, task_ids: Tensor) -> Tensor:
        """latent (B, *latent_shape) holding the given planes (other positions ignored), task_ids (B,) -> (B, Dc)."""
        planes = self.stacker.unstack(latent)  # {name: (B, C, a, b)}
        gives = self.gives[task_ids.to(self.gives.device)]  # (B, M)
        out = 0
        for k, (m, layer) in enumerate(self.proj.items()):
            stats = torch.cat([plane_stats(planes[n]) for n in self.planes[m]], 1)  # (B, 4 C n)
            out = out + layer(stats.to(layer.weight.dtype)) * gives[:, k:k + 1].to(layer.weight.dtype)  # (B, Dc)
        return out


class TaskMix(nn.Module):
    """The task draw, the given-plane masks and the task embedding of a multi-task generator."""

    def __init__(self, probabilities: Mapping[str, float], stacker, cond_dim: int,
                 given_summary: GivenSummary = "none"):
        super().__init__()
        if given_summary not in GIVEN_SUMMARIES:
            raise ValueError(f"unknown given_summary {given_summary!r}; known: {', '.join(GIVEN_SUMMARIES)}")
        self.names = [n for n in TASKS if n in probabilities]  # canonical order
        total = sum(probabilities[n] for n in self.names)
        self.register_buffer("probs", torch.tensor([probabilities[n] / total for n in self.names]), persistent=False)
        masks = torch.stack([given_mask(stacker, TASKS[n]) for n in self.names])  # (K, *latent)
        self.register_buffer("given", masks, persistent=False)
        self.register_buffer("ids", torch.tensor([TASK_IDS[n] for n in self.names]), persistent=False)
        self.embedding = nn.Parameter(torch.zeros(len(TASKS), cond_dim))  # zero-init: starts as joint
        self.given_summary = given_summary
        self.summary = GivenPlaneStats(stacker, cond_dim) if given_summary == "plane_stats" else None

    @property
    def probabilities(self) -> dict[str, float]:
        return {n: float(p) for n, p in zip(self.names, self.probs)}

    def idle_tasks(self, loss_mask: Tensor) -> list[str]:
        """Tasks that leave nothing to learn under `loss_mask` (*latent_shape): every position
        the mask covers is given (e.g. v2a when the generator learns the video planes alone)."""
        return [n for n, g in zip(self.names, self.given) if not (loss_mask.to(g.device) * ~g).any()]

    def draw(self, batch: int) -> Tensor:
        """(B,) int64 indices into `names`, drawn with the task probabilities (global RNG)."""
        return torch.multinomial(self.probs, batch, replacement=True)

    def embed(self, cond: Tensor, task_ids: Tensor, given: Tensor | None = None) -> Tensor:
        """cond (B, L, Dc) + the embedding of each item's task (ids: rows of TASKS, (B,)) -> (B, L, Dc);
        with a given-side summary, `given` (B, *latent_shape) is the latent holding the given planes
        (clean) and their summary joins too (None: no given planes, as for joint)."""
        out = cond + self.embedding[task_ids.to(self.embedding.device)][:, None, :].to(cond.dtype)
        if self.summary is not None and given is not None:
            out = out + self.summary(given, task_ids)[:, None, :].to(cond.dtype)  # (B, L, Dc)
        return out

    def split(self, x1: Tensor, loss_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Draw tasks for a batch x1 (B, *latent): -> (given (B, *latent) bool, loss mask (B, *latent)
        float over the generated real positions, task ids (B,) as rows of TASKS)."""
        k = self.draw(x1.shape[0]).to(self.given.device)  # (B,)
        given = self.given[k]  # (B, *latent)
        return given, loss_mask * ~given, self.ids[k]
