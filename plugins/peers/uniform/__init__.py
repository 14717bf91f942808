"""UniForm (papers/uniform.txt) as the generator `uniform` (model.py)."""

from proav_plugins.peers.uniform.model import proav_register_components

__all__ = ["proav_register_components"]
