"""Label-error figures of a predictor, in physical units: one implementation.

Per-event errors are computed once (:func:`event_errors`); figures of merit are
functions of any subset of events (:func:`figures`, :func:`label_errors`), with
pyirf's conventions: the energy resolution is the half-width of the central 68 % of
``E_reco / E_true - 1`` (:func:`pyirf.benchmarks.energy_bias_resolution.
inter_quantile_distance`), the bias its median; a direction is judged by the 68 %
containment of its error (m in the camera, deg in the sky); the particle type by the
ROC AUC of the gamma score. Used for the predictor's validation metrics, the label
recovery at the end of training, the fidelity report (where the random forests'
errors take the same form) and the augmentation study.
"""

from __future__ import annotations

import numpy as np
from pyirf.benchmarks.energy_bias_resolution import inter_quantile_distance
from sklearn.metrics import roc_auc_score

from ctgans.data.normalize import LabelScaler
from ctgans.models.predictor import label_slices

__all__ = [
    "BINS_PER_DECADE",
    "CONTAINMENT",
    "MIN_PER_BIN",
    "containment",
    "energy_edges",
    "energy_figures",
    "event_errors",
    "figures",
    "label_errors",
    "predict_labels",
    "type_auc",
]

BINS_PER_DECADE = 5
#: Bins with fewer events give no figure (NaN).
MIN_PER_BIN = 10
CONTAINMENT = 0.68
DIRECTION_COLUMNS = {
    "cameradirection": ("cam_coord_offset_x", "cam_coord_offset_y", "m"),
    "skydirection": ("fov_lon", "fov_lat", "deg"),
}


def predict_labels(predictor, images: np.ndarray, batch_size: int = 256) -> dict:
    """``{task: predictions}`` as numpy arrays (stereo: every telescope, flattened)."""
    if images.ndim == 5:
        images = images.reshape(-1, *images.shape[2:])
    outputs = predictor.predict(images, batch_size=batch_size, verbose=0)
    return {task: np.asarray(value) for task, value in outputs.items()}


def predict_here(predictor, images: np.ndarray, batch_size: int = 256) -> dict:
    """``{task: predictions}``, like :func:`predict_labels` but on this worker only.

    ``predict`` would distribute the images over the workers of a multi-worker
    run; direct calls keep every worker's result complete and need no collective
    operations.
    """
    if images.ndim == 5:
        images = images.reshape(-1, *images.shape[2:])
    parts = [
        predictor(images[i : i + batch_size], training=False)
        for i in range(0, len(images), batch_size)
    ]
    return {
        task: np.concatenate([np.asarray(part[task]) for part in parts])
        for task in parts[0]
    }


def energy_edges(log_energy: np.ndarray) -> np.ndarray:
    """log10(E/TeV) bin edges, 5 per decade, on decade fifths covering the values."""
    low = np.floor(np.min(log_energy) * BINS_PER_DECADE) / BINS_PER_DECADE
    high = np.ceil(np.max(log_energy) * BINS_PER_DECADE) / BINS_PER_DECADE
    n = max(int(round((high - low) * BINS_PER_DECADE)), 1)
    return np.round(np.linspace(low, low + n / BINS_PER_DECADE, n + 1), 6)


def energy_figures(rel: np.ndarray) -> dict[str, float]:
    """Resolution and bias of the relative energy errors ``E_reco / E_true - 1``."""
    return {
        "energy_resolution": float(inter_quantile_distance(rel)),
        "energy_bias": float(np.median(rel)),
    }


def containment(error: np.ndarray) -> float:
    """The 68 % containment of direction errors."""
    return float(np.quantile(error, CONTAINMENT))


def type_auc(is_gamma: np.ndarray, gammaness: np.ndarray) -> float:
    """ROC AUC of the gamma score (needs both particles)."""
    return float(roc_auc_score(is_gamma, gammaness))


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


def _one(errors: dict[str, np.ndarray], rows: np.ndarray, minimum: int) -> dict:
    """Figures of ``rows``, each on its finite values (the forests give NaN for
    images without a cleaned shower); NaN with fewer than ``minimum``."""
    result: dict[str, float] = {}

    def finite(values):
        values = values[rows]
        return values[np.isfinite(values)]

    if "energy_rel" in errors:
        rel = finite(errors["energy_rel"])
        if rel.size >= minimum:
            result.update(energy_figures(rel))
        else:
            result.update(energy_resolution=np.nan, energy_bias=np.nan)
    for task, (_, _, unit) in DIRECTION_COLUMNS.items():
        if f"{task}_error" in errors:
            err = finite(errors[f"{task}_error"])
            result[f"{task}_68_{unit}"] = (
                containment(err) if err.size >= minimum else np.nan
            )
    if "gammaness" in errors:
        scored = np.isfinite(errors["gammaness"][rows])
        classes = errors["is_gamma"][rows][scored]
        both = scored.sum() >= minimum and 0 < classes.sum() < classes.size
        result["type_auc"] = (
            type_auc(classes, errors["gammaness"][rows][scored]) if both else np.nan
        )
    return result


def label_errors(
    predictions: dict, labels: np.ndarray, scaler: LabelScaler
) -> dict[str, float]:
    """Figures of merit of ``predictions`` against standardised ``labels``, on all
    events (``type_auc`` only when both particles are present)."""
    errors = event_errors(predictions, labels, scaler)
    result = _one(errors, np.arange(len(labels)), minimum=1)
    if not np.isfinite(result.get("type_auc", 0.0)):
        result.pop("type_auc")
    return result


def figures(
    errors: dict[str, np.ndarray],
    rows: np.ndarray,
    log_energy: np.ndarray,
    edges: np.ndarray,
    min_per_bin: int = MIN_PER_BIN,
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
    min_per_bin : int
        Events (with a finite value) a bin needs for a figure.

    Returns
    -------
    dict
        ``{"overall": {figure: value}, "per_bin": {figure: [value per bin]}}``;
        bins with fewer than ``min_per_bin`` events hold NaN (overall: fewer
        than :data:`MIN_PER_BIN`).
    """
    rows = np.asarray(rows)
    overall = _one(errors, rows, MIN_PER_BIN)
    index = np.digitize(log_energy[rows], edges) - 1
    per_bin = {name: [] for name in overall}
    for b in range(len(edges) - 1):
        values = _one(errors, rows[index == b], min_per_bin)
        for name in per_bin:
            per_bin[name].append(values[name])
    return {"overall": overall, "per_bin": per_bin}
