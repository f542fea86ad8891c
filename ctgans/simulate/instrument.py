"""The MAGIC stereo system as a ctapipe subarray, plus plain-numpy sky geometry.

Directions are handled as unit vectors in the horizontal (AltAz) cartesian system
of astropy: x north, y east, z up. ctapipe's ground frame has y pointing west, so
ground positions enter with their y flipped.
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation
from ctapipe.coordinates import CameraFrame
from ctapipe.instrument import (
    CameraDescription,
    CameraGeometry,
    CameraReadout,
    OpticsDescription,
    ReflectorShape,
    SizeType,
    SubarrayDescription,
    TelescopeDescription,
)

__all__ = [
    "EFFECTIVE_FOCAL_LENGTH_M",
    "MAGIC_LOCATION",
    "TEL_POSITIONS_M",
    "altaz_to_unit",
    "camera_geometry",
    "magic_subarray",
    "telescope_frame_matrix",
    "unit_to_fov",
]

EQUIVALENT_FOCAL_LENGTH_M = 16.97
EFFECTIVE_FOCAL_LENGTH_M = 17.24
MIRROR_AREA_M2 = 236.0
SAMPLING_RATE_GHZ = 1.64

#: Roque de los Muchachos, La Palma.
MAGIC_LOCATION = EarthLocation(
    lon=-17.8905 * u.deg, lat=28.7615 * u.deg, height=2200 * u.m
)

#: Ground-frame positions (x north, y west, z up) of M1 and M2 in metres.
TEL_POSITIONS_M = {1: (35.25, -23.99, 0.0), 2: (-35.25, 23.99, 0.0)}


@lru_cache(maxsize=1)
def _geometry_table():
    from astropy.table import Table

    resource = (
        importlib.resources.files("ctgans.resources") / "MAGICCam.camgeom.fits.gz"
    )
    with importlib.resources.as_file(resource) as path:
        return Table.read(path)


def camera_geometry() -> CameraGeometry:
    """Return the MAGIC camera geometry, with its frame's focal length set.

    Returns
    -------
    ctapipe.instrument.CameraGeometry
        1039 hexagonal pixels, ``frame = CameraFrame(focal_length=17.24 m)``.
    """
    geom = CameraGeometry.from_table(_geometry_table().copy())
    geom.frame = CameraFrame(focal_length=EFFECTIVE_FOCAL_LENGTH_M * u.m)
    return geom


def _readout() -> CameraReadout:
    # A unit-area Gaussian pulse: only its presence matters at DL1.
    width_ns = 1.0 / SAMPLING_RATE_GHZ
    t = np.arange(0, 20, width_ns)
    pulse = np.exp(-0.5 * ((t - 5.0) / 1.2) ** 2)
    return CameraReadout(
        name="MAGICCam",
        sampling_rate=SAMPLING_RATE_GHZ * u.GHz,
        reference_pulse_shape=(pulse / pulse.sum())[np.newaxis, :],
        reference_pulse_sample_width=width_ns * u.ns,
        n_channels=1,
        n_pixels=1039,
        n_samples=50,
    )


def magic_subarray() -> SubarrayDescription:
    """Build the two-telescope MAGIC subarray (tel ids 1 and 2).

    Returns
    -------
    ctapipe.instrument.SubarrayDescription
        Telescope type ``LST_MAGIC_MAGICCam``, at La Palma, ~85 m apart.
    """
    optics = OpticsDescription(
        name="MAGIC",
        size_type=SizeType.LST,
        n_mirrors=1,
        equivalent_focal_length=EQUIVALENT_FOCAL_LENGTH_M * u.m,
        effective_focal_length=EFFECTIVE_FOCAL_LENGTH_M * u.m,
        mirror_area=MIRROR_AREA_M2 * u.m**2,
        n_mirror_tiles=247,
        reflector_shape=ReflectorShape.PARABOLIC,
    )
    camera = CameraDescription(
        name="MAGICCam", geometry=camera_geometry(), readout=_readout()
    )
    telescope = TelescopeDescription(name="MAGIC", optics=optics, camera=camera)
    return SubarrayDescription(
        name="MAGIC",
        tel_positions={tel_id: pos * u.m for tel_id, pos in TEL_POSITIONS_M.items()},
        tel_descriptions={tel_id: telescope for tel_id in TEL_POSITIONS_M},
        reference_location=MAGIC_LOCATION,
    )


def altaz_to_unit(alt_rad, az_rad) -> np.ndarray:
    """Unit vectors (..., 3) of horizontal directions, x north, y east, z up."""
    alt_rad = np.asarray(alt_rad, dtype=float)
    az_rad = np.asarray(az_rad, dtype=float)
    cos_alt = np.cos(alt_rad)
    return np.stack(
        [cos_alt * np.cos(az_rad), cos_alt * np.sin(az_rad), np.sin(alt_rad)], axis=-1
    )


def unit_to_altaz(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`altaz_to_unit`: (alt, az) in radians, az in [0, 2 pi)."""
    alt = np.arcsin(np.clip(vectors[..., 2], -1.0, 1.0))
    az = np.mod(np.arctan2(vectors[..., 1], vectors[..., 0]), 2 * np.pi)
    return alt, az


def telescope_frame_matrix(pointing_alt_rad: float, pointing_az_rad: float):
    """Rotation from horizontal unit vectors to ctapipe's TelescopeFrame.

    The same matrices as ``ctapipe.coordinates.telescope_frame`` (astropy's
    passive ``rotation_matrix``): first about z by the azimuth, then about y by
    minus the altitude.
    """
    ca, sa = np.cos(pointing_az_rad), np.sin(pointing_az_rad)
    rot_z = np.array([[ca, sa, 0.0], [-sa, ca, 0.0], [0.0, 0.0, 1.0]])
    cl, sl = np.cos(-pointing_alt_rad), np.sin(-pointing_alt_rad)
    rot_y = np.array([[cl, 0.0, -sl], [0.0, 1.0, 0.0], [sl, 0.0, cl]])
    return rot_y @ rot_z


def unit_to_fov(vectors: np.ndarray, matrix: np.ndarray):
    """TelescopeFrame ``(fov_lon, fov_lat)`` in radians of horizontal unit vectors.

    With zero camera rotation, ctapipe's CameraFrame has ``x = fov_lat * f`` and
    ``y = fov_lon * f``.
    """
    local = vectors @ matrix.T
    fov_lon = np.arctan2(local[..., 1], local[..., 0])
    fov_lat = np.arcsin(np.clip(local[..., 2], -1.0, 1.0))
    return fov_lon, fov_lat


def fov_to_unit(fov_lon, fov_lat, matrix: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unit_to_fov`: horizontal unit vectors of FoV offsets."""
    local = altaz_to_unit(fov_lat, fov_lon)
    return local @ matrix
