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
import tables
from astropy.coordinates import AltAz, SkyCoord
from ctapipe.coordinates import TelescopeFrame

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


def telescope_angles(h5, tel_id: int, showers, positions):
    """Camera and ground angles (radians) of one telescope's images passing the cuts."""
    node = f"tel_{tel_id:03d}"
    if f"/dl1/event/telescope/parameters/{node}" not in h5:
        return np.empty(0), np.empty(0)
    params = h5.get_node("/dl1/event/telescope/parameters", node).read()
    pointing = h5.get_node("/configuration/telescope/pointing", node).read()[0]
    index = {(int(o), int(e)): i for i, (o, e) in enumerate(zip(*showers[:2]))}
    rows = np.array(
        [index[(int(o), int(e))] for o, e in zip(params["obs_id"], params["event_id"])]
    )
    keep = np.ones(len(params), bool)
    for column, (low, high) in CUTS.items():
        keep &= (params[column] >= low) & (params[column] <= high)
    frame = TelescopeFrame(
        telescope_pointing=AltAz(
            alt=pointing["telescope_pointing_altitude"] * u.rad,
            az=pointing["telescope_pointing_azimuth"] * u.rad,
        )
    )
    alt, az, core_x, core_y = (values[rows][keep] for values in showers[2:])
    source = SkyCoord(alt=alt * u.deg, az=az * u.deg, frame=AltAz()).transform_to(frame)
    camera = np.arctan2(
        params["hillas_fov_lat"][keep] - source.fov_lat.deg,
        params["hillas_fov_lon"][keep] - source.fov_lon.deg,
    )
    x, y = positions[tel_id]
    return camera, np.arctan2(core_y - y, core_x - x)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dl1", help="ctapipe DL1 file with simulation tables")
    args = parser.parse_args(argv)
    with tables.open_file(args.dl1) as h5:
        shower = h5.root.simulation.event.subarray.shower.read()
        layout = h5.root.configuration.instrument.subarray.layout.read()
        positions = {int(r["tel_id"]): (r["pos_x"], r["pos_y"]) for r in layout}
        showers = tuple(
            shower[c]
            for c in (
                "obs_id",
                "event_id",
                "true_alt",
                "true_az",
                "true_core_x",
                "true_core_y",
            )
        )
        pooled = [], []
        for tel_id in sorted(positions):
            camera, ground = telescope_angles(h5, tel_id, showers, positions)
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
