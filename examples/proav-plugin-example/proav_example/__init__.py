"""A third-party proav plugin: the metric `example_motion_energy` and the sampler
`example_midpoint`. Its entry point (pyproject.toml) names this module; proav calls the hook
below once, at start-up, and configs can then name both components."""

import proav_core
from proav_example.midpoint import MidpointParams, MidpointSampler
from proav_example.motion_energy import MotionEnergy, MotionEnergyParams


@proav_core.hookimpl
def proav_register_components(registry):
    registry.add("metric", "example_motion_energy", MotionEnergy, MotionEnergyParams)
    registry.add("sampler", "example_midpoint", MidpointSampler, MidpointParams)
