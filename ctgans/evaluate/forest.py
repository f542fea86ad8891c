"""The second label-recovery judge: random forests on ctapipe image parameters.

FIDELITY §1 (b): the standard IACT reconstruction, sharing nothing with the
training predictor. Forests trained on the parameters of the simulated
*training* split (:mod:`ctgans.evaluate.features`, the same cleaning and
parametrisation as the report) estimate

- the energy: a regressor of log10(E/TeV) (ctapipe's ``EnergyRegressor`` with
  ``log_target``);
- the direction by DISP, as ctapipe's ``DispReconstructor``: a regressor of
  ``|disp|`` and a classifier of its sign (head-tail), the source placed at
  ``cog + disp (cos psi, sin psi)`` in the frame of the Hillas parameters;
- the particle type (runs with both particles): a classifier of gamma vs proton.

scikit-learn forests are used directly on our feature table: ctapipe's classes
are fitted on the same sklearn models, but are bound to a ``SubarrayDescription``
and DL2 tables, and ``DispReconstructor`` predicts alt/az from telescope-frame
Hillas coordinates and pointing, where our parameters are in the camera frame and
our direction labels are camera offsets.

Two forests per task are trained on two halves of the training showers: an image
of the training split (the ``nearest-simulated`` stand-in) is judged by the half
that did not see it, any other image by both (their mean), so no image is judged
by a forest it trained.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from ctgans.evaluate.features import FEATURE_NAMES

__all__ = ["FOREST_FEATURES", "Forests", "fit_forests", "forest_errors"]

log = logging.getLogger(__name__)

#: Features of every forest: the image parameters without the position and angles
#: of the ellipse (ctapipe's training configs do the same), and the area.
FOREST_FEATURES = tuple(
    f
    for f in FEATURE_NAMES
    if f not in ("hillas_x", "hillas_y", "hillas_phi", "hillas_psi")
) + ("area",)
#: As ctapipe's examples would grow them, a little smaller: 2 cores, 13 000 images.
FOREST_SETTINGS = {"n_estimators": 60, "min_samples_leaf": 5, "n_jobs": 1}
N_FOLDS = 2
#: Fewer training images with a cleaned shower per fold: no forests (no figures).
MIN_TRAIN = 20


def _matrix(features: dict[str, np.ndarray]) -> np.ndarray:
    """``(n, len(FOREST_FEATURES))``; ``features`` hold log10 intensity."""
    columns = [
        features["hillas_width"] * features["hillas_length"]
        if name == "area"
        else features[name]
        for name in FOREST_FEATURES
    ]
    return np.column_stack([np.asarray(c, np.float64) for c in columns])


def true_disp(features, source) -> np.ndarray:
    """Signed distance from the image's centroid to the source projected on the
    major axis (positive along ``psi``), in the features' length unit."""
    psi = np.deg2rad(features["hillas_psi"])
    dx = source[0] - features["hillas_x"]
    dy = source[1] - features["hillas_y"]
    return dx * np.cos(psi) + dy * np.sin(psi)


@dataclass
class Forests:
    """Fitted forests, one per fold and task, and the fold of every training row.

    ``fold_of`` maps a training image's feature row (bytes) to its fold.
    """

    energy: list
    disp_norm: list
    disp_sign: list
    particle: list
    fold_of: dict
    n_train: int

    @property
    def tasks(self) -> list[str]:
        return [
            t
            for t, models in (
                ("energy", self.energy),
                ("direction", self.disp_norm),
                ("type", self.particle),
            )
            if models
        ]


def _folds(groups: np.ndarray, seed: int) -> np.ndarray:
    unique = np.unique(groups)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF0]))
    fold_of_group = dict(zip(rng.permutation(unique), np.arange(unique.size) % N_FOLDS))
    return np.array([fold_of_group[g] for g in groups])


