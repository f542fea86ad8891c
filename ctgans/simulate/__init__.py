"""Toy IACT simulator: MAGIC stereo events written as ctapipe DL1 files.

Showers are drawn from a power law, imaged by a vectorised numpy model calibrated
to published MAGIC numbers (see the README, "Toy IACT simulator"), cleaned and
parametrised by ctapipe's ``ImageProcessor`` and written by ctapipe's
``DataWriter``, so the files read like real simulations in ctapipe,
dl1-data-handler and CTLearn.
"""

from ctgans.simulate.instrument import magic_subarray
from ctgans.simulate.settings import SimulationSettings
from ctgans.simulate.writer import (
    SimulationStats,
    embedded_settings,
    simulate,
    write_embedded_dataset,
)

__all__ = [
    "SimulationSettings",
    "SimulationStats",
    "embedded_settings",
    "magic_subarray",
    "simulate",
    "write_embedded_dataset",
]
