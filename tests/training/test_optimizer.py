"""The training loops' optimiser: Adam / AdamW with the config's settings, fused on CPU, and a
state dict that resumes across the fused and the plain kernel."""

import copy

import pytest
import torch

from proav_core.config.schema import OptimConfig
from proav_core.training.common import adam


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g))]


def _steps(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], n: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()


@pytest.mark.parametrize("decoupled, kind", [(False, torch.optim.Adam), (True, torch.optim.AdamW)])
def test_adam_takes_the_config_and_is_fused_on_cpu(decoupled, kind):
    cfg = OptimConfig(lr=3e-3, betas=(0.8, 0.95), weight_decay=0.01)
    opt = adam(_params(), cfg, torch.device("cpu"), decoupled=decoupled)
    assert type(opt) is kind
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"], group["fused"]) == (3e-3, (0.8, 0.95), 0.01, True)


def test_adam_is_not_fused_where_torch_has_no_fused_kernel():
    opt = adam(_params(), OptimConfig(), torch.device("meta"), decoupled=True)
    assert not opt.param_groups[0]["fused"]


@pytest.mark.parametrize("decoupled", [False, True])
def test_fused_steps_match_the_plain_kernel_and_resume_across_kinds(decoupled):
    """Five fused steps = five plain ones; a fused run's state resumes in a plain optimiser (an
    older checkpoint the other way round) and continues as the fused run would."""
    cfg = OptimConfig(lr=1e-2, weight_decay=0.1)
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    fused_params, plain_params = _params(), _params()
    fused = adam(fused_params, cfg, torch.device("cpu"), decoupled=decoupled)
    plain = kind(plain_params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    _steps(fused, fused_params, 5)
    _steps(plain, plain_params, 5)
    for a, b in zip(fused_params, plain_params):
        torch.testing.assert_close(a, b)

    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in fused_params]
    resumed = kind(resumed_params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    resumed.load_state_dict(copy.deepcopy(fused.state_dict()))  # as from a file: no shared tensors
    back = adam([torch.nn.Parameter(p.detach().clone()) for p in plain_params], cfg, torch.device("cpu"),
                decoupled=decoupled)
    back.load_state_dict(copy.deepcopy(plain.state_dict()))
    _steps(fused, fused_params, 3, seed=2)
    _steps(resumed, resumed_params, 3, seed=2)
    _steps(back, back.param_groups[0]["params"], 3, seed=2)
    for a, b, c in zip(fused_params, resumed_params, back.param_groups[0]["params"]):
        torch.testing.assert_close(b, a)
        torch.testing.assert_close(c, a)