def fit_forests(
    features: dict[str, np.ndarray],
    log_energy: np.ndarray | None,
    groups: np.ndarray,
    seed: int,
    source: tuple[np.ndarray, np.ndarray] | None = None,
    is_gamma: np.ndarray | None = None,
    regression_rows: np.ndarray | None = None,
) -> Forests:
    """Fit the forests on the simulated training images.

    Parameters
    ----------
    features : dict of str to numpy.ndarray
        Image parameters of the training images (log10 intensity); rows without
        a cleaned shower (NaN) are left out.
    log_energy : numpy.ndarray or None
        True log10(E/TeV) per row: fits the energy regressor.
    groups : numpy.ndarray
        Shower index per row: the two folds split whole showers.
    seed : int
        Seeds the folds and the forests.
    source : (numpy.ndarray, numpy.ndarray), optional
        True source position per row in the features' frame: fits DISP.
    is_gamma : numpy.ndarray of bool, optional
        Particle per row (runs with both particles): fits the type classifier.
    regression_rows : numpy.ndarray of bool, optional
        Rows the energy and DISP forests learn from (one particle); default all.
    """
    x = _matrix(features)
    valid = np.isfinite(x).all(axis=1)
    fold = _folds(groups, seed)
    regression = valid if regression_rows is None else valid & regression_rows
    result = Forests([], [], [], [], {}, int(valid.sum()))
    if regression.sum() < MIN_TRAIN * N_FOLDS:
        log.warning(
            "%d training images with a cleaned shower: too few for the forests "
            "(need %d)",
            int(regression.sum()),
            MIN_TRAIN * N_FOLDS,
        )
        return result
    for k in range(N_FOLDS):
        fit = fold != k
        settings = FOREST_SETTINGS | {"random_state": seed + k}
        rows = fit & regression
        if log_energy is not None:
            result.energy.append(
                RandomForestRegressor(**settings).fit(x[rows], log_energy[rows])
            )
        if source is not None:
            disp = true_disp(features, source)
            rows = rows & np.isfinite(disp)
            result.disp_norm.append(
                RandomForestRegressor(**settings).fit(x[rows], np.abs(disp[rows]))
            )
            result.disp_sign.append(
                RandomForestClassifier(**settings).fit(x[rows], disp[rows] > 0)
            )
        if is_gamma is not None and 0 < is_gamma[valid].sum() < valid.sum():
            rows = fit & valid
            result.particle.append(
                RandomForestClassifier(**settings).fit(x[rows], is_gamma[rows])
            )
    for row, k in zip(x[valid], fold[valid], strict=True):
        result.fold_of[row.tobytes()] = int(k)
    return result


def _predict(models: list, x: np.ndarray, held_out: np.ndarray, method: str):
    """Per row: the fold that did not train on it (``held_out``), else the mean."""
    out = np.full(len(x), np.nan)
    valid = np.isfinite(x).all(axis=1)
    if not models or not valid.any():
        return out
    per_fold = []
    for model in models:
        if method == "predict_proba":
            # P(True); a fold that saw one class only predicts that class
            values = model.predict_proba(x[valid])
            values = (
                values[:, list(model.classes_).index(True)]
                if True in model.classes_
                else np.zeros(valid.sum())
            )
        else:
            values = model.predict(x[valid])
        per_fold.append(values)
    per_fold = np.array(per_fold)
    held = held_out[valid]
    # Forest k learnt from the folds other than k: it never saw fold k's rows.
    picked = per_fold[np.clip(held, 0, None), np.arange(len(held))]
    out[valid] = np.where(held >= 0, picked, per_fold.mean(axis=0))
    return out


def forest_errors(
    forests: Forests,
    features: dict[str, np.ndarray],
    log_energy: np.ndarray,
    source: tuple[np.ndarray, np.ndarray] | None = None,
    is_gamma: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-event errors as :func:`~ctgans.predictor.figures.event_errors`
    gives them: ``energy_rel``, ``cameradirection_error`` (the DISP position's
    distance from the true source, features' unit), ``gammaness``/``is_gamma``.

    NaN for images without a cleaned shower (the figures leave them out; the
    cleaning-survival row counts them).
    """
    x = _matrix(features)
    held = np.array([forests.fold_of.get(row.tobytes(), -1) for row in x])
    out = {}
    if forests.energy:
        reco = _predict(forests.energy, x, held, "predict")
        out["energy_rel"] = 10 ** (reco - log_energy) - 1
    if forests.disp_norm and source is not None:
        norm = _predict(forests.disp_norm, x, held, "predict")
        positive = _predict(forests.disp_sign, x, held, "predict_proba")
        disp = norm * np.where(positive >= 0.5, 1.0, -1.0)
        psi = np.deg2rad(features["hillas_psi"])
        reco_x = features["hillas_x"] + disp * np.cos(psi)
        reco_y = features["hillas_y"] + disp * np.sin(psi)
        out["cameradirection_error"] = np.hypot(reco_x - source[0], reco_y - source[1])
    if forests.particle and is_gamma is not None:
        out["gammaness"] = _predict(forests.particle, x, held, "predict_proba")
        out["is_gamma"] = np.asarray(is_gamma, bool)
    return out
