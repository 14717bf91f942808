"""The midpoint sampler against known answers."""

import math

import torch

import proav_core


def test_midpoint_is_second_order_on_exponential_decay():
    x0 = torch.full((1, 3), 0.5)

    def velocity(x, t, cond):  # dx/dt = -x, so x(1) = x0 / e
        return -x

    cond = torch.zeros(1, 1, 2)
    errors = []
    for steps in (4, 8):
        sampler = proav_core.build("sampler", "example_midpoint", steps=steps)
        errors.append(float((sampler(velocity, x0, cond=cond) - 0.5 / math.e).abs().max()))
    assert errors[1] < 1e-3 and 3.5 < errors[0] / errors[1] < 4.5  # halving h quarters the error


def test_a_constant_velocity_is_mirrored_at_the_wall():
    sampler = proav_core.build("sampler", "example_midpoint", steps=1, bound=1.0)
    x1 = sampler(lambda x, t, c: torch.ones_like(x), torch.tensor([[0.5]]), cond=torch.zeros(1, 1, 1))
    assert torch.allclose(x1, torch.tensor([[0.5]]))  # 0.5 + 1 = 1.5 is folded back to 0.5
