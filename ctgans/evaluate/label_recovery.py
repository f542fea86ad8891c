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

__all__ = [
    "BINS_PER_DECADE",
    "MIN_PER_BIN",
    "MIN_STATUS_PER_BIN",
    "compare_figures",
    "energy_edges",
    "event_errors",
    "figures",
    "recovery_entries",
]

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


def _one(errors: dict[str, np.ndarray], rows: np.ndarray, minimum: int) -> dict:
    """Figures of ``rows``, each on its finite values (the forests give NaN for
    images without a cleaned shower); NaN with fewer than ``minimum``."""
    result: dict[str, float] = {}

    def finite(values):
        values = values[rows]
        return values[np.isfinite(values)]

    if "energy_rel" in errors:
        rel = finite(errors["energy_rel"])
        enough = rel.size >= minimum
        result["energy_bias"] = float(np.median(rel)) if enough else np.nan
        result["energy_resolution"] = (
            float(inter_quantile_distance(rel)) if enough else np.nan
        )
    for task, (_, _, unit) in DIRECTION_COLUMNS.items():
        if f"{task}_error" in errors:
            err = finite(errors[f"{task}_error"])
            result[f"{task}_68_{unit}"] = (
                float(np.quantile(err, CONTAINMENT)) if err.size >= minimum else np.nan
            )
    if "gammaness" in errors:
        scored = np.isfinite(errors["gammaness"][rows])
        classes = errors["is_gamma"][rows][scored]
        both = scored.sum() >= minimum and 0 < classes.sum() < classes.size
        result["type_auc"] = (
            float(roc_auc_score(classes, errors["gammaness"][rows][scored]))
            if both
            else np.nan
        )
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


#: The worst-bin status looks only at bins with this many events with a figure in
#: each of generated A, simulated A and simulated B (a 68 % quantile of fewer
#: scatters by more than the targets).
MIN_STATUS_PER_BIN = 50


def compare_figures(x, y, kind: str):
    """``|x / y - 1|`` (``kind`` "relative difference") or ``|x - y|``; NaN-safe."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(x / y - 1) if kind == "relative difference" else np.abs(x - y)


def recovery_entries(
    gen: dict[str, np.ndarray],
    sim: dict[str, np.ndarray],
    splits: list[tuple[np.ndarray, np.ndarray]],
    log_energy: np.ndarray,
    edges: np.ndarray,
    figures_wanted: dict[str, tuple[str, object]],
    min_per_bin: int = MIN_STATUS_PER_BIN,
) -> dict:
    """Pooled and worst-energy-bin entries of every label-recovery figure.

    Parameters
    ----------
    gen, sim : dict of str to numpy.ndarray
        Per-event errors (:func:`event_errors`, or the forests') on the generated
        and the simulated images, row by row the same labels.
    splits : list of (numpy.ndarray, numpy.ndarray)
        The halvings A/B: value = generated A vs simulated B, floor = simulated A
        vs simulated B.
    log_energy, edges : numpy.ndarray
        True log10(E/TeV) per row and the bin edges.
    figures_wanted : dict
        Figure name -> (comparison kind, target) (:data:`targets.LABEL_FIGURES`);
        figures the errors do not give are left out.
    min_per_bin : int
        Events a bin needs on every side to count for the worst bin.

    Returns
    -------
    dict
        ``{figure: {"pooled": entry, "worst_bin": entry}}``.
    """
    from ctgans.evaluate.binned import nan_reduce, worst_bin
    from ctgans.evaluate.targets import entry

    every = np.arange(len(log_energy))
    sim_all = figures(sim, every, log_energy, edges, min_per_bin)
    gen_all = figures(gen, every, log_energy, edges, min_per_bin)
    sides = [
        [
            figures(e, r, log_energy, edges, min_per_bin)
            for e, r in ((gen, a), (sim, a), (sim, b))
        ]
        for a, b in splits
    ]
    result = {}
    for name, (kind, target) in figures_wanted.items():
        if name not in sim_all["overall"]:
            continue

        def compare(part, x, y, name=name, kind=kind):
            return compare_figures(x[part][name], y[part][name], kind)

        values = [compare("overall", g, sb) for g, _, sb in sides]
        floors = [compare("overall", sa, sb) for _, sa, sb in sides]
        pooled = entry(
            values,
            floors,
            target,
            comparison=f"|{kind}|, generated A vs simulated B",
            simulated=sim_all["overall"][name],
            generated=gen_all["overall"][name],
        )
        binned_v = np.array([compare("per_bin", g, sb) for g, _, sb in sides])
        binned_f = np.array([compare("per_bin", sa, sb) for _, sa, sb in sides])
        worst_v, worst = worst_bin(binned_v, ideal=0.0)
        worst_f, _ = worst_bin(binned_f, ideal=0.0)
        in_bin = {
            side: (np.nan if worst is None else table["per_bin"][name][worst])
            for side, table in (("simulated", sim_all), ("generated", gen_all))
        }
        worst_entry = entry(
            worst_v,
            worst_f,
            target,
            comparison=f"|{kind}| in the worst bin, generated A vs simulated B",
            worst_bin=worst,
            worst_bin_range=(
                "–"
                if worst is None
                else f"log10 E/TeV {edges[worst]:.1f}..{edges[worst + 1]:.1f}"
            ),
            min_events_per_bin=min_per_bin,
            **in_bin,
            per_bin={
                "value": nan_reduce(np.nanmean, binned_v).tolist(),
                "floor": nan_reduce(np.nanmean, binned_f).tolist(),
                "simulated": sim_all["per_bin"][name],
                "generated": gen_all["per_bin"][name],
            },
        )
        result[name] = {"pooled": pooled, "worst_bin": worst_entry}
    return result
