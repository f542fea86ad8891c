"""How well a predictor recovers the labels of a set of images, in physical units.

Used for the predictor's validation metrics and, after training, to compare
generated with simulated images that carry the same labels.
"""

from __future__ import annotations

import numpy as np
from pyirf.benchmarks.energy_bias_resolution import inter_quantile_distance
from sklearn.metrics import roc_auc_score

from ctgans.data.normalize import LabelScaler
from ctgans.models.predictor import label_slices

CONTAINMENT = 0.68


def predict_labels(predictor, images: np.ndarray, batch_size: int = 256) -> dict:
    """``{task: predictions}`` as numpy arrays (stereo: every telescope, flattened)."""
    if images.ndim == 5:
        images = images.reshape(-1, *images.shape[2:])
    outputs = predictor.predict(images, batch_size=batch_size, verbose=0)
    return {task: np.asarray(value) for task, value in outputs.items()}


def label_errors(
    predictions: dict, labels: np.ndarray, scaler: LabelScaler
) -> dict[str, float]:
    """Per-label figures of merit of ``predictions`` against standardised ``labels``.

    energy: resolution (half-width of the central 68 % of E_reco/E_true - 1, pyirf's
    convention) and bias (median); directions: 68 % containment of the offset error
    (m in the camera, deg in the sky); type: ROC AUC of the gamma score.
    """
    truth = scaler.inverse(labels)
    slices = label_slices(scaler.columns)
    results: dict[str, float] = {}
    for task, values in predictions.items():
        if task == "type":
            classes = truth["true_shower_primary_class"].astype(int)
            if len(np.unique(classes)) == 2:
                results["type_auc"] = float(roc_auc_score(classes, values[:, 1]))
            continue
        matrix = np.zeros((len(values), len(scaler.columns)), np.float32)
        matrix[:, slices[task]] = values
        reco = scaler.inverse(matrix)
        if task == "energy":
            rel = 10 ** (reco["log_true_energy"] - truth["log_true_energy"]) - 1
            results["energy_resolution"] = float(inter_quantile_distance(rel))
            results["energy_bias"] = float(np.median(rel))
        else:
            x, y = (
                ("cam_coord_offset_x", "cam_coord_offset_y")
                if task == "cameradirection"
                else ("fov_lon", "fov_lat")
            )
            error = np.hypot(reco[x] - truth[x], reco[y] - truth[y])
            unit = "m" if task == "cameradirection" else "deg"
            results[f"{task}_68_{unit}"] = float(np.quantile(error, CONTAINMENT))
    return results
