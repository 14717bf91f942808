"""proav_core.testing, the contract checks plugin authors run: each kind has one, a faulty
component fails with its name and the fault, and `contract_tests` makes one pytest case per
component of a plugin (or one failing case that says why it has none)."""

from __future__ import annotations

import types

import pytest
import torch
from pydantic import Field

import proav_core
from proav_core.interfaces import KINDS
from proav_core.testing import CONTRACTS, check_component, components_of, contract_tests


def test_every_kind_has_a_contract():
    assert set(CONTRACTS) == set(KINDS)


class NoisySampler:
    """A sampler that ignores its x0 (not deterministic)."""

    def __call__(self, velocity, x0, *, cond, null_cond=None, cfg_scale=1.0, callback=None):
        if callback is not None:
            callback(0, 1.0, x0)
        return x0 + torch.randn_like(x0)


class LossyStacker:
    """A stacker whose unstack loses the audio planes."""

    def __init__(self, plane_shapes):
        self.shapes = dict(plane_shapes)
        self.latent_shape = (sum(c * a * b for c, a, b in self.shapes.values()),)

    def stack(self, planes):
        return torch.cat([planes[k].flatten(1) for k in self.shapes], dim=1)

    def unstack(self, latent):
        return {k: torch.zeros(latent.shape[0], *s) for k, s in self.shapes.items()}

    def loss_mask(self):
        return torch.ones(self.latent_shape)


class PoolingBlock(torch.nn.Module):
    """An attention block that pools away the last axis (changes the shape)."""

    def __init__(self):  # nn.Module's own __init__ takes **kwargs: it would be offered all context
        super().__init__()

    def forward(self, video, audio):
        return (None if video is None else video.mean(-1)), (None if audio is None else audio.mean(-1))


class EagerMetric:
    """A metric that reports a figure without any data."""

    inputs = frozenset({"video"})
    needs_real = False

    def reset(self):
        pass

    def update(self, batch, role="fake"):
        pass

    def compute(self):
        return proav_core.interfaces.MetricResult("eager", 0.0)


class MeanOnlyPrior(torch.nn.Module):
    """A prior whose `sample` draws nothing: it returns the mean."""

    num_spatial, num_temporal, prior_dim = 2, 1, 4

    def __init__(self):  # nn.Module's own __init__ takes **kwargs: it would be offered all context
        super().__init__()
        self.proj = torch.nn.Linear(8, 3 * 4 * 2)

    def distribution(self, cond):
        return self.proj(cond.mean(1)).view(-1, 3, 4, 2).unbind(-1)

    def mean(self, cond):
        return self.distribution(cond)[0]

    def sample(self, cond, generator=None):
        return self.mean(cond)

    def loss(self, latent, cond, generator=None):
        return self.mean(cond).pow(2).mean()

    def sync_distance(self, latent, cond):
        return self.mean(cond).mean((1, 2))


@pytest.mark.parametrize(("kind", "name", "factory", "fault"), [
    ("prior", "mean_only", MeanOnlyPrior, "prior 'mean_only': sample equals the mean: nothing is drawn"),
    ("sampler", "noisy", NoisySampler, "sampler 'noisy': two runs from the same x0 differ"),
    ("stacker", "lossy", LossyStacker, "stacker 'lossy': unstack(stack(planes)) differs from the planes"),
    ("attention", "pooling", PoolingBlock, "attention 'pooling': plane: output shapes"),
    ("metric", "eager", EagerMetric, "metric 'eager': without data compute() must give value None"),
])
def test_a_faulty_component_fails_its_contract_with_its_name_and_fault(fresh_plugins, kind, name, factory, fault):
    proav_core.register_component(kind, name, factory)
    with pytest.raises(AssertionError, match=fault.replace("(", r"\(").replace(")", r"\)")):
        check_component(kind, name)


def test_built_in_components_pass_the_same_checks():
    check_component("sampler", "reflected_flow", steps=3)
    check_component("attention", "gcm_attn", heads=2)


def test_undocumented_parameters_and_missing_summaries_fail(fresh_plugins):
    class Params(proav_core.ComponentParams):
        threshold: float = 0.5  # no Field(description=...)

    def terse(threshold):
        """A sampler with an undocumented parameter."""

    proav_core.register_component("sampler", "terse", terse, Params)
    with pytest.raises(AssertionError, match="sampler 'terse': parameters without a description.*threshold"):
        check_component("sampler", "terse")
    proav_core.register_component("sampler", "silent", lambda: None, summary="")
    with pytest.raises(AssertionError, match="sampler 'silent': has no summary"):
        check_component("sampler", "silent")


class RootParams(proav_core.ComponentParams):
    root: str = Field(description="folder of clips")


def test_a_required_parameter_must_be_named_when_missing(fresh_plugins):
    def folder_dataset(root, clip, split="train"):
        """A dataset that needs a folder."""
        raise AssertionError("not reached without a root")

    proav_core.register_component("dataset", "needs_root", folder_dataset, RootParams)
    check_component("dataset", "needs_root")  # only checks that building without root names it


def test_contract_tests_make_one_case_per_component_of_a_plugin(fresh_plugins):
    plugin = types.SimpleNamespace(proav_register_components=proav_core.hookimpl(
        lambda registry: registry.add("sampler", "mine", NoisySampler)))
    proav_core.register_plugin(plugin, name="mine_plugin")
    assert [(s.kind, s.name) for s in components_of("mine_plugin")] == [("sampler", "mine")]
    test = contract_tests("mine_plugin")
    (mark,) = test.pytestmark
    assert mark.args == (("kind", "name"), [("sampler", "mine")])
    with pytest.raises(AssertionError, match="two runs from the same x0 differ"):
        test("sampler", "mine")


def test_contract_tests_of_a_plugin_without_components_fail_and_say_why(fresh_plugins):
    def proav_register_components(registry):  # no @hookimpl
        registry.add("sampler", "never", NoisySampler)

    proav_core.register_plugin(types.SimpleNamespace(proav_register_components=proav_register_components),
                               name="forgetful")
    test = contract_tests("forgetful")
    with pytest.raises(AssertionError, match="plugin 'forgetful' registered no components.*not marked"):
        test()
