"""Samplers: reflection, Euler/Heun accuracy, classifier-free guidance, callbacks, determinism."""

from __future__ import annotations

import math

import pytest
import torch

import proav_core
from proav_core.interfaces import Sampler
from proav_core.flow_matching import (
    autoguided,
    cfg_velocity,
    reflect,
    reflect_with_sign,
    sample_euler,
    sample_heun,
    time_grid,
)


def test_reflect_folds_repeated_overshoots_and_keeps_inside_values_exact():
    x = torch.tensor([0.1, -0.7, 1.0, 1.5, -1.2, 3.5, 5.0, -4.5, 9.25])
    folded, sign = reflect_with_sign(x, 1.0)
    # 1.5 -> 0.5; -1.2 -> -0.8; 3.5 -> -1.5 -> -0.5; 5 -> -3 -> 1; -4.5 -> 2.5 -> -0.5; 9.25 -> -7.25 -> 5.25 -> -3.25 -> 1.25 -> 0.75
    assert torch.allclose(folded, torch.tensor([0.1, -0.7, 1.0, 0.5, -0.8, -0.5, 1.0, -0.5, 0.75]))
    assert torch.equal(folded[:3], x[:3])
    assert sign.tolist() == [1, 1, 1, -1, -1, 1, 1, 1, -1]  # -1 where folded an odd number of times
    assert torch.allclose(reflect(x * 2.5, 2.5), folded * 2.5)
    big = torch.randn(10_000) * 20
    assert reflect(big, 1.5).abs().max() <= 1.5


def test_time_grid_is_linear():
    ts = time_grid(30)
    assert ts.shape == (31,) and ts[0] == 0 and ts[-1] == 1
    assert torch.allclose(ts.diff(), torch.full((30,), 1 / 30))


def linear_field(lam):
    return lambda x, t: lam * x


@pytest.mark.parametrize("method, order", [(sample_euler, 1), (sample_heun, 2)])
def test_convergence_order_on_a_linear_ode(method, order):
    x0 = torch.tensor([[0.3, -0.2]])
    exact = x0 * math.exp(-1.5)
    errors = [float((method(linear_field(-1.5), x0, time_grid(n)) - exact).abs().max()) for n in (10, 20)]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.15)


def test_euler_reflects_after_every_step_and_heun_flips_the_mirrored_slope():
    steps = []
    out = sample_euler(lambda x, t: torch.full_like(x, 3.0), torch.tensor([[0.5]]), time_grid(4), bound=1.0,
                       callback=lambda i, t, x: steps.append(float(x)))
    # 0.5 -> 1.25 -> 0.75 -> 1.5 -> 0.5 -> 1.25 -> 0.75 -> 1.5 -> 0.5
    assert steps == pytest.approx([0.75, 0.5, 0.75, 0.5]) and float(out) == pytest.approx(0.5)
    # Heun, one step of constant +2 from 0.5: predictor 2.5 folds to -0.5 (odd), its slope +2 maps
    # back to -2 in the unfolded frame, the trapezoid gives 0.5 + (2 - 2) / 2 = 0.5
    heun = sample_heun(lambda x, t: torch.full_like(x, 2.0), torch.tensor([[0.5]]), time_grid(1), bound=1.0)
    assert float(heun) == pytest.approx(0.5)
    free = sample_heun(lambda x, t: torch.full_like(x, 2.0), torch.tensor([[0.5]]), time_grid(1))
    assert float(free) == pytest.approx(2.5)


