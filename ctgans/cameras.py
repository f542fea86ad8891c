"""One camera table: the image cleaning and ctapipe ``ImageProcessor`` settings per
camera type, used alike by the toy simulator, the DL1 writer of generated events
and the fidelity report.

A camera listed in :data:`CAMERAS` gets its row; any other camera gets ctapipe's
own ``TailcutsImageCleaner`` defaults (read from ctapipe, not copied here), so a
generated file is written and judged with the same settings whatever the camera.
Which settings a camera got is logged once per process. To judge a new camera
with its collaboration's standard cleaning, add one row here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "CAMERAS",
    "CameraSettings",
    "camera_settings",
    "processor_config",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSettings:
    """Tailcuts cleaning of one camera type, as ctapipe's ``TailcutsImageCleaner``.

    Attributes
    ----------
    camera : str
        ctapipe camera name (``CameraGeometry.name``), e.g. ``MAGICCam``.
    picture_pe, boundary_pe : float
        Picture and boundary thresholds in p.e.
    min_picture_neighbors : int
        Picture neighbours a picture pixel needs.
    keep_isolated_pixels : bool
        Keep picture pixels without a picture neighbour.
    source : str
        ``"camera table"`` or ``"ctapipe defaults"``.
    """

    camera: str
    picture_pe: float
    boundary_pe: float
    min_picture_neighbors: int
    keep_isolated_pixels: bool = False
    source: str = "camera table"

    def clean(self, geometry, image: np.ndarray) -> np.ndarray:
        """The pixel mask that survives the cleaning (ctapipe's ``tailcuts_clean``)."""
        from ctapipe.image import tailcuts_clean

        return tailcuts_clean(
            geometry,
            image,
            picture_thresh=self.picture_pe,
            boundary_thresh=self.boundary_pe,
            keep_isolated_pixels=self.keep_isolated_pixels,
            min_number_picture_neighbors=self.min_picture_neighbors,
        )

    def describe(self) -> str:
        """One line: the thresholds and where they come from."""
        return (
            f"{self.camera}: tailcuts {self.picture_pe:g} / {self.boundary_pe:g} p.e., "
            f"{self.min_picture_neighbors} picture neighbour(s), isolated pixels "
            f"{'kept' if self.keep_isolated_pixels else 'dropped'} ({self.source})"
        )

    def as_dict(self) -> dict:
        """Plain data for reports and file metadata."""
        return asdict(self)


#: Camera name -> cleaning. MAGIC: the standard MAGIC analysis cleaning, which the
#: toy simulator's images are made for.
CAMERAS: dict[str, CameraSettings] = {
    "MAGICCam": CameraSettings("MAGICCam", 6.0, 3.5, 1, False),
}

_TRAITS = {
    "picture_pe": "picture_threshold_pe",
    "boundary_pe": "boundary_threshold_pe",
    "min_picture_neighbors": "min_picture_neighbors",
    "keep_isolated_pixels": "keep_isolated_pixels",
}


def _ctapipe_default(trait: str):
    """ctapipe's default of a ``TailcutsImageCleaner`` telescope parameter."""
    from ctapipe.image.cleaning import TailcutsImageCleaner

    # A telescope parameter's default is a pattern list [("type", "*", value)].
    (_, _, value), *_ = TailcutsImageCleaner.class_traits()[trait].default()
    return value


@functools.cache
def camera_settings(camera: str) -> CameraSettings:
    """The cleaning of ``camera`` (a ctapipe camera name); logged once per camera."""
    settings = CAMERAS.get(camera)
    if settings is None:
        settings = CameraSettings(
            camera,
            **{field: _ctapipe_default(trait) for field, trait in _TRAITS.items()},
            source="ctapipe defaults, camera not in ctgans.cameras.CAMERAS",
        )
    log.info("cleaning of camera %s", settings.describe())
    return settings


def processor_config(cameras: Iterable[str]):
    """ctapipe ``ImageProcessor`` configuration for a subarray of these cameras.

    One listed camera type: its thresholds; no listed camera: ctapipe's defaults
    (an empty configuration); a mix: per telescope type.
    """
    from traitlets.config import Config

    settings = [camera_settings(name) for name in sorted(set(cameras))]
    listed = [s for s in settings if s.source == "camera table"]
    if not listed:
        return Config()
    if len(settings) == 1:
        values = {trait: getattr(settings[0], f) for f, trait in _TRAITS.items()}
    else:
        values = {
            trait: [("type", "*", _ctapipe_default(trait))]
            + [("type", f"*_{s.camera}", getattr(s, f)) for s in listed]
            for f, trait in _TRAITS.items()
        }
    return Config({"ImageProcessor": {"TailcutsImageCleaner": values}})
