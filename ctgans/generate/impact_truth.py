"""Cores of sampled mono events for a run conditioned on the impact distance.

A run with the ``impact`` label (:mod:`ctgans.impact`) makes each image for an
impact distance, so a sampled event needs one, drawn as simulation would have it
*after* the trigger and the quality cuts: the impact distance of a selected
training image of similar energy (uniformly among the ``window`` nearest in log
energy; :func:`~ctgans.generate.stereo_truth.similar_energy`), which follows the
training distribution, including its growth with energy. The written core is then
placed at that distance from the event's telescope, in a direction drawn uniformly
around the shower axis (:func:`ctgans.impact.core_at_impact`), so that the
impact distance dl1-data-handler computes from the file is the one the generator
was given.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ctgans.generate.labels import Truth
from ctgans.generate.stereo_truth import CORE_WINDOW, similar_energy
from ctgans.impact import core_at_impact, telescope_positions

__all__ = ["sample_impact_cores"]


def sample_impact_cores(
    truth: Truth,
    pool_energy_tev: np.ndarray,
    pool_impact_m: np.ndarray,
    subarray,
    rng: np.random.Generator,
    window: int = CORE_WINDOW,
) -> Truth:
    """``truth`` with cores at the impact distance of a pool image of similar energy.

    Parameters
    ----------
    truth : Truth
        Sampled events, one row per telescope image.
    pool_energy_tev, pool_impact_m : array of shape (n_pool,)
        Energy and impact distance of selected simulated images (per telescope, as
        dl1-data-handler reads them; :func:`~ctgans.generate.labels.truth_impact`).
    subarray : ctapipe.instrument.SubarrayDescription
        Telescope positions.
    rng : numpy.random.Generator
        Source of the draws.
    window : int
        Number of nearest-energy pool images to draw from.
    """
    chosen = similar_energy(truth.energy_tev, pool_energy_tev, rng, window)
    core_x, core_y = core_at_impact(
        pool_impact_m[chosen],
        truth.alt_rad,
        truth.az_rad,
        telescope_positions(subarray, truth.tel_id),
        rng,
    )
    return replace(truth, core_x_m=core_x, core_y_m=core_y)
