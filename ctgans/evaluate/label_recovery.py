"""Label recovery compared: generated vs simulated figures, pooled and per bin.

The figures themselves (energy bias and resolution, direction containment, type
AUC) come from :mod:`ctgans.predictor.figures`, for the CTLearn evaluation
predictor and the random forests alike; here they become report entries (value,
floor, status) overall and in the worst energy bin (FIDELITY §1).
"""

from __future__ import annotations

import numpy as np

from ctgans.predictor.figures import figures

__all__ = ["MIN_STATUS_PER_BIN", "compare_figures", "recovery_entries"]

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
        Per-event errors (:func:`~ctgans.predictor.figures.event_errors`, or the
        forests') on the generated
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
