"""reflected_flow and flow objectives: noise law, box, loss value, padding, condition dropout."""

from __future__ import annotations

import math

import pytest
import torch

import proav_core
from proav_core.errors import DataError, ParameterError
from proav_core.interfaces import Objective
from proav_plugins.generation.flow_objectives import DEFAULT_BOUND

from .helpers import TINY, random_planes


def tn_variance(b: float) -> float:
    """Variance of N(0, 1) truncated to [-b, b]."""
    phi = math.exp(-b * b / 2) / math.sqrt(2 * math.pi)
    return 1 - 2 * b * phi / math.erf(b / math.sqrt(2))


@pytest.mark.parametrize("bound", [1.0, 3.0])
def test_noise_is_a_truncated_normal_in_the_box(bound):
    obj = proav_core.build("objective", "reflected_flow", bound=bound)
    assert isinstance(obj, Objective)
    x0 = obj.sample_noise((200_000,), generator=torch.Generator().manual_seed(0))
    assert x0.abs().max() <= bound
    assert abs(float(x0.mean())) < 0.005
    assert float(x0.var()) == pytest.approx(tn_variance(bound), abs=0.005)  # 0.2911 for b = 1


def test_noise_is_deterministic_given_a_generator():
    obj = proav_core.build("objective", "reflected_flow")
    a = obj.sample_noise((3, 4, 5), generator=torch.Generator().manual_seed(7))
    b = obj.sample_noise((3, 4, 5), generator=torch.Generator().manual_seed(7))
    assert a.shape == (3, 4, 5) and torch.equal(a, b)


def test_bound_param_beats_latent_bound_which_beats_the_default():
    assert proav_core.build("objective", "reflected_flow", bound=2.0, latent_bound=3.0).bound == 2.0
    assert proav_core.build("objective", "reflected_flow", latent_bound=3.0).bound == 3.0
    assert proav_core.build("objective", "reflected_flow").bound == DEFAULT_BOUND


def test_flow_noise_is_gaussian_and_unbounded():
    obj = proav_core.build("objective", "flow", noise_std=2.0)
    x0 = obj.sample_noise((100_000,), generator=torch.Generator().manual_seed(0))
    assert float(x0.std()) == pytest.approx(2.0, abs=0.02) and x0.abs().max() > 6.0


