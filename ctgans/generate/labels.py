"""The truth of the events to generate, and the generator labels it implies.

Two ways to choose the truth (one row per generated image):

* :func:`truth_from_file`: copied from the events of a DL1 file that pass the run's
  selection (telescope types and ids, quality cuts), read with dl1-data-handler as
  in training: energy, direction, core, first interaction, x_max, primary, tel_id
  and obs_id. ``n`` events are the file's first ``n``, cycling when it has fewer.
* :func:`sample_truth`: energies from a power law ``dN/dE ~ E**index`` on
  ``[e_min, e_max]``; directions uniform in a disc of radius ``radius_deg`` around
  the camera centre (``diffuse``), or at ``radius_deg`` from it at one of the four
  wobble position angles 0/90/180/270 deg (``point``). Sampling is done in the
  camera frame of each event's telescope and turned into (alt, az) with the exact
  inverse of dl1-data-handler's transform. Unless the run is conditioned on the
  impact distance (``impact_truth``: a core at the impact distance of a simulated
  image of similar energy), the generator is not conditioned on the core, so mono
  cores are written as (0, 0) (stereo events take the core of a simulated shower
  of similar energy, see ``stereo_truth``); ``h_first_int`` / ``x_max`` are NaN.
  Telescopes cycle over the run's ``tel_ids``; every event belongs to the
  reference file's first observation.

Either way the generator's labels are computed *from the truth* with the same
frames as dl1-data-handler (:func:`generator_labels`), so the written file is read
back with exactly those labels. Labels outside the training range are generated
anyway, with a warning: the generator has never seen them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

import numpy as np

from ctgans.config import DataConfig
from ctgans.generate.coordinates import (
    altaz_to_camera,
    altaz_to_nominal,
    camera_to_altaz,
)
from ctgans.generate.reference import Reference
from ctgans.impact import IMPACT_COLUMN, impact_distance, telescope_positions
from ctgans.simulate.showers import WOBBLE_ANGLES_DEG, sample_power_law

__all__ = [
    "Truth",
    "check_ranges",
    "generator_labels",
    "sample_truth",
    "truth_from_file",
    "truth_impact",
]

log = logging.getLogger(__name__)

DIRECTIONS = ("diffuse", "point")


@dataclass(frozen=True)
class Truth:
    """Simulated truth of ``n`` events (arrays of shape ``(n,)``)."""

    energy_tev: np.ndarray
    alt_rad: np.ndarray
    az_rad: np.ndarray
    core_x_m: np.ndarray
    core_y_m: np.ndarray
    h_first_int_m: np.ndarray
    x_max_gcm2: np.ndarray
    primary_id: np.ndarray
    tel_id: np.ndarray
    obs_id: np.ndarray

    def __len__(self) -> int:
        return len(self.energy_tev)

    def take(self, index) -> Truth:
        """The rows ``index`` (a slice or integer array)."""
        return replace(
            self, **{f.name: getattr(self, f.name)[index] for f in fields(self)}
        )


def sample_truth(
    n: int,
    reference: Reference,
    tel_ids,
    rng: np.random.Generator,
    energy_range: tuple[float, float],
    spectral_index: float,
    direction: str,
    radius_deg: float,
    primary_id: int,
) -> Truth:
    """Draw the truth of ``n`` events (see the module docstring).

    Parameters
    ----------
    n : int
        Number of events.
    reference : Reference
        Subarray, pointing and the observation the events belong to.
    tel_ids : sequence of int
        Telescopes to cycle over.
    rng : numpy.random.Generator
        Source of every draw.
    energy_range : (float, float)
        ``(e_min, e_max)`` in TeV.
    spectral_index : float
        Power-law index, e.g. -2.0.
    direction : {"diffuse", "point"}
        Directions uniform in a disc, or on four wobble positions.
    radius_deg : float
        Radius of the disc, or offset of the point source, in degrees.
    primary_id : int
        ``shower_primary_id`` of every event.
    """
    energy = sample_power_law(rng, n, *energy_range, spectral_index)
    obs_id = reference.obs_ids[0]
    tel_id = np.resize(np.asarray(tel_ids, dtype=np.int64), n)
    if direction == "diffuse":
        theta = np.deg2rad(radius_deg) * np.sqrt(rng.uniform(size=n))
        phi = rng.uniform(0.0, 2 * np.pi, size=n)
    else:
        theta = np.full(n, np.deg2rad(radius_deg))
        phi = np.deg2rad(np.asarray(WOBBLE_ANGLES_DEG))[rng.integers(0, 4, size=n)]
    alt, az = np.empty(n), np.empty(n)
    for tel in np.unique(tel_id):
        rows = tel_id == tel
        focal = reference.subarray.tel[int(tel)].camera.geometry.frame.focal_length
        radius_m = np.tan(theta[rows]) * focal.to_value("m")
        alt[rows], az[rows] = camera_to_altaz(
            radius_m * np.cos(phi[rows]),
            radius_m * np.sin(phi[rows]),
            reference.subarray,
            int(tel),
            reference.pointing(obs_id, int(tel)),
        )
    return Truth(
        energy_tev=energy,
        alt_rad=alt,
        az_rad=az,
        core_x_m=np.zeros(n),
        core_y_m=np.zeros(n),
        h_first_int_m=np.full(n, np.nan),
        x_max_gcm2=np.full(n, np.nan),
        primary_id=np.full(n, primary_id, dtype=np.int64),
        tel_id=tel_id,
        obs_id=np.full(n, obs_id, dtype=np.int64),
    )


def truth_from_file(data: DataConfig, path, n: int | None) -> Truth:
    """The truth of the events of ``path`` that pass the run's selection.

    Parameters
    ----------
    data : ctgans.config.DataConfig
        The run's data selection; ``path`` replaces its files.
    path : pathlib.Path
        A ctapipe DL1 simulation file.
    n : int or None
        Number of events: the first ``n`` selected, cycling; None for all.
    """
    from ctgans.data.reader import column_values, open_reader

    reader = open_reader(replace(data, signal=(path,), background=()))
    try:
        rows = reader.example_identifiers
        count = len(rows) if n is None else n
        index = np.resize(np.arange(len(rows)), count)

        def column(name, unit):
            return column_values(rows, name, unit)[index]

        return Truth(
            energy_tev=column("true_energy", "TeV"),
            alt_rad=column("true_alt", "rad"),
            az_rad=column("true_az", "rad"),
            core_x_m=column("true_core_x", "m"),
            core_y_m=column("true_core_y", "m"),
            h_first_int_m=column("true_h_first_int", "m"),
            x_max_gcm2=column("true_x_max", "g / cm2"),
            primary_id=np.asarray(rows["true_shower_primary_id"], np.int64)[index],
            tel_id=np.asarray(rows["tel_id"], np.int64)[index],
            obs_id=np.asarray(rows["obs_id"], np.int64)[index],
        )
    finally:
        for handle in reader.files.values():
            handle.close()


def generator_labels(
    truth: Truth, columns, reference: Reference, signal_primary_id: int
) -> dict[str, np.ndarray]:
    """The label columns of ``truth`` as dl1-data-handler will read them back.

    ``true_shower_primary_class`` is 1 for the run's signal particle, else 0.
    """
    labels = {}
    if "log_true_energy" in columns:
        labels["log_true_energy"] = np.log10(truth.energy_tev)
    if "true_shower_primary_class" in columns:
        labels["true_shower_primary_class"] = (
            truth.primary_id == signal_primary_id
        ).astype(np.float64)
    if "cam_coord_offset_x" in columns:
        x, y = np.empty(len(truth)), np.empty(len(truth))
        for (obs, tel), rows in _groups(truth.obs_id, truth.tel_id):
            x[rows], y[rows] = altaz_to_camera(
                truth.alt_rad[rows],
                truth.az_rad[rows],
                reference.subarray,
                tel,
                reference.pointing(obs, tel),
            )
        labels["cam_coord_offset_x"], labels["cam_coord_offset_y"] = x, y
    if "fov_lon" in columns:
        lon, lat = np.empty(len(truth)), np.empty(len(truth))
        for (obs, _), rows in _groups(truth.obs_id, np.zeros_like(truth.obs_id)):
            lon[rows], lat[rows] = altaz_to_nominal(
                truth.alt_rad[rows],
                truth.az_rad[rows],
                reference.subarray,
                reference.array_pointing(obs),
            )
        labels["fov_lon"], labels["fov_lat"] = lon, lat
    if IMPACT_COLUMN in columns:
        labels[IMPACT_COLUMN] = truth_impact(truth, reference.subarray)
    return {c: labels[c] for c in columns}


def truth_impact(truth: Truth, subarray) -> np.ndarray:
    """Each row's impact distance (m) of its telescope (:mod:`ctgans.impact`)."""
    return impact_distance(
        truth.core_x_m,
        truth.core_y_m,
        truth.alt_rad,
        truth.az_rad,
        telescope_positions(subarray, truth.tel_id),
    )


def _groups(first: np.ndarray, second: np.ndarray):
    keys = np.stack([first, second], axis=1)
    for key in np.unique(keys, axis=0):
        yield (int(key[0]), int(key[1])), np.all(keys == key, axis=1)


def check_ranges(
    labels: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]]
) -> list[str]:
    """Log a warning per label column with values outside its training range.

    Returns
    -------
    list of str
        The columns that were outside.
    """
    outside = []
    for column, values in labels.items():
        low, high = ranges[column]
        n_out = int(np.count_nonzero((values < low) | (values > high)))
        if n_out:
            outside.append(column)
            log.warning(
                "%d of %d requested %s values lie outside the training range "
                "[%.4g, %.4g] (requested [%.4g, %.4g]); the generator extrapolates",
                n_out,
                len(values),
                column,
                low,
                high,
                values.min(),
                values.max(),
            )
    return outside
