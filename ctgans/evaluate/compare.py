"""Distribution metrics of generated vs simulated images, each next to its floor.

FIDELITY §2-4 on one population (all events, or one particle): cleaning survival,
separation power per image parameter, intensity calibration per energy bin, KPD,
low- and high-level two-sample classifier AUC, and diversity per energy bin. Each
metric is measured on every halving ``(A, B)`` of the simulated events: value =
metric(generated with A's labels, simulated B), floor = metric(simulated A,
simulated B) (see :mod:`ctgans.evaluate.targets`).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from ctgans.evaluate.binned import MIN_PER_BIN, nan_reduce, per_bin, worst_bin
from ctgans.evaluate.features import FEATURE_NAMES, KPD_FEATURES, feature_matrix
from ctgans.evaluate.metrics import (
    kpd,
    median_difference,
    nan_on_error,
    separation_power,
    spread_ratio,
)
from ctgans.evaluate.orientation import orientation_section
from ctgans.evaluate.targets import TARGETS, entry
from ctgans.evaluate.two_sample import classifier_section, cnn_entry, stronger
from ctgans.predictor.figures import energy_edges

__all__ = [
    "DIVERSITY_FEATURES",
    "KPD_FEATURES",
    "MIN_PER_BIN",
    "TARGETS",
    "compare_population",
    "log_intensity_table",
]

#: Hillas features whose spread at fixed label measures diversity.
DIVERSITY_FEATURES = (
    "hillas_intensity",
    "hillas_r",
    "hillas_length",
    "hillas_width",
    "hillas_skewness",
    "hillas_kurtosis",
)


def log_intensity_table(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feature table with ``hillas_intensity`` in log10(p.e.) (spans decades)."""
    table = dict(features)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["hillas_intensity"] = np.log10(features["hillas_intensity"])
    return table


