"""AV-DiT (papers/av-dit.txt) as the generator `av_dit`: model.py (the network, its factory and
the backbone loading of the two-step recipe) and parts.py (the inserted parts)."""

from proav_plugins.peers.av_dit.model import proav_register_components

__all__ = ["proav_register_components"]
