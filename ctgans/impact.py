"""The impact distance: how far each telescope is from the shower axis.

In simulation the impact distance sets, at a given energy, how much Cherenkov light
a telescope collects (the light pool's edge) and how far the image lies from its
source (about impact / distance to the shower maximum). A generator that is not
told it has to invent it from its noise, which it does badly; ``data.labels:
[..., impact]`` gives it to the generator and the critic as a condition that no
predictor task reads.

The distance is measured in the shower plane (perpendicular to the true axis),
from the true core on the ground to the telescope's position in ctapipe's
``GroundFrame``, as ctapipe's ``shower_impact_distance`` does for one event.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from ctapipe.coordinates.utils import altaz_to_righthanded_cartesian

__all__ = [
    "IMPACT_COLUMN",
    "core_at_impact",
    "impact_distance",
    "telescope_positions",
]

#: The label column (metres), per telescope image.
IMPACT_COLUMN = "true_impact_distance"


def telescope_positions(subarray, tel_ids) -> np.ndarray:
    """``(n, 3)`` ground positions (m) of the telescopes ``tel_ids``."""
    tel_ids = np.asarray(tel_ids, np.int64)
    out = np.empty((len(tel_ids), 3))
    for tel in np.unique(tel_ids):
        out[tel_ids == tel] = subarray.positions[int(tel)].to_value(u.m)
    return out


def _axis(alt_rad, az_rad) -> np.ndarray:
    """Unit vectors toward the source, GroundFrame (x north, y west, z up)."""
    return np.asarray(
        altaz_to_righthanded_cartesian(
            alt=u.Quantity(alt_rad, u.rad), az=u.Quantity(az_rad, u.rad)
        )
    ).reshape(-1, 3)


def impact_distance(core_x_m, core_y_m, alt_rad, az_rad, positions) -> np.ndarray:
    """Distance (m) of each telescope from its shower's axis.

    Parameters
    ----------
    core_x_m, core_y_m : array of shape (n,)
        True core on the ground, GroundFrame.
    alt_rad, az_rad : array of shape (n,)
        True direction of the shower.
    positions : array of shape (n, 3)
        Each row's telescope position, GroundFrame (:func:`telescope_positions`).
    """
    core = np.stack([core_x_m, core_y_m, np.zeros(len(core_x_m))], axis=1)
    axis = _axis(alt_rad, az_rad)
    return np.linalg.norm(np.cross(positions - core, axis), axis=1)


def core_at_impact(impact_m, alt_rad, az_rad, positions, rng) -> tuple:
    """Ground cores at ``impact_m`` from each telescope, at a random angle.

    The exact inverse of :func:`impact_distance`: a point at that distance from
    the telescope in the shower plane, in a direction drawn uniformly around the
    axis, moved along the axis to the ground.

    Returns
    -------
    (core_x_m, core_y_m) : arrays of shape (n,)
    """
    axis = _axis(alt_rad, az_rad)
    up = np.broadcast_to([0.0, 0.0, 1.0], axis.shape)
    first = np.cross(axis, up)
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    second = np.cross(axis, first)
    phi = rng.uniform(0.0, 2 * np.pi, size=len(axis))[:, np.newaxis]
    offset = np.asarray(impact_m, np.float64)[:, np.newaxis] * (
        np.cos(phi) * first + np.sin(phi) * second
    )
    point = positions + offset
    core = point - (point[:, 2:3] / axis[:, 2:3]) * axis
    return core[:, 0], core[:, 1]
