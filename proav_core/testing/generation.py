"""Contracts of the generation kinds: stacker, conditioner, generator, objective, sampler
(interfaces: proav_core.interfaces.generation)."""

from __future__ import annotations

from typing import Any

import torch

from proav_core.errors import ConfigError
from proav_core.interfaces import Conditioner, Generator, Objective, PriorEstimator, Sampler, Stacker
from proav_core.plugin_manager import get_registry
from proav_core.testing.common import TINY_PLANES, VIDEO_ONLY_PLANES, expect, make, random_planes


def check_stacker(name: str, **params: Any) -> None:
    """Both plane sets (two streams, one stream with H' != W'): stack -> (B, *latent_shape),
    loss_mask (*latent_shape), unstack is the exact inverse."""
    for shapes in (TINY_PLANES, VIDEO_ONLY_PLANES):
        st = make("stacker", name, params, plane_shapes=shapes)
        expect(isinstance(st, Stacker), "stacker", name, "does not satisfy the Stacker protocol")
        planes = random_planes(shapes)
        latent = st.stack(planes)
        expect(latent.shape == (2, *st.latent_shape), "stacker", name,
               f"stack gave {tuple(latent.shape)}, latent_shape says {(2, *st.latent_shape)}")
        expect(tuple(st.loss_mask().shape) == tuple(st.latent_shape), "stacker", name, "loss_mask shape")
        back = st.unstack(latent)
        expect(set(back) == set(planes) and all(torch.equal(v, planes[k]) for k, v in back.items()),
               "stacker", name, f"unstack(stack(planes)) differs from the planes ({sorted(shapes)})")


def check_conditioner(name: str, **params: Any) -> None:
    """null(B), from_labels and from_prompts all give (B, L, dim) with the same L."""
    cond = make("conditioner", name, params, classes=["dog", "drum"])
    expect(isinstance(cond, Conditioner), "conditioner", name, "does not satisfy the Conditioner protocol")
    null = cond.null(3)
    expect(null.dim() == 3 and null.shape[0] == 3 and null.shape[2] == cond.dim, "conditioner", name,
           f"null(3) is {tuple(null.shape)}, expected (3, L, {cond.dim})")
    prompts = ["a video of dog", "drum"] if cond.classes else ["", ""]
    for tokens in (cond.from_labels(torch.tensor([0, 1])), cond.from_prompts(prompts)):
        expect(tokens.shape == (2, *null.shape[1:]), "conditioner", name,
               f"condition tokens {tuple(tokens.shape)}, expected {(2, *null.shape[1:])}")


def check_generator(name: str, **params: Any) -> None:
    """On the meta device (no memory, any size): with some registered stacker's latent,
    forward(x (B, *latent), t (B,), cond (B, 1, 8)) -> (B, *latent)."""
    built = []
    stackers = get_registry().names("stacker")
    for stacker_name in stackers:
        st = make("stacker", stacker_name, {}, plane_shapes=TINY_PLANES)
        try:
            with torch.device("meta"):
                gen = make("generator", name, params, latent_shape=st.latent_shape, cond_dim=8, stacker=st)
        except ConfigError:  # this generator does not work on this stacker's layout
            continue
        expect(isinstance(gen, Generator), "generator", name, "does not satisfy the Generator protocol")
        with torch.device("meta"):
            out = gen(torch.empty(2, *st.latent_shape), torch.rand(2), torch.empty(2, 1, 8))
        expect(out.shape == (2, *st.latent_shape), "generator", name,
               f"output {tuple(out.shape)} for latent {(2, *st.latent_shape)} (stacker {stacker_name})")
        built.append(stacker_name)
    expect(built, "generator", name, f"accepts none of the stackers {stackers}")