def test_cfg_scale_one_is_exactly_the_conditional_prediction():
    net = torch.nn.Linear(3, 3)
    calls = []

    def velocity(x, t, cond):
        calls.append(x.shape[0])
        return net(x) * (1 + t[:, None]) + cond[:, 0]

    x, t = torch.randn(4, 3), torch.rand(4)
    cond, null = torch.randn(4, 1, 3), torch.randn(4, 1, 3)
    assert torch.equal(cfg_velocity(velocity, cond, null, 1.0)(x, t), velocity(x, t, cond))
    assert calls == [4, 4]  # one evaluation, no null pass
    guided = cfg_velocity(velocity, cond, null, 4.0)(x, t)
    expected = velocity(x, t, null) + 4.0 * (velocity(x, t, cond) - velocity(x, t, null))
    assert torch.allclose(guided, expected, atol=1e-5) and calls[2] == 8  # batched cond + null
    assert torch.equal(cfg_velocity(velocity, null, null.clone(), 7.0)(x, t), velocity(x, t, null))
    short_null = torch.randn(4, 2, 3)  # another token count: two passes
    out = cfg_velocity(velocity, cond, short_null, 2.0)(x, t)
    assert torch.allclose(out, 2 * velocity(x, t, cond) - velocity(x, t, short_null), atol=1e-5)


def test_autoguidance_extrapolates_away_from_the_guide_under_its_own_condition():
    main, weak = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    seen = []

    def velocity(x, t, cond):
        return main(x) * (1 + t[:, None]) + cond[:, 0]

    def guide(x, t, cond):
        seen.append(cond)
        return weak(x) - t[:, None] + cond[:, 0]

    x, t = torch.randn(4, 3), torch.rand(4)
    cond, guide_cond = torch.randn(4, 1, 3), torch.randn(4, 1, 3)
    assert autoguided(velocity, guide, guide_cond, 1.0) is velocity and not seen  # scale 1: the model alone
    out = autoguided(velocity, guide, guide_cond, 2.5)(x, t, cond)
    expected = guide(x, t, guide_cond) + 2.5 * (velocity(x, t, cond) - guide(x, t, guide_cond))
    assert torch.allclose(out, expected, atol=1e-6)
    assert all(c is guide_cond for c in seen)  # the guide sees its own condition, not the sampler's
    assert torch.allclose(autoguided(velocity, guide, guide_cond, 0.0)(x, t, cond), guide(x, t, guide_cond))
    same = autoguided(velocity, velocity, cond, 3.0)(x, t, cond)  # a guide equal to the model changes nothing
    assert torch.allclose(same, velocity(x, t, cond), atol=1e-5)


def test_registry_samplers_follow_the_protocol():
    sampler = proav_core.build("sampler", "reflected_flow", latent_bound=2.0)
    assert isinstance(sampler, Sampler) and sampler.steps == 30 and sampler.bound == 2.0
    assert proav_core.build("sampler", "reflected_flow", bound=0.5, latent_bound=2.0).bound == 0.5
    seen = []

    def velocity(x, t, cond):
        return torch.full_like(x, 5.0) + 0 * cond.sum()

    x0 = torch.zeros(2, 3, 4)
    cond = torch.zeros(2, 1, 1)
    out = sampler(velocity, x0, cond=cond, callback=lambda i, t, x: seen.append((i, t, x.abs().max())))
    assert [s[0] for s in seen] == list(range(30)) and seen[-1][1] == 1.0
    assert all(s[2] <= 2.0 for s in seen) and out.abs().max() <= 2.0
    plain = proav_core.build("sampler", "flow_euler", steps=7)
    assert torch.allclose(plain(velocity, x0, cond=cond), torch.full_like(x0, 5.0))  # leaves any box


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_sampling_is_deterministic_given_the_noise_generator(method):
    obj = proav_core.build("objective", "reflected_flow")
    sampler = proav_core.build("sampler", "reflected_flow", steps=5, method=method)
    net = torch.nn.Linear(6, 6)

    def velocity(x, t, cond):
        return torch.tanh(net(x)) * 3 + t[:, None]

    outs = []
    for _ in range(2):
        x0 = obj.sample_noise((8, 6), generator=torch.Generator().manual_seed(11))
        outs.append(sampler(velocity, x0, cond=torch.zeros(8, 1, 1)))
    assert torch.equal(outs[0], outs[1]) and outs[0].abs().max() <= 1.0