def _bins(n: int) -> int:
    """Histogram bins for separation power: about 50 events per bin, 10-50 bins."""
    return int(np.clip(n // 50, 10, 50))


def compare_population(
    sim: dict[str, np.ndarray],
    gen: dict[str, np.ndarray],
    sim_pixels: np.ndarray,
    gen_pixels: np.ndarray,
    labels: np.ndarray,
    log_energy: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    *,
    source: tuple[np.ndarray, np.ndarray] | None = None,
    focal_length_m: float | None = None,
    orientation_target: bool = True,
    gen_source: tuple[np.ndarray, np.ndarray] | None = None,
    square: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Every distribution metric of one population.

    Parameters
    ----------
    sim, gen : dict of str to numpy.ndarray
        Feature tables (:func:`log_intensity_table`) of the simulated images and
        of the images generated with the same labels, row by row.
    sim_pixels, gen_pixels : numpy.ndarray
        Camera charges, ``(n, n_pixels)``.
    labels : numpy.ndarray
        Standardised labels ``(n, L)``, appended to the classifiers' inputs.
    log_energy : numpy.ndarray
        True log10(E/TeV) per row, for the per-energy-bin metrics.
    splits : list of (numpy.ndarray, numpy.ndarray)
        Row indices of the halves A and B, one pair per resample.
    seed : int
        Seeds the classifiers, KPD batches and random axes.
    source : (numpy.ndarray, numpy.ndarray), optional
        True source position per row in the features' frame (metres): adds the
        ``image_orientation`` section
        (:func:`~ctgans.evaluate.orientation.orientation_section`).
    focal_length_m : float, optional
        Effective focal length, for the orientation figures in degrees.
    orientation_target : bool
        False for protons: the orientation rows are reported without a target.
    gen_source : (numpy.ndarray, numpy.ndarray), optional
        Source positions of the "generated" rows, where simulated images of
        other showers stand in for the generator.
    square : (numpy.ndarray, numpy.ndarray), optional
        The camera charges of ``sim_pixels`` and ``gen_pixels`` mapped to square
        images, ``(n, H, W, C)`` in p.e.: adds the CNN to the low-level
        two-sample classifier (:mod:`~ctgans.evaluate.cnn_classifier`); the
        status is that of the stronger classifier (higher AUC).
    """
    # One thread: OpenMP sync on a shared CPU made gradient boosting 10x slower,
    # and the AUC then does not depend on the machine's thread count.
    with threadpool_limits(1):
        result = _compare(
            sim, gen, sim_pixels, gen_pixels, labels, log_energy, splits, seed
        )
    if square is not None:
        classifiers = result["two_sample_classifier"]
        classifiers["low_level"] = stronger(
            classifiers["low_level"], cnn_entry(*square, labels, splits, seed)
        )
    if source is not None:
        result["image_orientation"] = orientation_section(
            sim,
            gen,
            source,
            log_energy,
            energy_edges(log_energy),
            splits,
            seed,
            focal_length_m=focal_length_m,
            target=TARGETS["orientation_pooled"] if orientation_target else None,
            worst_target=(
                TARGETS["orientation_worst_bin"] if orientation_target else None
            ),
            gen_source=gen_source,
        )
    return result


def _compare(sim, gen, sim_pixels, gen_pixels, labels, log_energy, splits, seed):
    edges = energy_edges(log_energy)
    n_a = int(np.mean([len(a) for a, _ in splits]))
    n_b = int(np.mean([len(b) for _, b in splits]))
    sizes = {"n_generated_A": n_a, "n_simulated_B": n_b, "n_floor_A": n_a}
    return {
        "sample_sizes": sizes,
        "cleaning_survival": _survival(sim, gen, splits),
        "separation_power": _separation(sim, gen, splits),
        "intensity_calibration": _intensity(sim, gen, log_energy, edges, splits),
        "kpd": _kpd(sim, gen, splits, seed),
        "two_sample_classifier": classifier_section(
            sim, gen, sim_pixels, gen_pixels, labels, splits, seed
        ),
        "diversity": _diversity(sim, gen, log_energy, edges, splits),
    }


def _survival(sim, gen, splits) -> dict:
    """Fraction of images that survive cleaning, generated A / simulated B."""
    alive_sim = np.isfinite(sim["hillas_intensity"])
    alive_gen = np.isfinite(gen["hillas_intensity"])

    def ratio(x, y):
        return x.mean() / y.mean() if y.mean() > 0 else np.nan

    values = [ratio(alive_gen[a], alive_sim[b]) for a, b in splits]
    floors = [ratio(alive_sim[a], alive_sim[b]) for a, b in splits]
    return entry(
        values,
        floors,
        TARGETS["cleaning_survival"],
        target_source="ctgans (not in FIDELITY.md)",
        simulated_fraction=float(alive_sim.mean()),
        generated_fraction=float(alive_gen.mean()),
    )


def _separation(sim, gen, splits) -> dict:
    per_feature = {}
    for name in FEATURE_NAMES:
        values, floors = [], []
        for a, b in splits:
            bins = _bins(min(len(a), len(b)))
            values.append(
                nan_on_error(separation_power, gen[name][a], sim[name][b], bins)
            )
            floors.append(
                nan_on_error(separation_power, sim[name][a], sim[name][b], bins)
            )
        per_feature[name] = (np.array(values), np.array(floors))
    stacked_v = np.array([v for v, _ in per_feature.values()])  # (features, R)
    stacked_f = np.array([f for _, f in per_feature.values()])
    return {
        "median": entry(
            nan_reduce(np.nanmedian, stacked_v),
            nan_reduce(np.nanmedian, stacked_f),
            TARGETS["separation_median"],
        ),
        "worst": entry(
            nan_reduce(np.nanmax, stacked_v),
            nan_reduce(np.nanmax, stacked_f),
            TARGETS["separation_worst"],
            feature=_worst_feature(per_feature),
        ),
        "per_feature": {
            name: entry(v, f, TARGETS["separation_worst"])
            for name, (v, f) in per_feature.items()
        },
        "bins": _bins(min(len(splits[0][0]), len(splits[0][1]))),
        "note": "hillas_intensity in log10(p.e.); images without a cleaned "
        "shower are left out here and counted in cleaning_survival",
    }


def _worst_feature(per_feature: dict) -> str | None:
    values = np.array([v for v, _ in per_feature.values()])
    means = nan_reduce(np.nanmean, values, axis=1)
    if not np.isfinite(means).any():
        return None
    return list(per_feature)[int(np.nanargmax(means))]


def _binned_entry(
    function, sim_x, gen_x, energy, edges, splits, target, ideal: float = 1.0
) -> dict:
    """The worst energy bin (farthest from ``ideal``) of ``function(gen A, sim B)``."""
    values = np.array(
        [per_bin(function, gen_x, sim_x, energy, edges, a, b) for a, b in splits]
    )
    floors = np.array(
        [per_bin(function, sim_x, sim_x, energy, edges, a, b) for a, b in splits]
    )
    worst_v, bin_v = worst_bin(values, ideal)
    worst_f, _ = worst_bin(floors, ideal)
    return entry(
        worst_v,
        worst_f,
        target,
        worst_bin=bin_v,
        per_bin={
            "value": nan_reduce(np.nanmean, values).tolist(),
            "floor": nan_reduce(np.nanmean, floors).tolist(),
        },
    )


def _intensity(sim, gen, energy, edges, splits) -> dict:
    # Feature tables hold log10(intensity): differences are in dex.
    return {
        "energy_edges_log10_tev": edges.tolist(),
        "median_log10_difference": _binned_entry(
            median_difference,
            sim["hillas_intensity"],
            gen["hillas_intensity"],
            energy,
            edges,
            splits,
            TARGETS["intensity_median_dex"],
            ideal=0.0,
        )
        | {"unit": "dex"},
        "width_ratio": _binned_entry(
            spread_ratio,
            sim["hillas_intensity"],
            gen["hillas_intensity"],
            energy,
            edges,
            splits,
            TARGETS["intensity_width_ratio"],
        ),
        "note": "value: the energy bin farthest from the ideal (0 dex, ratio 1); "
        "bins need "
        f">= {MIN_PER_BIN} images in both samples",
    }


def _kpd(sim, gen, splits, seed: int) -> dict:
    # As JetNet: no clipping, so generated outliers count; kpd() scales by the
    # simulated sample only.
    x_sim = feature_matrix(sim, KPD_FEATURES)
    x_gen = feature_matrix(gen, KPD_FEATURES)
    values, floors, spreads, floor_spreads = [], [], [], []
    for r, (a, b) in enumerate(splits):
        rows = max(2, min(len(a), len(b)) // 2)
        for out, spread, x in (
            (values, spreads, x_gen),
            (floors, floor_spreads, x_sim),
        ):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD, r]))
            try:
                result = kpd(x_sim[b], x[a], batch_size=rows, rng=rng)
                out.append(result.median)
                spread.append(result.spread)
            except ValueError:
                out.append(np.nan)
                spread.append(np.nan)
    return entry(
        values,
        floors,
        TARGETS["kpd"],
        spreads=spreads,
        floor_spreads=floor_spreads,
        features=list(KPD_FEATURES),
        kernel="(x.y/d + 1)^4 on features standardised with the simulated "
        "sample's mean and std, not clipped; 10 batches of half a sample",
    )


def _diversity(sim, gen, energy, edges, splits) -> dict:
    per_feature = {
        name: _binned_entry(
            spread_ratio,
            sim[name],
            gen[name],
            energy,
            edges,
            splits,
            TARGETS["diversity"],
        )
        for name in DIVERSITY_FEATURES
    }
    worst = max(
        per_feature,
        key=lambda n: (
            abs(per_feature[n]["value"] - 1)
            if np.isfinite(per_feature[n]["value"])
            else -1
        ),
    )
    return {
        "worst": per_feature[worst] | {"feature": worst},
        "per_feature": per_feature,
        "note": "spread (16-84 %) generated/simulated within energy bins (5 per "
        "decade) at matched labels; value: the bin farthest from 1; "
        "hillas_intensity in log10(p.e.)",
    }