def check_prior(name: str, **params: Any) -> None:
    """With some registered stacker's latent of the tiny planes: distribution gives mean and
    log variance (B, P, D_p), P = num_spatial + num_temporal; sample is reproducible from a
    torch.Generator and differs from the mean; loss is a finite scalar whose gradient reaches
    the estimator; sync_distance is (B,)."""
    built = []
    for stacker_name in get_registry().names("stacker"):
        st = make("stacker", stacker_name, {}, plane_shapes=TINY_PLANES)
        try:
            prior = make("prior", name, params, cond_dim=8, stacker=st)
        except ConfigError:  # this prior does not work on this stacker's layout
            continue
        expect(isinstance(prior, PriorEstimator), "prior", name, "does not satisfy the PriorEstimator protocol")
        cond = torch.randn(2, 3, 8)
        shape = (2, prior.num_spatial + prior.num_temporal, prior.prior_dim)
        mean, logvar = prior.distribution(cond)
        expect(mean.shape == shape and logvar.shape == shape, "prior", name,
               f"distribution gave {tuple(mean.shape)}, {tuple(logvar.shape)}; expected {shape} each")
        a = prior.sample(cond, generator=torch.Generator().manual_seed(0))
        b = prior.sample(cond, torch.Generator().manual_seed(0))
        expect(a.shape == shape and torch.equal(a, b), "prior", name, "sample is not reproducible")
        expect(not torch.allclose(a, prior.mean(cond)), "prior", name, "sample equals the mean: nothing is drawn")
        latent = torch.rand(2, *st.latent_shape) * 2 - 1
        loss = prior.loss(latent, cond, generator=torch.Generator().manual_seed(0))
        loss.backward()
        expect(loss.dim() == 0 and torch.isfinite(loss), "prior", name, f"loss is not a finite scalar: {loss}")
        expect(any(p.grad is not None and p.grad.abs().sum() > 0 for p in prior.parameters()), "prior", name,
               "no gradient reaches the estimator")
        expect(prior.sync_distance(latent, cond).shape == (2,), "prior", name, "sync_distance is not (B,)")
        built.append(stacker_name)
    expect(built, "prior", name, f"accepts none of the stackers {get_registry().names('stacker')}")


def check_objective(name: str, **params: Any) -> None:
    """sample_noise is reproducible from a torch.Generator; loss is a finite scalar whose
    gradient reaches the model."""
    obj = make("objective", name, params)
    expect(isinstance(obj, Objective), "objective", name, "does not satisfy the Objective protocol")
    a = obj.sample_noise((2, 3, 4), generator=torch.Generator().manual_seed(0))
    b = obj.sample_noise((2, 3, 4), torch.Generator().manual_seed(0))
    expect(a.shape == (2, 3, 4) and torch.equal(a, b), "objective", name, "sample_noise is not reproducible")
    net = torch.nn.Linear(4, 4)
    x1 = torch.rand(2, 3, 4) * 2 - 1
    loss = obj.loss(lambda x, t, c: net(x), x1, torch.ones(2, 1, 2), torch.zeros(2, 1, 2), mask=torch.ones(3, 4))
    loss.backward()
    expect(loss.dim() == 0 and torch.isfinite(loss), "objective", name, f"loss is not a finite scalar: {loss}")
    expect(net.weight.grad is not None and net.weight.grad.abs().sum() > 0, "objective", name,
           "no gradient reaches the model")


def check_sampler(name: str, **params: Any) -> None:
    """x0 (B, *S) -> (B, *S), deterministic, with classifier-free guidance; callback(i, t, x)
    after every step with t rising to 1."""
    sampler = make("sampler", name, params)
    expect(isinstance(sampler, Sampler), "sampler", name, "does not satisfy the Sampler protocol")
    net = torch.nn.Linear(4, 4)
    seen: list[float] = []

    def velocity(x, t, c):
        return torch.tanh(net(x)) + c[:, 0, :1]

    x0 = torch.rand(3, 4) - 0.5
    kwargs = dict(cond=torch.ones(3, 1, 2), null_cond=torch.zeros(3, 1, 2), cfg_scale=2.0)
    with torch.no_grad():
        out = sampler(velocity, x0, callback=lambda i, t, x: seen.append(t), **kwargs)
        again = sampler(velocity, x0, **kwargs)
    expect(out.shape == x0.shape, "sampler", name, f"output {tuple(out.shape)} for x0 {tuple(x0.shape)}")
    expect(torch.equal(out, again), "sampler", name, "two runs from the same x0 differ")
    expect(seen and abs(seen[-1] - 1.0) < 1e-6 and seen == sorted(seen), "sampler", name,
           f"callback times must rise to 1, got {seen}")