@pytest.mark.parametrize("name", ["reflected_flow", "flow"])
def test_loss_value_follows_the_documented_draws(name):
    """x0 (noise), then t, then the dropout draw, all from the generator; masked MSE of v - (x1 - x0)."""
    obj = proav_core.build("objective", name, cond_dropout=0.0)
    x1 = torch.rand(4, 3, 5) * 2 - 1
    mask = torch.ones(3, 5)
    mask[:, 3:] = 0

    def model(x, t, cond):
        return 0.5 * x + t[:, None, None] + cond.mean()

    cond = torch.randn(4, 1, 2)
    loss = obj.loss(model, x1, cond, cond * 0, mask=mask, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    x0 = obj.sample_noise(x1.shape, g)
    t = torch.rand(4, generator=g)
    x1m = x1 * mask
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1m
    err = (model(xt, t, cond) - (x1m - x0)) ** 2
    assert float(loss) == pytest.approx(float((err * mask).sum() / (mask.sum() * 4)), rel=1e-6)


@pytest.mark.parametrize("name", ["reflected_flow", "flow"])
def test_a_weighted_mask_weights_the_error_and_leaves_the_data_alone(name):
    """Weights (plane_loss_weights) make the loss a weighted mean of the same errors: the model
    sees the data unscaled, and scaling every weight leaves the loss unchanged."""
    obj = proav_core.build("objective", name, cond_dropout=0.0)
    x1 = torch.rand(4, 3, 5) * 2 - 1
    weights = torch.tensor([0.4, 1.0, 1.0, 2.5, 0.0]).expand(3, 5)  # the last column: padding
    seen = []

    def model(x, t, cond):
        seen.append(x)
        return 0.5 * x + t[:, None, None]

    cond = torch.randn(4, 1, 2)
    loss = obj.loss(model, x1, cond, None, mask=weights, generator=torch.Generator().manual_seed(3))
    binary = obj.loss(model, x1, cond, None, mask=(weights > 0).float(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(seen[0], seen[1])  # same draws, same (unscaled) input
    assert float(obj.loss(model, x1, cond, None, mask=3 * weights, generator=torch.Generator().manual_seed(3))) == \
        pytest.approx(float(loss), rel=1e-6)
    g = torch.Generator().manual_seed(3)
    x0 = obj.sample_noise(x1.shape, g)
    t = torch.rand(4, generator=g)
    data = x1 * (weights > 0)
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * data
    err = (model(xt, t, cond) - (data - x0)) ** 2  # (4, 3, 5)
    assert float(loss) == pytest.approx(float((err * weights).sum() / (weights.sum() * 4)), rel=1e-6)
    assert float(binary) == pytest.approx(float(err[..., :4].mean()), rel=1e-6)
    assert float(loss) != pytest.approx(float(binary), rel=1e-3)


def test_padding_never_reaches_the_loss():
    st = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    obj = proav_core.build("objective", "reflected_flow", cond_dropout=0.3)
    x1 = st.stack(random_planes(TINY, batch=3))
    pad = 1 - st.loss_mask()
    seen = []

    def model(x, t, cond):  # mixes every position, and predicts garbage on the padding
        seen.append(x)
        return x.mean(dim=(1, 2, 3, 4), keepdim=True) + 100 * pad * torch.randn_like(x)

    cond, null = torch.randn(3, 1, 4), torch.zeros(3, 1, 4)
    ref = obj.loss(model, x1, cond, null, mask=st.loss_mask(), generator=torch.Generator().manual_seed(1))
    bumped = x1 + 50 * pad * torch.randn_like(x1)
    loss = obj.loss(model, bumped, cond, null, mask=st.loss_mask(), generator=torch.Generator().manual_seed(1))
    assert torch.equal(loss, ref)
    assert torch.equal(seen[0], seen[1])  # the model saw the same input too


def test_interpolant_stays_in_the_box_and_gradients_flow():
    obj = proav_core.build("objective", "reflected_flow", bound=1.0)
    x1 = torch.rand(256, 8) * 2 - 1
    seen = []
    net = torch.nn.Linear(8, 8)

    def model(x, t, cond):
        seen.append(x)
        return net(x)

    obj.loss(model, x1, torch.zeros(256, 1, 1), None).backward()
    assert seen[0].abs().max() <= 1.0 and net.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("p, low, high", [(0.0, 0, 0), (1.0, 1, 1), (0.5, 0.45, 0.55)])
def test_condition_dropout_rate(p, low, high):
    obj = proav_core.build("objective", "reflected_flow", cond_dropout=p)
    cond, null = torch.ones(4000, 2, 3), torch.zeros(4000, 2, 3)
    seen = []

    def model(x, t, c):
        seen.append(c)
        return x

    obj.loss(model, torch.zeros(4000, 2), cond, null)
    dropped = (seen[0] == 0).all(dim=(1, 2)).float().mean()
    assert low <= float(dropped) <= high
    assert ((seen[0] == 0) | (seen[0] == 1)).all()  # whole rows are swapped


def test_data_outside_the_box_is_a_clear_error():
    obj = proav_core.build("objective", "reflected_flow", bound=1.0)
    with pytest.raises(DataError, match=r"outside the box \[-1, 1\].*latent_bound.*objective.bound"):
        obj.loss(lambda x, t, c: x, torch.full((2, 3), 1.5), torch.zeros(2, 1, 1), None)


def test_null_condition_stays_in_the_graph_without_dropout():
    """DDP needs every parameter used each step: the learned null gets a (zero) gradient at p = 0."""
    cond = proav_core.build("conditioner", "class_label", dim=4, classes=["a", "b"])
    obj = proav_core.build("objective", "reflected_flow", cond_dropout=0.0)
    net = torch.nn.Linear(4, 4)
    loss = obj.loss(lambda x, t, c: net(x) + c[:, 0], torch.zeros(2, 4), cond.from_labels(torch.tensor([0, 1])),
                    cond.null(2))
    loss.backward()
    assert cond.null_tokens.grad is not None and cond.null_tokens.grad.abs().sum() == 0


@pytest.mark.parametrize("name", ["reflected_flow", "flow"])
def test_logit_normal_times_are_the_sigmoid_of_a_standard_normal(name):
    obj = proav_core.build("objective", name, time_sampling="logit_normal")
    t = obj.sample_time(100_000, torch.Generator().manual_seed(0), None)
    assert t.shape == (100_000,) and float(t.min()) > 0 and float(t.max()) < 1
    logit = torch.log(t / (1 - t)).double()
    assert abs(float(logit.mean())) < 0.02 and float(logit.std()) == pytest.approx(1.0, abs=0.02)
    uniform = proav_core.build("objective", name).sample_time(100_000, torch.Generator().manual_seed(0), None)
    middle = lambda x: float(((x > 0.25) & (x < 0.75)).float().mean())  # noqa: E731
    assert middle(uniform) == pytest.approx(0.5, abs=0.01)
    assert middle(t) == pytest.approx(math.erf(math.log(3) / math.sqrt(2)), abs=0.01)  # P(|N(0,1)| < logit(0.75))


@pytest.mark.parametrize("name", ["reflected_flow", "flow"])
def test_logit_normal_location_and_scale_shift_the_times(name):
    obj = proav_core.build("objective", name, time_sampling="logit_normal", logit_mean=-0.5, logit_std=0.5)
    t = obj.sample_time(100_000, torch.Generator().manual_seed(0), None)
    logit = torch.log(t / (1 - t)).double()
    assert float(logit.mean()) == pytest.approx(-0.5, abs=0.01) and float(logit.std()) == pytest.approx(0.5, abs=0.01)
    assert float((t < 0.5).float().mean()) == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), abs=0.01)


def test_logit_location_without_logit_normal_times_is_refused():
    with pytest.raises(ParameterError, match="time_sampling = \"logit_normal\""):
        proav_core.build("objective", "reflected_flow", logit_mean=-0.5)
    with pytest.raises(ParameterError, match="logit_std"):
        proav_core.build("objective", "flow", time_sampling="logit_normal", logit_std=0.0)
