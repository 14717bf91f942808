"""A toy plugin with one component per wiring role, used by the foundation tests."""

from __future__ import annotations

import types

import pytest
from pydantic import Field

import proav_core
from proav_core import Component, ComponentParams


class ToyAttentionParams(ComponentParams):
    heads: int = Field(4, ge=1, description="attention heads")
    dropout: float = Field(0.0, ge=0, le=1)


class ToyAttention:
    """Toy attention block."""

    def __init__(self, heads: int, dropout: float, dim: int = 0):
        self.heads, self.dropout, self.dim = heads, dropout, dim


class ToyAutoencoderParams(ComponentParams):
    channels: int = Field(4, ge=1)
    temporal: Component["attention"] = "toy_attn"
    cross: Component["attention"] = "toy_attn"


class ToyAutoencoder:
    """Toy autoencoder: fixed plane shapes derived from the clip."""

    modalities = ("video", "audio")
    latent_bound = 3.0

    def __init__(self, channels, temporal, cross, clip):
        self.latent_channels = channels
        self.clip = clip
        self.temporal = proav_core.build_component(temporal, dim=32)
        self.cross = proav_core.build_component(cross, dim=32)

    def plane_shapes(self):
        t, h, w = self.clip.frames, self.clip.height // 8, self.clip.width // 8
        c = self.latent_channels
        shapes = {}
        for m in self.modalities:
            shapes |= {f"{m}_hw": (c, h, w), f"{m}_tw": (c, t, w), f"{m}_th": (c, t, h)}
        return shapes


class ToyStacker:
    """Toy stacker recording the plane shapes it was given."""

    def __init__(self, plane_shapes):
        self.plane_shapes = plane_shapes
        c = next(iter(plane_shapes.values()))[0]
        side = max(max(a, b) for _, a, b in plane_shapes.values())
        self.latent_shape = (c, len(plane_shapes), side, side)


class ToyConditioner:
    """Toy conditioner."""

    dim = 16

    def __init__(self, classes):
        self.classes = classes


class ToyGeneratorParams(ComponentParams):
    depth: int = Field(2, ge=1, description="blocks")


class ToyGenerator:
    """Toy generator recording its wiring."""

    def __init__(self, depth, latent_shape, cond_dim):
        self.depth, self.latent_shape, self.cond_dim = depth, latent_shape, cond_dim


class ToyBoxed:
    """Toy objective or sampler recording the box it was offered."""

    def __init__(self, latent_bound=None):
        self.latent_bound = latent_bound


class ToyDataset:
    """Toy dataset with two classes."""

    classes = ["dog", "drum"]

    def __init__(self, clip, split):
        self.clip, self.split = clip, split

    def __len__(self):
        return 2


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("attention", "toy_attn", ToyAttention, ToyAttentionParams)
    registry.add("autoencoder", "toy_ae", ToyAutoencoder, ToyAutoencoderParams)
    registry.add("stacker", "toy_stack", ToyStacker)
    registry.add("conditioner", "toy_cond", ToyConditioner)
    registry.add("generator", "toy_gen", ToyGenerator, ToyGeneratorParams)
    registry.add("objective", "toy_obj", ToyBoxed)
    registry.add("sampler", "toy_sampler", ToyBoxed)
    registry.add("dataset", "toy_data", ToyDataset)


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """The example plugin pip-installed into a folder, as a user would install it."""
    from .plugin_site import EXAMPLE, pip

    target = tmp_path_factory.mktemp("site")
    pip("install", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLE))
    return target


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path where tests write plugin modules and distributions (plugin_site.py),
    with entry-point autoloading on."""
    from proav_core.plugin_manager import AUTOLOAD_ENV

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    return tmp_path


@pytest.fixture
def toy_plugin(fresh_plugins, monkeypatch):
    """A global registry holding only the toy plugin (registered from Python), so these
    tests do not depend on which built-ins exist."""
    from proav_core import plugin_manager

    isolated = plugin_manager.PluginHost(plugin_manager.RegistryFile(), autoload=False).load()
    monkeypatch.setattr(plugin_manager, "_host", isolated)
    plugin = types.SimpleNamespace(proav_register_components=proav_register_components)
    proav_core.register_plugin(plugin, name="toy")
    return proav_core.get_registry()


TOY_CONFIG = """
name = "toy"
[clip]
frames = 8
height = 64
width = 64
[dataset]
name = "toy_data"
[model.autoencoder]
name = "toy_ae"
channels = 4
temporal = {name = "toy_attn", heads = 2}
[model.stacker]
name = "toy_stack"
[model.conditioner]
name = "toy_cond"
[model.generator]
name = "toy_gen"
depth = 3
[objective]
name = "toy_obj"
[sampler]
name = "toy_sampler"
"""


@pytest.fixture
def toy_config_file(tmp_path, toy_plugin):
    path = tmp_path / "toy.toml"
    path.write_text(TOY_CONFIG)
    return path
