"""Multi-task generator training in UniForm's manner (`[train.generator] tasks`).

Per item a task is drawn with the configured probabilities; the task's given planes enter
the generator clean (the data latent, at every t) while the others follow the flow path;
the loss covers only the generated planes; a learned task embedding (one row per task of
proav_core.tasks.TASKS, zero-initialised so a fresh multi-task model starts as a joint
one) is added to every condition token, the null condition included.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from proav_core.tasks import TASK_IDS, TASKS, given_mask


class TaskMix(nn.Module):
    """The task draw, the given-plane masks and the task embedding of a multi-task generator."""

    def __init__(self, probabilities: Mapping[str, float], stacker, cond_dim: int):
        super().__init__()
        self.names = [n for n in TASKS if n in probabilities]  # canonical order
        total = sum(probabilities[n] for n in self.names)
        self.register_buffer("probs", torch.tensor([probabilities[n] / total for n in self.names]), persistent=False)
        masks = torch.stack([given_mask(stacker, TASKS[n]) for n in self.names])  # (K, *latent)
        self.register_buffer("given", masks, persistent=False)
        self.register_buffer("ids", torch.tensor([TASK_IDS[n] for n in self.names]), persistent=False)
        self.embedding = nn.Parameter(torch.zeros(len(TASKS), cond_dim))  # zero-init: starts as joint

    @property
    def probabilities(self) -> dict[str, float]:
        return {n: float(p) for n, p in zip(self.names, self.probs)}

    def draw(self, batch: int) -> Tensor:
        """(B,) int64 indices into `names`, drawn with the task probabilities (global RNG)."""
        return torch.multinomial(self.probs, batch, replacement=True)

    def embed(self, cond: Tensor, task_ids: Tensor) -> Tensor:
        """cond (B, L, Dc) + the embedding of each item's task (ids: rows of TASKS, (B,)) -> (B, L, Dc)."""
        return cond + self.embedding[task_ids.to(self.embedding.device)][:, None, :].to(cond.dtype)

    def split(self, x1: Tensor, loss_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Draw tasks for a batch x1 (B, *latent): -> (given (B, *latent) bool, loss mask (B, *latent)
        float over the generated real positions, task ids (B,) as rows of TASKS)."""
        k = self.draw(x1.shape[0]).to(self.given.device)  # (B,)
        given = self.given[k]  # (B, *latent)
        return given, loss_mask * ~given, self.ids[k]
