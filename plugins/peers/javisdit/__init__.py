"""JavisDiT (papers/javisdit.txt): the generator `javisdit` (model.py, its layers in blocks.py)
and the spatio-temporal prior `hist_sypo` (hist_sypo.py, kind `prior`, registered by its own
module line in registry.toml)."""

from proav_plugins.peers.javisdit.model import proav_register_components

__all__ = ["proav_register_components"]
