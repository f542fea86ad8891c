"""How a stereo event's image axes follow its core: the measurement behind the
stereo generator's geometry (RESULTS.md, "Stereo run").

    python scripts/stereo_axis_geometry.py data/toy/gamma_diffuse.dl1.h5

For every telescope image that passes the training cuts (intensity >= 50 p.e.,
leakage_intensity_width_2 <= 0.2) it measures the angle of the image's light
centroid around the true source position in the telescope frame, and compares it
with the ground angle from the telescope to the true core. If the image axis is
the projection of the shower axis, ``camera angle = sign * ground angle + offset``
for one sign and offset per telescope, whatever the file's conventions; the script
fits both (circular mean) and prints the 68 % quantile of the residual. A small
residual says each telescope's axis angle, and so the pair's geometry, is fixed by
one core position per event.
"""

from __future__ import annotations

import argparse

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, SkyCoord
from ctapipe.coordinates import TelescopeFrame
from ctapipe.io import TableLoader

#: The (unit-carrying) columns an image's angles are measured from.
COLUMNS = (
    "telescope_pointing_altitude",
    "telescope_pointing_azimuth",
    "true_alt",
    "true_az",
    "true_core_x",
    "true_core_y",
    "hillas_fov_lon",
    "hillas_fov_lat",
)
CUTS = {"hillas_intensity": (50.0, np.inf), "leakage_intensity_width_2": (-np.inf, 0.2)}


def fit_angle_map(camera_angle, ground_angle):
    """For both signs: ``(sign, offset, residual 68 % quantile)``, angles in
    radians, the residual in degrees; the better sign first."""
    fits = []
    for sign in (1, -1):
        diff = camera_angle - sign * ground_angle
        offset = float(np.angle(np.mean(np.exp(1j * diff))))
        residual = np.angle(np.exp(1j * (diff - offset)))
        fits.append((sign, offset, float(np.percentile(np.degrees(abs(residual)), 68))))
    return sorted(fits, key=lambda fit: fit[2])


def image_angles(events, position):
    """Camera and ground angles (radians) of one telescope's images (rows of
    ctapipe's ``TableLoader`` with parameters, simulation and pointing) that pass
    the cuts; ``position`` the telescope's ground position."""
    keep = np.ones(len(events), bool)
    for column, (low, high) in CUTS.items():
        keep &= (events[column] >= low) & (events[column] <= high)
    if not keep.any():
        return np.empty(0), np.empty(0)
    q = {c: u.Quantity(events[c][keep]) for c in events.colnames if c in COLUMNS}
    pointing = AltAz(
        alt=q["telescope_pointing_altitude"][0], az=q["telescope_pointing_azimuth"][0]
    )
    source = SkyCoord(alt=q["true_alt"], az=q["true_az"], frame=AltAz()).transform_to(
        TelescopeFrame(telescope_pointing=pointing)
    )
    camera = np.arctan2(
        (q["hillas_fov_lat"] - source.fov_lat).to_value(u.deg),
        (q["hillas_fov_lon"] - source.fov_lon).to_value(u.deg),
    )
    core_x, core_y = (q[c].to_value(u.m) for c in ("true_core_x", "true_core_y"))
    x, y = position.to_value(u.m)[:2]
    return camera, np.arctan2(core_y - y, core_x - x)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dl1", help="ctapipe DL1 file with simulation tables")
    args = parser.parse_args(argv)
    with TableLoader(args.dl1) as loader:
        events = loader.read_telescope_events(
            dl1_parameters=True, simulated=True, pointing=True, true_parameters=False
        )
        positions = loader.subarray.positions
    pooled = [], []
    for tel_id in sorted(positions):
        camera, ground = image_angles(
            events[events["tel_id"] == tel_id], positions[tel_id]
        )
        print(f"telescope {tel_id}: {len(camera)} images passing the cuts")
        pooled[0].append(camera)
        pooled[1].append(ground)
        if len(camera) >= 2:
            _print_fits(camera, ground)
    camera, ground = (np.concatenate(values) for values in pooled)
    print(f"all telescopes: {len(camera)} images")
    if len(camera):
        _print_fits(camera, ground)


def _print_fits(camera, ground) -> None:
    for sign, offset, q68 in fit_angle_map(camera, ground):
        print(
            f"  camera angle = {sign:+d} * ground angle "
            f"{np.degrees(offset):+7.1f} deg: residual 68 % {q68:.1f} deg"
        )


if __name__ == "__main__":
    main()