def point_mass_velocity(c: torch.Tensor):
    """The exact velocity of straight paths to one data point c: v(x, t) = (c - x) / (1 - t)."""
    def velocity(x, t, cond):
        return (c - x) / (1 - t.view(-1, *([1] * (x.dim() - 1))))
    return velocity


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_renoised_sampler_lands_on_the_data_of_an_exact_velocity(eta):
    c = torch.tensor([[0.3, -0.7, 0.1]]).expand(4, 3)
    sampler = proav_core.build("sampler", "reflected_flow_renoised", steps=10, eta=eta, latent_bound=1.0)
    seen = []
    x0 = proav_core.build("objective", "reflected_flow").sample_noise((4, 3), generator=torch.Generator().manual_seed(0))
    out = sampler(point_mass_velocity(c), x0, cond=torch.zeros(4, 1, 1),
                  callback=lambda i, t, x: seen.append((t, x.abs().max())))
    assert torch.allclose(out, c, atol=1e-5)
    assert len(seen) == 10 and seen[-1][0] == 1.0 and all(m <= 1.0 for _, m in seen)


def test_renoised_sampler_at_eta_0_is_reflected_euler():
    net = torch.nn.Linear(6, 6)

    def velocity(x, t, cond):
        return torch.tanh(net(x)) * 3 + t[:, None]

    x0 = torch.rand(5, 6, generator=torch.Generator().manual_seed(2)) * 2 - 1
    euler = proav_core.build("sampler", "reflected_flow", steps=7, latent_bound=1.0)
    renoised = proav_core.build("sampler", "reflected_flow_renoised", steps=7, eta=0.0, latent_bound=1.0)
    with torch.no_grad():
        assert torch.allclose(renoised(velocity, x0, cond=torch.zeros(5, 1, 1)),
                              euler(velocity, x0, cond=torch.zeros(5, 1, 1)), atol=1e-6)


def test_renoised_sampler_draws_the_objectives_noise_per_sample_whatever_the_batch():
    drawn = []
    objective = proav_core.build("objective", "reflected_flow", noise_std=0.5, latent_bound=1.0)

    def noise(shape, generator, device):
        drawn.append(shape)
        return objective.noise(shape, generator, device)

    sampler = proav_core.build("sampler", "reflected_flow_renoised", steps=6, eta=0.9, latent_bound=1.0, noise=noise)
    net = torch.nn.Linear(6, 6)

    def velocity(x, t, cond):
        return torch.tanh(net(x)) * 3 + t[:, None]

    x0 = objective.sample_noise((6, 6), generator=torch.Generator().manual_seed(4))
    cond = torch.zeros(6, 1, 1)
    with torch.no_grad():
        whole = sampler(velocity, x0, cond=cond)
        parts = torch.cat([sampler(velocity, x0[:2], cond=cond[:2]), sampler(velocity, x0[2:], cond=cond[2:])])
        again = sampler(velocity, x0, cond=cond)
        euler = proav_core.build("sampler", "reflected_flow", steps=6, latent_bound=1.0)(velocity, x0, cond=cond)
    assert drawn and all(tuple(s) == (1, 6) for s in drawn)  # one draw per sample and step, the objective's
    assert len(drawn) == 3 * 6 * 5  # 3 runs x 6 samples x 5 steps (the last lands on the data)
    assert torch.allclose(whole, parts, atol=1e-6) and torch.equal(whole, again)
    assert not torch.allclose(whole, euler, atol=1e-3)  # the fresh noise changed the path
    with pytest.raises(ValueError, match="eta"):
        from proav_core.flow_matching import sample_renoised
        sample_renoised(lambda x, t: x, x0, torch.linspace(0, 1, 3), noise=noise, eta=1.5)


def test_build_offers_the_objectives_noise_to_the_sampler():
    from proav_core.build import build_generation
    from proav_core.config import config_from_dict

    cfg = config_from_dict({"name": "t", "objective": {"name": "reflected_flow", "noise_std": 0.25},
                            "sampler": {"name": "reflected_flow_renoised", "steps": 3}}, source="test")
    parts = build_generation(cfg, None, 1.0, [])
    assert parts.sampler.noise == parts.objective.noise and parts.sampler.bound == 1.0
