"""Fidelity metrics: functions of feature (or pixel) arrays, nothing else.

Definitions follow ``FIDELITY.md``: separation power of one feature, kernel
physics distance (KPD, as in jetnet / the CaloChallenge), a calibrated two-sample
classifier AUC, and the spread and median ratios used for diversity and intensity
calibration. Non-finite values are dropped (per value for one-dimensional metrics,
per row for KPD).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "KPDResult",
    "kpd",
    "median_difference",
    "separation_power",
    "separation_powers",
    "spread_ratio",
    "two_sample_auc",
]

#: Quantiles of the central 68 % interval used for spreads.
LOW_Q, HIGH_Q = 0.16, 0.84


def _finite_1d(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(f"`{name}` has no finite values")
    return values


def _common_edges(a: np.ndarray, b: np.ndarray, bins: int) -> np.ndarray:
    pooled = np.concatenate([a, b])
    is_integer = np.all(pooled == np.round(pooled))
    if is_integer and pooled.max() - pooled.min() < bins:
        # Counts (pixels, islands): one bin per integer avoids aliasing.
        return np.arange(pooled.min() - 0.5, pooled.max() + 1.0)
    low, high = np.quantile(pooled, [0.005, 0.995])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def separation_power(a, b, bins: int | np.ndarray = 50) -> float:
    """Separation power ``S = 1/2 sum (h1 - h2)^2 / (h1 + h2)`` of two samples.

    Parameters
    ----------
    a, b : array_like
        Values of one feature in the two samples; NaNs are dropped.
    bins : int or array_like
        Number of bins over the pooled 0.5-99.5 % quantile range (samples of
        integers spanning fewer values than ``bins`` get one bin per integer), or
        explicit bin edges. Values outside the range are counted in the first or
        last bin, so both histograms are normalised over all their values.

    Returns
    -------
    float
        0 for identical histograms, 1 for histograms without common bins.
    """
    a, b = _finite_1d(a, "a"), _finite_1d(b, "b")
    if np.ndim(bins) == 0:
        if int(bins) < 1:
            raise ValueError(f"`bins` must be a positive integer; received {bins}")
        edges = _common_edges(a, b, int(bins))
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"`bins` edges must be increasing with at least 2 values; "
                f"received {edges}"
            )
    inner = (edges[0], edges[-1])
    h1 = np.histogram(np.clip(a, *inner), edges)[0] / a.size
    h2 = np.histogram(np.clip(b, *inner), edges)[0] / b.size
    total = h1 + h2
    filled = total > 0
    return float(0.5 * np.sum((h1[filled] - h2[filled]) ** 2 / total[filled]))


def separation_powers(
    table_a: dict[str, np.ndarray], table_b: dict[str, np.ndarray], bins: int = 50
) -> dict[str, float]:
    """:func:`separation_power` of every feature the two tables share."""
    return {
        name: separation_power(table_a[name], table_b[name], bins)
        for name in table_a
        if name in table_b
    }


class KPDResult(NamedTuple):
    """Median of the batch MMD² values, half its 16-84 % width, and both ends."""

    median: float
    spread: float
    low: float
    high: float


def _finite_rows(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, np.newaxis]
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be (n_samples, n_features); got {x.shape}")
    x = x[np.all(np.isfinite(x), axis=1)]
    if len(x) < 2:
        raise ValueError(f"`{name}` needs at least 2 rows without NaN")
    return x


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** degree
    kyy = (y @ y.T / d + 1.0) ** degree
    kxy = (x @ y.T / d + 1.0) ** degree
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kpd(
    x,
    y,
    degree: int = 4,
    n_batches: int = 10,
    batch_size: int = 5000,
    rng: np.random.Generator | None = None,
) -> KPDResult:
    """Kernel physics distance: unbiased MMD² with a polynomial kernel.

    ``k(a, b) = (a.b / d + 1)^degree`` on features standardised with the mean and
    standard deviation of the reference sample ``x`` alone, as JetNet scales by
    the real sample only: outliers of ``y`` are neither clipped nor allowed to
    shrink the scale. Each batch draws ``batch_size`` rows of each sample without
    replacement (all rows if fewer).

    Parameters
    ----------
    x, y : array_like
        ``(n, d)`` feature tables: ``x`` the reference (simulated), ``y`` the
        sample judged (generated); rows with a non-finite value are dropped.
    degree : int
        Polynomial degree (4 as in jetnet; 3 is the other common choice).
    n_batches, batch_size : int
        Number of batches and rows per sample per batch.
    rng : np.random.Generator, optional
        Source of the batch draws; ``default_rng(0)`` if not given.

    Returns
    -------
    KPDResult
        ``median`` of the batch values, ``spread`` (half the 16-84 % width), and
        the 16 % (``low``) and 84 % (``high``) quantiles. Consistent with 0 when
        ``low <= 0 <= high``.
    """
    x, y = _finite_rows(x, "x"), _finite_rows(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features; received "
            f"{x.shape[1]} and {y.shape[1]}"
        )
    if n_batches < 1 or batch_size < 2:
        raise ValueError(
            f"need n_batches >= 1 and batch_size >= 2; received {n_batches} "
            f"and {batch_size}"
        )
    rng = np.random.default_rng(0) if rng is None else rng
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    x, y = (x - mean) / std, (y - mean) / std
    values = np.array(
        [
            _unbiased_mmd2(
                x[rng.choice(len(x), min(batch_size, len(x)), replace=False)],
                y[rng.choice(len(y), min(batch_size, len(y)), replace=False)],
                degree,
            )
            for _ in range(n_batches)
        ]
    )
    low, median, high = np.quantile(values, [LOW_Q, 0.5, HIGH_Q])
    return KPDResult(float(median), float((high - low) / 2), float(low), float(high))


def _classifier(classifier, seed: int):
    if classifier == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    if classifier == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if isinstance(classifier, str):
        raise ValueError(
            f"`classifier` must be 'hgb', 'logistic' or an sklearn classifier; "
            f"received {classifier!r}"
        )
    estimator = clone(classifier)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return estimator


def two_sample_auc(
    x,
    y,
    rng: np.random.Generator,
    classifier="hgb",
    calibration: str = "sigmoid",
) -> float:
    """ROC AUC of a calibrated classifier telling ``y`` from ``x``.

    Both samples are shuffled and split 60/20/20 (each sample separately, so the
    class balance is the same in every split): the classifier is fitted on the
    first part, calibrated on the second and scored on the third.

    Parameters
    ----------
    x, y : array_like
        ``(n, d)`` tables of the two samples (features + labels, or pixels).
    rng : np.random.Generator
        Drives the split and the classifier's seed: same generator state, same AUC.
    classifier : {"hgb", "logistic"} or sklearn classifier
        ``"hgb"``: ``HistGradientBoostingClassifier`` (feature tables, tolerates
        NaN); ``"logistic"``: standardised logistic regression (pixels); an
        estimator is cloned and gets the seed as ``random_state`` if it has one.
    calibration : {"sigmoid", "isotonic"}
        ``CalibratedClassifierCV`` method on the frozen fitted classifier. Sigmoid
        is monotonic and leaves the AUC of the raw scores unchanged.

    Returns
    -------
    float
        0.5 when the samples cannot be told apart, 1 when they always can.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x = x[:, np.newaxis] if x.ndim == 1 else x
    y = y[:, np.newaxis] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be (n, d) with the same d; received {x.shape}, {y.shape}"
        )
    if min(len(x), len(y)) < 10:
        raise ValueError(
            f"each sample needs at least 10 rows for a 60/20/20 split; received "
            f"{len(x)} and {len(y)}"
        )
    parts = [[], [], []]
    for label, sample in enumerate((x, y)):
        order = rng.permutation(len(sample))
        n_fit, n_cal = int(0.6 * len(sample)), int(0.2 * len(sample))
        for part, rows in zip(
            parts, np.split(order, [n_fit, n_fit + n_cal]), strict=True
        ):
            part.append((sample[rows], np.full(len(rows), label)))
    (fit_x, fit_y), (cal_x, cal_y), (test_x, test_y) = (
        (np.concatenate([s for s, _ in part]), np.concatenate([t for _, t in part]))
        for part in parts
    )
    model = _classifier(classifier, int(rng.integers(2**31 - 1)))
    model.fit(fit_x, fit_y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=calibration)
    calibrated.fit(cal_x, cal_y)
    return float(roc_auc_score(test_y, calibrated.predict_proba(test_x)[:, 1]))


def _width(values) -> float:
    low, high = np.quantile(values, [LOW_Q, HIGH_Q])
    return float(high - low)


def spread_ratio(gen, sim) -> float:
    """Ratio of the 16-84 % widths, generated over simulated (diversity; ~1 ideal).

    NaNs are dropped; ``inf`` if the simulated width is 0 and the generated is not.
    """
    gen, sim = _finite_1d(gen, "gen"), _finite_1d(sim, "sim")
    gen_width, sim_width = _width(gen), _width(sim)
    if sim_width == 0:
        return 1.0 if gen_width == 0 else float("inf")
    return gen_width / sim_width


def median_difference(gen, sim) -> float:
    """``|median(gen) - median(sim)|`` of the finite values (on log10 intensity:
    the intensity calibration in dex, FIDELITY §2)."""
    gen, sim = _finite_1d(gen, "gen"), _finite_1d(sim, "sim")
    return float(abs(np.median(gen) - np.median(sim)))


def nan_on_error(function, *args, **kwargs) -> float:
    """NaN instead of an error when a sample has too few finite values."""
    try:
        return function(*args, **kwargs)
    except ValueError:
        return float("nan")
