"""Stereo fidelity checks: do the telescopes of one generated event agree?

A stereo generator can make images that each look right and still disagree as a
pair. Two physical consistency checks, computed the same way on simulated and
generated events and compared:

* **Direction from the intersection of the Hillas axes.** ctapipe's
  :class:`~ctapipe.reco.HillasReconstructor` intersects the image axes of the
  telescopes of an event; the angle between the reconstructed and the true
  (requested) direction is the direction error. Axes that do not point back to a
  common source give large errors.
* **Intensity ratio vs impact.** The telescope nearer the shower axis sees more
  light (beyond the ~120 m light-pool plateau): ``log10(I_a / I_b)`` falls as
  ``d_a - d_b`` grows, ``d`` the distance of each telescope from the shower axis
  reconstructed by the same HillasReconstructor (the true core is not used, so the
  check applies to generated events, whose images are not conditioned on it).

Input is plain arrays (:class:`StereoEvents`: camera-pixel images per telescope and
the true direction), so simulated and generated events, read from DL1 files
(:func:`read_stereo_events`) or straight from a generator, go through the same
code. Results are plain dicts of floats and lists, ready for JSON.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import tables
from ctapipe.containers import (
    ArrayEventContainer,
    ImageParametersContainer,
    MorphologyContainer,
    TelescopePointingContainer,
)
from ctapipe.coordinates import TelescopeFrame
from ctapipe.image import hillas_parameters
from ctapipe.image.hillas import HillasParameterizationError
from ctapipe.instrument import SubarrayDescription
from ctapipe.io import read_table
from ctapipe.reco import HillasReconstructor
from scipy.stats import spearmanr

from ctgans.cameras import camera_settings
from ctgans.predictor.figures import CONTAINMENT

__all__ = [
    "StereoEvents",
    "compare_stereo",
    "events_from_labels",
    "direction_summary",
    "intensity_ratio_vs_impact",
    "read_stereo_events",
    "stereo_features",
]

MIN_INTENSITY_PE = 50.0  # HillasReconstructor's default quality cut
IMPACT_DIFFERENCE_BINS_M = (-300.0, -150.0, -75.0, -25.0, 25.0, 75.0, 150.0, 300.0)
MIN_PER_BIN = 5


@dataclass(frozen=True)
class StereoEvents:
    """``n`` stereo events of one camera type.

    Attributes
    ----------
    images : numpy.ndarray
        ``(n, T, n_pixels)`` charges in p.e.; zeros where a telescope has no image.
    tel_ids : tuple of int
        The ``T`` telescopes, in the order of axis 1.
    true_alt_rad, true_az_rad : numpy.ndarray
        ``(n,)`` true (requested) shower directions.
    """

    images: np.ndarray
    tel_ids: tuple[int, ...]
    true_alt_rad: np.ndarray
    true_az_rad: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def read_stereo_events(
    path: str | Path, tel_ids=None, focal_length_choice: str = "EFFECTIVE"
) -> tuple[StereoEvents, SubarrayDescription, tuple[float, float]]:
    """Events, subarray and pointing (alt, az in rad) of a ctapipe DL1 file.

    Every event of the shower table with an image in at least one of ``tel_ids``
    (default: all telescopes of the file) is kept; missing images are zeros. The
    pointing is the first telescope's first pointing (the telescopes of the toy
    and of generated files point together).
    """
    subarray = SubarrayDescription.from_hdf(
        path, focal_length_choice=focal_length_choice
    )
    tel_ids = tuple(int(t) for t in (tel_ids or subarray.tel_ids))
    shower = read_table(path, "/simulation/event/subarray/shower")
    row_of = {
        (int(o), int(e)): i
        for i, (o, e) in enumerate(zip(shower["obs_id"], shower["event_id"]))
    }
    n_pixels = subarray.tel[tel_ids[0]].camera.geometry.n_pixels
    images = np.zeros((len(shower), len(tel_ids), n_pixels), np.float32)
    seen = np.zeros(len(shower), bool)
    with tables.open_file(str(path), "r") as h5:
        present = set(h5.root.dl1.event.telescope.images._v_children)
    for k, tel_id in enumerate(tel_ids):
        if f"tel_{tel_id:03d}" not in present:
            continue
        table = read_table(path, f"/dl1/event/telescope/images/tel_{tel_id:03d}")
        rows = np.array(
            [
                row_of[(int(o), int(e))]
                for o, e in zip(table["obs_id"], table["event_id"])
            ],
            dtype=np.int64,
        )
        images[rows, k] = np.asarray(table["image"])
        seen[rows] = True
    pointing = read_table(
        path, f"/configuration/telescope/pointing/tel_{tel_ids[0]:03d}"
    )
    alt = u.Quantity(pointing["telescope_pointing_altitude"][0], u.rad).value
    az = u.Quantity(pointing["telescope_pointing_azimuth"][0], u.rad).value
    events = StereoEvents(
        images=images[seen],
        tel_ids=tel_ids,
        true_alt_rad=u.Quantity(shower["true_alt"], u.deg).to_value(u.rad)[seen],
        true_az_rad=u.Quantity(shower["true_az"], u.deg).to_value(u.rad)[seen],
    )
    return events, subarray, (float(alt), float(az))


def events_from_labels(
    images: np.ndarray,
    tel_ids,
    labels: dict[str, np.ndarray],
    subarray: SubarrayDescription,
    pointing: tuple[float, float],
) -> StereoEvents:
    """Stereo events whose true direction comes from the direction labels.

    For the fidelity report, which holds camera images and physical labels rather
    than DL1 files: ``cam_coord_offset_x/y`` (m, camera of ``tel_ids[0]``) or
    ``fov_lon/lat`` (deg, around ``pointing``) are turned back into (alt, az)
    exactly as dl1-data-handler made them.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, T, n_pixels)`` charges in p.e.
    tel_ids : sequence of int
        The ``T`` telescopes.
    labels : dict of str to numpy.ndarray
        Physical labels holding one of the two direction label pairs.
    subarray : ctapipe.instrument.SubarrayDescription
        Telescope positions and cameras.
    pointing : (float, float)
        (alt, az) in radians of the telescopes (and of the array).
    """
    from ctgans.generate.coordinates import camera_to_altaz, nominal_to_altaz

    tel_ids = tuple(int(t) for t in tel_ids)
    if "cam_coord_offset_x" in labels:
        alt, az = camera_to_altaz(
            labels["cam_coord_offset_x"],
            labels["cam_coord_offset_y"],
            subarray,
            tel_ids[0],
            pointing,
        )
    elif "fov_lon" in labels:
        alt, az = nominal_to_altaz(
            labels["fov_lon"], labels["fov_lat"], subarray, pointing
        )
    else:
        raise ValueError(
            "stereo checks need a direction label (cam_coord_offset_x/y or "
            f"fov_lon/lat); received labels {sorted(labels)}"
        )
    return StereoEvents(np.asarray(images), tel_ids, np.asarray(alt), np.asarray(az))


def stereo_features(
    events: StereoEvents,
    subarray: SubarrayDescription,
    pointing: tuple[float, float],
    min_intensity: float = MIN_INTENSITY_PE,
) -> dict[str, np.ndarray]:
    """Per-event Hillas parameters and HillasReconstructor results.

    Parameters
    ----------
    events : StereoEvents
        The events.
    subarray : ctapipe.instrument.SubarrayDescription
        Holds at least ``events.tel_ids``.
    pointing : (float, float)
        (alt, az) in radians of every telescope and of the array.
    min_intensity : float
        Images below this intensity (p.e., after the camera's tailcuts,
        :mod:`ctgans.cameras`) are not used.

    Returns
    -------
    dict of str to numpy.ndarray
        ``intensity`` ``(n, T)`` (NaN: no usable image), ``impact_m`` ``(n, T)``
        (distance of each telescope from the reconstructed shower axis), ``valid``
        ``(n,)`` (reconstructed from >= 2 telescopes), ``reco_alt_rad``,
        ``reco_az_rad``, ``direction_error_deg`` (NaN where not valid).
    """
    subarray = subarray.select_subarray(events.tel_ids)
    geometry = {
        t: subarray.tel[t].camera.geometry.transform_to(TelescopeFrame())
        for t in events.tel_ids
    }
    reconstructor = HillasReconstructor(subarray)
    n, n_tel = len(events), len(events.tel_ids)
    out = {
        "intensity": np.full((n, n_tel), np.nan),
        "impact_m": np.full((n, n_tel), np.nan),
        "valid": np.zeros(n, bool),
        "reco_alt_rad": np.full(n, np.nan),
        "reco_az_rad": np.full(n, np.nan),
    }
    alt, az = pointing
    for i in range(n):
        parameters = {}
        for k, tel_id in enumerate(events.tel_ids):
            params = _image_parameters(geometry[tel_id], events.images[i, k])
            if params is not None and params.hillas.intensity >= min_intensity:
                parameters[tel_id] = params
                out["intensity"][i, k] = params.hillas.intensity
        if len(parameters) < 2:
            continue
        event = _event(parameters, alt, az)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reconstructor(event)
        result = event.dl2.stereo.geometry["HillasReconstructor"]
        if not result.is_valid:
            continue
        out["valid"][i] = True
        out["reco_alt_rad"][i] = result.alt.to_value(u.rad)
        out["reco_az_rad"][i] = result.az.to_value(u.rad)
        for k, tel_id in enumerate(events.tel_ids):
            if tel_id in parameters:
                impact = event.dl2.tel[tel_id].impact["HillasReconstructor"]
                out["impact_m"][i, k] = impact.distance.to_value(u.m)
    out["direction_error_deg"] = _angular_distance_deg(
        out["reco_alt_rad"], out["reco_az_rad"], events.true_alt_rad, events.true_az_rad
    )
    return out


def _image_parameters(geometry, image) -> ImageParametersContainer | None:
    image = np.asarray(image, np.float64)
    mask = camera_settings(geometry.name).clean(geometry, image)
    if mask.sum() < 3:
        return None
    try:
        hillas = hillas_parameters(geometry[mask], image[mask])
    except HillasParameterizationError:
        return None
    if not np.isfinite(hillas.width.value) or hillas.width.value <= 0:
        return None
    return ImageParametersContainer(
        hillas=hillas, morphology=MorphologyContainer(n_pixels=int(mask.sum()))
    )


def _event(parameters: dict, alt: float, az: float) -> ArrayEventContainer:
    event = ArrayEventContainer()
    event.trigger.tels_with_trigger = np.array(sorted(parameters), np.int16)
    event.monitoring.pointing.array_altitude = alt * u.rad
    event.monitoring.pointing.array_azimuth = az * u.rad
    for tel_id, params in parameters.items():
        event.monitoring.tel[tel_id].pointing = TelescopePointingContainer(
            altitude=alt * u.rad, azimuth=az * u.rad
        )
        event.dl1.tel[tel_id].parameters = params
    return event


def _angular_distance_deg(alt1, az1, alt2, az2) -> np.ndarray:
    cos = np.sin(alt1) * np.sin(alt2) + np.cos(alt1) * np.cos(alt2) * np.cos(az1 - az2)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def direction_summary(features: dict[str, np.ndarray]) -> dict:
    """Reconstructed fraction and direction errors (68 % containment, median)."""
    error = features["direction_error_deg"][features["valid"]]
    n = len(features["valid"])
    return {
        "n_events": int(n),
        "n_reconstructed": int(len(error)),
        "fraction_reconstructed": float(len(error) / n) if n else float("nan"),
        "direction_68_deg": _quantile(error, CONTAINMENT),
        "direction_median_deg": _quantile(error, 0.5),
    }


def intensity_ratio_vs_impact(
    features: dict[str, np.ndarray],
    pair: tuple[int, int] = (0, 1),
    bins_m=IMPACT_DIFFERENCE_BINS_M,
) -> dict:
    """``log10(I_a / I_b)`` against ``d_a - d_b`` for telescope slots ``pair``.

    Returns
    -------
    dict
        ``n_events`` (reconstructed, both images usable), ``spearman`` rank
        correlation, ``bin_edges_m``, per-bin ``median_log_ratio`` (None with fewer
        than 5 events) and ``counts``.
    """
    a, b = pair
    both = features["valid"] & np.isfinite(features["impact_m"][:, [a, b]]).all(1)
    ratio = np.log10(features["intensity"][both, a] / features["intensity"][both, b])
    difference = features["impact_m"][both, a] - features["impact_m"][both, b]
    edges = np.asarray(bins_m, np.float64)
    which = np.digitize(difference, edges) - 1
    medians, counts = [], []
    for k in range(len(edges) - 1):
        values = ratio[which == k]
        counts.append(int(len(values)))
        medians.append(float(np.median(values)) if len(values) >= MIN_PER_BIN else None)
    correlation = float("nan")
    if len(ratio) >= 3:
        correlation = float(spearmanr(difference, ratio).statistic)
    return {
        "n_events": int(both.sum()),
        "spearman": correlation,
        "bin_edges_m": edges.tolist(),
        "median_log_ratio": medians,
        "counts": counts,
    }


def compare_stereo(
    simulated: dict[str, np.ndarray], generated: dict[str, np.ndarray]
) -> dict:
    """The stereo table: both summaries and their differences.

    ``profile_max_abs_difference`` is the largest difference of the binned median
    ``log10(I_a / I_b)`` over bins filled in both; ``direction_68_ratio`` is
    generated over simulated 68 % containment (1 is perfect).
    """
    result = {}
    for name, features in (("simulated", simulated), ("generated", generated)):
        result[name] = {
            "direction": direction_summary(features),
            "intensity_ratio_vs_impact": intensity_ratio_vs_impact(features),
        }
    sim, gen = result["simulated"], result["generated"]
    pairs = [
        (s, g)
        for s, g in zip(
            sim["intensity_ratio_vs_impact"]["median_log_ratio"],
            gen["intensity_ratio_vs_impact"]["median_log_ratio"],
        )
        if s is not None and g is not None
    ]
    result["differences"] = {
        "direction_68_ratio": gen["direction"]["direction_68_deg"]
        / sim["direction"]["direction_68_deg"],
        "spearman_difference": gen["intensity_ratio_vs_impact"]["spearman"]
        - sim["intensity_ratio_vs_impact"]["spearman"],
        "profile_max_abs_difference": (
            max(abs(s - g) for s, g in pairs) if pairs else float("nan")
        ),
    }
    return result


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")
