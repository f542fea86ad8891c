"""Image parameters of camera images: the physics features the metrics compare.

Each image is cleaned with its camera's tailcuts (:mod:`ctgans.cameras`, the
settings its DL1 file is written with) and parametrised as ctapipe's DL1
image processor does (Hillas, leakage, concentration, morphology). Features are
named like ctapipe's DL1 parameter columns. Lengths are in the unit of the pixel
positions of the geometry given (metres for the MAGIC geometry in its camera
frame); pass ``geometry.transform_to(TelescopeFrame())`` (the geometry's frame
needs its focal length) to get degrees. ``hillas_x``/``hillas_y`` (and ``psi``) are
along the geometry's ``pix_x``/``pix_y`` axes: ``fov_lon``/``fov_lat`` in degrees.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from ctapipe.containers import CameraHillasParametersContainer
from ctapipe.image import (
    concentration_parameters,
    hillas_parameters,
    leakage_parameters,
    number_of_islands,
)
from ctapipe.image.hillas import HillasParameterizationError
from ctapipe.instrument import CameraGeometry

from ctgans.cameras import CameraSettings, camera_settings

__all__ = [
    "FEATURE_NAMES",
    "KPD_FEATURES",
    "MIN_PIXELS",
    "feature_matrix",
    "image_features",
]

#: Images with fewer surviving pixels after cleaning get NaN for every feature.
MIN_PIXELS = 3

#: Every key returned by :func:`image_features`, in a fixed order.
FEATURE_NAMES = (
    "hillas_intensity",
    "hillas_x",
    "hillas_y",
    "hillas_r",
    "hillas_phi",
    "hillas_length",
    "hillas_width",
    "hillas_psi",
    "hillas_skewness",
    "hillas_kurtosis",
    "leakage_pixels_width_1",
    "leakage_pixels_width_2",
    "leakage_intensity_width_1",
    "leakage_intensity_width_2",
    "concentration_cog",
    "concentration_core",
    "concentration_pixel",
    "morphology_n_pixels",
    "morphology_n_islands",
)
#: Features of KPD and of the high-level classifier (angles left out: circular).
KPD_FEATURES = tuple(f for f in FEATURE_NAMES if f not in ("hillas_phi", "hillas_psi"))


def image_features(
    images: np.ndarray,
    geometry: CameraGeometry,
    cleaning: CameraSettings | None = None,
) -> dict[str, np.ndarray]:
    """Clean and parametrise camera images.

    Parameters
    ----------
    images : np.ndarray
        Charges in p.e., shape ``(n_images, n_pixels)`` (a single image of shape
        ``(n_pixels,)`` is accepted as a batch of one).
    geometry : ctapipe.instrument.CameraGeometry
        Geometry of the camera the pixels belong to.
    cleaning : ctgans.cameras.CameraSettings, optional
        The tailcuts; by default the camera table's for ``geometry.name``.

    Returns
    -------
    dict[str, np.ndarray]
        One float64 array of length ``n_images`` per name in :data:`FEATURE_NAMES`.
        Positions and sizes (``hillas_x``, ``hillas_y``, ``hillas_r``,
        ``hillas_length``, ``hillas_width``) are in the geometry's unit, angles
        (``hillas_phi``, ``hillas_psi``) in degrees. Images whose cleaning keeps
        fewer than :data:`MIN_PIXELS` pixels, or that cannot be parametrised, get
        NaN everywhere; ``np.isnan(features["hillas_intensity"])`` flags them.

    Raises
    ------
    ValueError
        If the images do not have one value per pixel of ``geometry``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 1:
        images = images[np.newaxis]
    if images.ndim != 2 or images.shape[1] != geometry.n_pixels:
        raise ValueError(
            f"images must have shape (n_images, {geometry.n_pixels}) for camera "
            f"{geometry.name}; received {images.shape}"
        )
    cleaning = cleaning or camera_settings(geometry.name)
    features = {name: np.full(len(images), np.nan) for name in FEATURE_NAMES}
    for index, image in enumerate(images):
        row = _parametrise(image, geometry, cleaning)
        if row is not None:
            for name, value in row.items():
                features[name][index] = value
    return features


def _parametrise(
    image: np.ndarray, geometry: CameraGeometry, cleaning: CameraSettings
) -> dict[str, float] | None:
    mask = cleaning.clean(geometry, image)
    n_pixels = int(mask.sum())
    if n_pixels < MIN_PIXELS:
        return None
    # As ctapipe's ImageProcessor: Hillas and concentration on the surviving pixels.
    selected_geometry = geometry[mask]
    selected_image = image[mask]
    try:
        hillas = hillas_parameters(selected_geometry, selected_image)
    except HillasParameterizationError:
        return None
    leakage = leakage_parameters(geometry, image, mask)
    concentration = concentration_parameters(selected_geometry, selected_image, hillas)
    n_islands, _ = number_of_islands(geometry, mask)
    unit = geometry.pix_x.unit
    # Camera frame (length units): x, y; telescope frame (angles): fov_lon, fov_lat.
    if isinstance(hillas, CameraHillasParametersContainer):
        x, y = hillas.x, hillas.y
    else:
        x, y = hillas.fov_lon, hillas.fov_lat
    return {
        "hillas_intensity": hillas.intensity,
        "hillas_x": x.to_value(unit),
        "hillas_y": y.to_value(unit),
        "hillas_r": hillas.r.to_value(unit),
        "hillas_phi": hillas.phi.to_value(u.deg),
        "hillas_length": hillas.length.to_value(unit),
        "hillas_width": hillas.width.to_value(unit),
        "hillas_psi": hillas.psi.to_value(u.deg),
        "hillas_skewness": hillas.skewness,
        "hillas_kurtosis": hillas.kurtosis,
        "leakage_pixels_width_1": leakage.pixels_width_1,
        "leakage_pixels_width_2": leakage.pixels_width_2,
        "leakage_intensity_width_1": leakage.intensity_width_1,
        "leakage_intensity_width_2": leakage.intensity_width_2,
        "concentration_cog": concentration.cog,
        "concentration_core": concentration.core,
        "concentration_pixel": concentration.pixel,
        "morphology_n_pixels": n_pixels,
        "morphology_n_islands": n_islands,
    }


def feature_matrix(
    features: dict[str, np.ndarray], names: tuple[str, ...] | list[str] | None = None
) -> np.ndarray:
    """Stack the chosen features as columns of an ``(n_images, n_features)`` array.

    Parameters
    ----------
    features : dict[str, np.ndarray]
        A table as returned by :func:`image_features`.
    names : sequence of str, optional
        Columns to take, in order; all of :data:`FEATURE_NAMES` present by default.

    Raises
    ------
    KeyError
        If a requested name is not in the table.
    """
    if names is None:
        names = [name for name in FEATURE_NAMES if name in features]
    missing = [name for name in names if name not in features]
    if missing:
        raise KeyError(
            f"features {missing} not in the table; available: {sorted(features)}"
        )
    return np.column_stack([np.asarray(features[name], float) for name in names])
