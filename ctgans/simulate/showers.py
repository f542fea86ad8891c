"""Truth of thrown showers and their geometry as seen by each telescope.

Everything is drawn for all showers of a run at once, with plain numpy and an
explicit ``rng``, so that a run is reproducible from its seed and cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctgans.simulate.instrument import (
    EFFECTIVE_FOCAL_LENGTH_M,
    TEL_POSITIONS_M,
    altaz_to_unit,
    telescope_frame_matrix,
    unit_to_altaz,
    unit_to_fov,
)
from ctgans.simulate.settings import SimulationSettings

__all__ = ["ShowerGeometry", "ShowerTruth", "sample_showers", "shower_geometry"]

SITE_ALTITUDE_M = 2200.0
# Isothermal atmosphere: vertical depth X(h) = X_SEA * exp(-h / SCALE_HEIGHT).
X_SEA_GCM2 = 1035.0
SCALE_HEIGHT_M = 8400.0
RADIATION_LENGTH_GCM2 = 36.7
CRITICAL_ENERGY_TEV = 85e-6
PROTON_INTERACTION_LENGTH_GCM2 = 85.0
#: Positions of the four wobble pointings around the source, in degrees of the
#: camera position angle (fov_lon axis = 0 degrees).
WOBBLE_ANGLES_DEG = (0.0, 90.0, 180.0, 270.0)


@dataclass(frozen=True)
class ShowerTruth:
    """Simulated truth of ``n`` thrown showers (arrays of shape ``(n,)``)."""

    energy_tev: np.ndarray
    alt_rad: np.ndarray
    az_rad: np.ndarray
    core_x_m: np.ndarray
    core_y_m: np.ndarray
    h_first_int_m: np.ndarray
    x_max_gcm2: np.ndarray

    def __len__(self) -> int:
        return len(self.energy_tev)


@dataclass(frozen=True)
class ShowerGeometry:
    """What each telescope sees of each shower (arrays of shape ``(n, n_tel)``).

    Camera positions are in metres in ctapipe's CameraFrame (no rotation):
    ``x = fov_lat * f``, ``y = fov_lon * f``.
    """

    tel_ids: tuple[int, ...]
    impact_m: np.ndarray
    source_x: np.ndarray
    source_y: np.ndarray
    cog_x: np.ndarray
    cog_y: np.ndarray
    distance_to_max_m: np.ndarray


def sample_power_law(rng, n, e_min, e_max, index):
    """Draw ``n`` energies from ``dN/dE ~ E**index`` on ``[e_min, e_max]``."""
    u = rng.uniform(size=n)
    if abs(index + 1.0) < 1e-9:
        return e_min * (e_max / e_min) ** u
    a = index + 1.0
    return (e_min**a + u * (e_max**a - e_min**a)) ** (1.0 / a)


def _sample_directions(settings, rng, n):
    """Alt/az (radians) of ``n`` shower directions around the pointing."""
    matrix = telescope_frame_matrix(
        np.deg2rad(settings.pointing_alt_deg), np.deg2rad(settings.pointing_az_deg)
    )
    if settings.fixed_labels:
        labels = np.asarray(settings.fixed_labels)
        grid = labels[np.arange(n) % len(labels)]
        theta, phi = np.deg2rad(grid[:, 1]), np.deg2rad(grid[:, 2])
    elif settings.is_diffuse:
        # Uniform on the spherical cap of the view cone.
        cos_max = np.cos(np.deg2rad(settings.diffuse_radius_deg))
        theta = np.arccos(1.0 - rng.uniform(size=n) * (1.0 - cos_max))
        phi = rng.uniform(0.0, 2 * np.pi, size=n)
    else:
        theta = np.full(n, np.deg2rad(settings.wobble_offset_deg))
        phi = np.deg2rad(np.asarray(WOBBLE_ANGLES_DEG))[rng.integers(0, 4, size=n)]
    # Unit vectors in the pointing-centred (TelescopeFrame) cartesian system,
    # rotated back to the horizontal system.
    local = np.stack(
        [np.cos(theta), np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi)],
        axis=-1,
    )
    return unit_to_altaz(local @ matrix)


def _slant_depth_to_height(depth_gcm2, cos_zenith):
    vertical = np.clip(depth_gcm2 * cos_zenith, 1e-3, None)
    return -SCALE_HEIGHT_M * np.log(vertical / X_SEA_GCM2)


def sample_showers(settings: SimulationSettings, rng: np.random.Generator):
    """Draw the truth of ``settings.n_events`` showers.

    With fixed labels (``settings.fixed_labels``), shower ``i`` gets label
    ``i % n_labels`` (energy and direction); everything else is drawn as usual.

    Parameters
    ----------
    settings : SimulationSettings
        Particle, spectrum, direction and core settings.
    rng : numpy.random.Generator
        Source of every random draw.

    Returns
    -------
    ShowerTruth
        Energies (TeV), directions (rad), cores in the ground frame (m, x north,
        y west), height of first interaction (m a.s.l.) and slant depth of the
        shower maximum (g/cm^2).
    """
    n = settings.n_events
    energy = sample_power_law(
        rng,
        n,
        settings.energy_min_tev,
        settings.energy_max_tev,
        settings.spectral_index,
    )
    if settings.fixed_labels:  # drawn anyway: the later draws keep their seeds
        labels = np.asarray(settings.fixed_labels)
        energy = labels[np.arange(n) % len(labels), 0]
    alt, az = _sample_directions(settings, rng, n)
    radius = settings.max_impact_m * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0.0, 2 * np.pi, size=n)
    core_x, core_y = radius * np.cos(phi), radius * np.sin(phi)

    cos_zenith = np.sin(alt)
    ground_depth = X_SEA_GCM2 * np.exp(-SITE_ALTITUDE_M / SCALE_HEIGHT_M) / cos_zenith
    if settings.particle == "gamma":
        first = rng.exponential(9.0 / 7.0 * RADIATION_LENGTH_GCM2, size=n)
        x_max = first + RADIATION_LENGTH_GCM2 * (
            np.log(energy / CRITICAL_ENERGY_TEV) - 1.2
        )
        x_max += rng.normal(0.0, 15.0, size=n)
    else:
        first = rng.exponential(PROTON_INTERACTION_LENGTH_GCM2, size=n)
        x_max = first + 340.0 + 55.0 * np.log10(energy) + rng.normal(0.0, 40.0, size=n)
    x_max = np.clip(x_max, first + 20.0, 0.9 * ground_depth)
    h_first = _slant_depth_to_height(first, cos_zenith)
    return ShowerTruth(
        energy_tev=energy,
        alt_rad=alt,
        az_rad=az,
        core_x_m=core_x,
        core_y_m=core_y,
        h_first_int_m=h_first,
        x_max_gcm2=x_max,
    )


def shower_geometry(settings: SimulationSettings, truth: ShowerTruth):
    """Impact distance, source and shower-maximum camera positions per telescope.

    The image of the shower maximum is where the telescope sees the point of the
    shower axis at the height of the maximum; it lies on the line from the source
    position along the direction of the core seen from the telescope, at an angle
    of about impact / distance to the maximum.

    Parameters
    ----------
    settings : SimulationSettings
        Gives the pointing.
    truth : ShowerTruth
        The thrown showers.

    Returns
    -------
    ShowerGeometry
    """
    matrix = telescope_frame_matrix(
        np.deg2rad(settings.pointing_alt_deg), np.deg2rad(settings.pointing_az_deg)
    )
    focal = EFFECTIVE_FOCAL_LENGTH_M
    axis = altaz_to_unit(truth.alt_rad, truth.az_rad)  # (n, 3), toward the source
    cos_zenith = axis[:, 2]
    h_max = _slant_depth_to_height(truth.x_max_gcm2, cos_zenith)
    distance = (h_max - SITE_ALTITUDE_M) / cos_zenith  # from the core along the axis
    # Ground frame has y west; horizontal cartesian has y east.
    core = np.stack([truth.core_x_m, -truth.core_y_m, np.zeros(len(truth))], axis=-1)
    shower_max = core + distance[:, np.newaxis] * axis

    src_lon, src_lat = unit_to_fov(axis, matrix)
    tel_ids = tuple(sorted(TEL_POSITIONS_M))
    columns = {"impact": [], "cog_x": [], "cog_y": [], "dist": []}
    for tel_id in tel_ids:
        x, y, z = TEL_POSITIONS_M[tel_id]
        tel = np.array([x, -y, z])
        to_core = core - tel
        along = np.sum(to_core * axis, axis=1)
        perp = to_core - along[:, np.newaxis] * axis
        columns["impact"].append(np.linalg.norm(perp, axis=1))
        sight = shower_max - tel
        dist = np.linalg.norm(sight, axis=1)
        lon, lat = unit_to_fov(sight / dist[:, np.newaxis], matrix)
        columns["cog_x"].append(lat * focal)
        columns["cog_y"].append(lon * focal)
        columns["dist"].append(dist)
    return ShowerGeometry(
        tel_ids=tel_ids,
        impact_m=np.stack(columns["impact"], axis=1),
        source_x=np.repeat((src_lat * focal)[:, np.newaxis], len(tel_ids), axis=1),
        source_y=np.repeat((src_lon * focal)[:, np.newaxis], len(tel_ids), axis=1),
        cog_x=np.stack(columns["cog_x"], axis=1),
        cog_y=np.stack(columns["cog_y"], axis=1),
        distance_to_max_m=np.stack(columns["dist"], axis=1),
    )
