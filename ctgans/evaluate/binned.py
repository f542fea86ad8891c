"""Per-energy-bin evaluation of a two-sample metric, and the worst bin of it."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["MIN_PER_BIN", "nan_reduce", "per_bin", "worst_bin"]

#: Per-bin metrics need this many finite values in both samples.
MIN_PER_BIN = 20


def nan_reduce(function, values, axis: int = 0) -> np.ndarray:
    """``function`` (``np.nanmean``, ``np.nanmax``...) with NaN, not a warning,
    where every value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(np.asarray(values, dtype=np.float64), axis=axis)


def per_bin(function, x, y, energy, edges, a, b) -> np.ndarray:
    """``function(x[a], y[b])`` in each energy bin with at least
    :data:`MIN_PER_BIN` finite values on both sides; NaN elsewhere."""
    out = np.full(len(edges) - 1, np.nan)
    bin_a = np.digitize(energy[a], edges) - 1
    bin_b = np.digitize(energy[b], edges) - 1
    for i in range(len(out)):
        xa, yb = x[a][bin_a == i], y[b][bin_b == i]
        xa, yb = xa[np.isfinite(xa)], yb[np.isfinite(yb)]
        if min(xa.size, yb.size) >= MIN_PER_BIN:
            out[i] = function(xa, yb)
    return out


def worst_bin(values: np.ndarray, ideal: float = 1.0) -> tuple[np.ndarray, int | None]:
    """Per resample, the value of the bin whose mean is farthest from ``ideal``,
    among the bins measured in every resample (a bin filled only now and then
    would be chosen for its noise).

    ``values``: ``(resamples, bins)``.
    """
    complete = np.isfinite(values).all(axis=0)
    if not complete.any():
        return np.full(len(values), np.nan), None
    distance = np.where(complete, np.abs(nan_reduce(np.nanmean, values) - ideal), -1.0)
    worst = int(np.argmax(distance))
    return values[:, worst], worst
