"""True directions <-> the direction labels, exactly as dl1-data-handler computes them.

``DLImageReader`` turns the true (alt, az) of a shower into

* ``cam_coord_offset_x/y`` (m): the direction in the ``CameraFrame`` of the
  telescope (its focal length and pixel rotation, pointing from
  ``/configuration/telescope/pointing``, ``AltAz`` at the telescope's location and
  dl1-data-handler's fixed epoch), and
* ``fov_lon/lat`` (deg): the direction in the ``NominalFrame`` of the array pointing
  (``min_az``/``min_alt`` of the simulation run) at the array's reference location.

The functions here use the same frames, so a direction written to a file is read
back as the label it was made from (to float precision), and their inverses turn
requested labels into the (alt, az) to write.

Altitudes are clipped to [-90, 90] deg where they lie beyond it by float rounding
only (:func:`clip_altitude`): a zenith pointing stored as float32, as sim_telarray
productions store it, reads back as 90.0000025 deg, which astropy refuses.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, SkyCoord
from ctapipe.coordinates import CameraFrame, NominalFrame
from ctapipe.instrument import SubarrayDescription
from dl1_data_handler.reader import LST_EPOCH

__all__ = [
    "clip_altitude",
    "altaz_to_camera",
    "altaz_to_nominal",
    "camera_to_altaz",
    "nominal_to_altaz",
]


#: Beyond +-90 deg by less than this (rad): float rounding, clipped. float32 pi/2
#: exceeds pi/2 by 4.4e-8 rad.
ROUNDING_RAD = 1e-6


def clip_altitude(alt_rad):
    """``alt_rad`` with values beyond +-pi/2 by float rounding set to +-pi/2.

    Values further out are left as they are (astropy refuses them: a real error).
    """
    alt = np.asarray(alt_rad, dtype=np.float64)
    rounding = (np.abs(alt) > np.pi / 2) & (np.abs(alt) <= np.pi / 2 + ROUNDING_RAD)
    clipped = np.where(rounding, np.sign(alt) * (np.pi / 2), alt)
    return float(clipped) if clipped.ndim == 0 else clipped


def _tel_altaz(subarray: SubarrayDescription, tel_id: int) -> AltAz:
    location = subarray.tel_coords[subarray.tel_ids_to_indices(tel_id)]
    return AltAz(location=location.to_earth_location(), obstime=LST_EPOCH)


def _camera_frame(subarray, tel_id, altaz, pointing) -> CameraFrame:
    geometry = subarray.tel[tel_id].camera.geometry
    alt, az = pointing
    return CameraFrame(
        focal_length=geometry.frame.focal_length,
        rotation=geometry.pix_rotation,
        telescope_pointing=SkyCoord(
            az=az * u.rad, alt=clip_altitude(alt) * u.rad, frame=altaz
        ),
    )


def camera_to_altaz(
    x_m, y_m, subarray: SubarrayDescription, tel_id: int, pointing: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(alt, az) in radians of camera-frame positions of one telescope.

    Parameters
    ----------
    x_m, y_m : array_like
        Camera-frame coordinates in metres (``cam_coord_offset_x/y``).
    subarray : ctapipe.instrument.SubarrayDescription
        Gives the telescope's location, focal length and pixel rotation.
    tel_id : int
        The telescope.
    pointing : (float, float)
        Telescope pointing (alt, az) in radians.
    """
    altaz = _tel_altaz(subarray, tel_id)
    frame = _camera_frame(subarray, tel_id, altaz, pointing)
    cam = SkyCoord(x=np.asarray(x_m) * u.m, y=np.asarray(y_m) * u.m, frame=frame)
    sky = cam.transform_to(altaz)
    return sky.alt.to_value(u.rad), sky.az.to_value(u.rad)


def altaz_to_camera(
    alt_rad,
    az_rad,
    subarray: SubarrayDescription,
    tel_id: int,
    pointing: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """``cam_coord_offset_x/y`` in metres of true directions, as dl1-data-handler."""
    altaz = _tel_altaz(subarray, tel_id)
    frame = _camera_frame(subarray, tel_id, altaz, pointing)
    sky = SkyCoord(
        az=np.asarray(az_rad) * u.rad, alt=clip_altitude(alt_rad) * u.rad, frame=altaz
    )
    cam = sky.transform_to(frame)
    return cam.x.to_value(u.m), cam.y.to_value(u.m)


def _nominal(subarray: SubarrayDescription, array_pointing) -> tuple:
    altaz = AltAz(location=subarray.reference_location, obstime=LST_EPOCH)
    alt, az = array_pointing
    origin = SkyCoord(az=az * u.rad, alt=clip_altitude(alt) * u.rad, frame=altaz)
    frame = NominalFrame(
        origin=origin, location=subarray.reference_location, obstime=LST_EPOCH
    )
    return altaz, frame


def altaz_to_nominal(
    alt_rad, az_rad, subarray: SubarrayDescription, array_pointing: tuple[float, float]
):
    """``fov_lon/lat`` in degrees of true directions, as dl1-data-handler."""
    altaz, frame = _nominal(subarray, array_pointing)
    sky = SkyCoord(
        az=np.asarray(az_rad) * u.rad, alt=clip_altitude(alt_rad) * u.rad, frame=altaz
    )
    nominal = sky.transform_to(frame)
    return nominal.fov_lon.to_value(u.deg), nominal.fov_lat.to_value(u.deg)


def nominal_to_altaz(
    fov_lon_deg,
    fov_lat_deg,
    subarray: SubarrayDescription,
    array_pointing: tuple[float, float],
):
    """(alt, az) in radians of ``fov_lon/lat`` offsets in degrees."""
    altaz, frame = _nominal(subarray, array_pointing)
    nominal = SkyCoord(
        fov_lon=np.asarray(fov_lon_deg) * u.deg,
        fov_lat=np.asarray(fov_lat_deg) * u.deg,
        frame=frame,
    )
    sky = nominal.transform_to(altaz)
    return sky.alt.to_value(u.rad), sky.az.to_value(u.rad)
