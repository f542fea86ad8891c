"""Label recovery by an evaluation predictor, overall and per energy bin (FIDELITY §1).

Per-event errors are computed once (:func:`event_errors`); figures of merit are
functions of any subset of events (:func:`figures`): energy bias and resolution
with pyirf's conventions, 68 % containment of the direction error, and the ROC AUC
of the gamma score when both particles are present.
"""

from __future__ import annotations

import numpy as np
from pyirf.benchmarks.energy_bias_resolution import inter_quantile_distance
from sklearn.metrics import roc_auc_score

from ctgans.data.normalize import LabelScaler
from ctgans.models.predictor import label_slices

__all__ = ["BINS_PER_DECADE", "MIN_PER_BIN", "energy_edges", "event_errors", "figures"]

BINS_PER_DECADE = 5
#: Bins with fewer events give no figure (NaN).
MIN_PER_BIN = 10
CONTAINMENT = 0.68
DIRECTION_COLUMNS = {
    "cameradirection": ("cam_coord_offset_x", "cam_coord_offset_y", "m"),
    "skydirection": ("fov_lon", "fov_lat", "deg"),
}


def energy_edges(log_energy: np.ndarray) -> np.ndarray:
    """log10(E/TeV) bin edges, 5 per decade, on decade fifths covering the values."""
    low = np.floor(np.min(log_energy) * BINS_PER_DECADE) / BINS_PER_DECADE
    high = np.ceil(np.max(log_energy) * BINS_PER_DECADE) / BINS_PER_DECADE
    n = max(int(round((high - low) * BINS_PER_DECADE)), 1)
    return np.round(np.linspace(low, low + n / BINS_PER_DECADE, n + 1), 6)


def event_errors(
    predictions: dict[str, np.ndarray], labels: np.ndarray, scaler: LabelScaler
) -> dict[str, np.ndarray]:
    """Per-event quantities the figures are made of.

    Returns
    -------
    dict
        ``energy_rel`` (E_reco/E_true - 1), ``<task>_error`` (direction error, m
        or deg), ``gammaness`` and ``is_gamma`` where the tasks exist.
    """
    truth = scaler.inverse(labels)
    slices = label_slices(scaler.columns)
    out: dict[str, np.ndarray] = {}
    for task, values in predictions.items():
        values = np.asarray(values)
        if task == "type":
            out["gammaness"] = values[:, 1]
            out["is_gamma"] = truth["true_shower_primary_class"] > 0.5
            continue
        matrix = np.zeros((len(values), len(scaler.columns)), np.float32)
        matrix[:, slices[task]] = values
        reco = scaler.inverse(matrix)
        if task == "energy":
            out["energy_rel"] = (
                10 ** (reco["log_true_energy"] - truth["log_true_energy"]) - 1
            )
        else:
            x, y, _ = DIRECTION_COLUMNS[task]
            out[f"{task}_error"] = np.hypot(reco[x] - truth[x], reco[y] - truth[y])
    return out


def _one(errors: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    result: dict[str, float] = {}
    enough = rows.size >= MIN_PER_BIN
    if "energy_rel" in errors:
        rel = errors["energy_rel"][rows]
        result["energy_bias"] = float(np.median(rel)) if enough else np.nan
        result["energy_resolution"] = (
            float(inter_quantile_distance(rel)) if enough else np.nan
        )
    for task, (_, _, unit) in DIRECTION_COLUMNS.items():
        if f"{task}_error" in errors:
            err = errors[f"{task}_error"][rows]
            result[f"{task}_68_{unit}"] = (
                float(np.quantile(err, CONTAINMENT)) if enough else np.nan
            )
    if "gammaness" in errors:
        classes = errors["is_gamma"][rows]
        both = enough and 0 < classes.sum() < classes.size
        result["type_auc"] = (
            float(roc_auc_score(classes, errors["gammaness"][rows])) if both else np.nan
        )
    return result


def figures(
    errors: dict[str, np.ndarray],
    rows: np.ndarray,
    log_energy: np.ndarray,
    edges: np.ndarray,
) -> dict:
    """Figures of merit of ``rows``: overall and per log10(E) bin.

    Parameters
    ----------
    errors : dict
        From :func:`event_errors`.
    rows : numpy.ndarray
        Integer indices of the events to use.
    log_energy : numpy.ndarray
        True log10(E/TeV) of every event (binning variable).
    edges : numpy.ndarray
        Bin edges from :func:`energy_edges`.

    Returns
    -------
    dict
        ``{"overall": {figure: value}, "per_bin": {figure: [value per bin]}}``;
        bins with fewer than :data:`MIN_PER_BIN` events hold NaN.
    """
    rows = np.asarray(rows)
    overall = _one(errors, rows)
    index = np.digitize(log_energy[rows], edges) - 1
    per_bin = {name: [] for name in overall}
    for b in range(len(edges) - 1):
        values = _one(errors, rows[index == b])
        for name in per_bin:
            per_bin[name].append(values[name])
    return {"overall": overall, "per_bin": per_bin}
