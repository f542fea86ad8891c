"""Targets of FIDELITY.md and the value/floor/target/status entry of every metric.

Every metric is measured ``R`` times (random halvings of the simulated validation
set into A and B): the *value* compares generated images made with the labels of
A with the simulated images of B, the *floor* compares the simulated images of A
with those of B. A perfect generator gives values distributed as the floor.

Status: ``pass`` when the value meets the target. ``fail`` when it misses the
target by more than the floor does, by more than 3 standard deviations (value
and floor combined, over the resamples), or when the value cannot be computed
but the floor can. Otherwise ``unresolved``: the value misses the target, but no
more than simulation itself does at this sample size, within the noise (so a
larger sample is needed to tell). ``info`` when no target is set.

Quantities whose ideal is 0 (KPD) are judged against the floor's scatter only:
a perfect generator gives values distributed as the floor, so the value's own
scatter, which generated outliers blow up, neither widens the target nor the
noise that a failure must exceed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONSISTENT_WITH_ZERO",
    "JUDGES",
    "LABEL_FIGURES",
    "METRICS",
    "REPORT_METRICS",
    "RUN_METRICS",
    "STEREO_METRICS",
    "TARGETS",
    "Metric",
    "Target",
    "entry",
    "report_entries",
]


@dataclass(frozen=True)
class Target:
    """``low <= value <= high`` (either side open), or consistency with zero.

    ``zero_sigmas``: pass when ``value <= zero_sigmas * spread``, for quantities
    whose ideal is 0 (KPD); :func:`entry` gives the *floor's* spread (the
    simulation-vs-simulation scatter at the same sample sizes), never the
    value's own.
    """

    low: float | None = None
    high: float | None = None
    zero_sigmas: float | None = None

    def ok(self, value: float, spread: float = 0.0) -> bool:
        return self.distance(value, spread) == 0.0

    def distance(self, value: float, spread: float = 0.0) -> float:
        """How far ``value`` lies outside the target (0 inside, inf if not finite)."""
        if not math.isfinite(value):
            return math.inf
        if self.zero_sigmas is not None:
            return max(0.0, value - self.zero_sigmas * (spread or 0.0))
        if self.low is not None and value < self.low:
            return self.low - value
        if self.high is not None and value > self.high:
            return value - self.high
        return 0.0

    @property
    def text(self) -> str:
        if self.zero_sigmas is not None:
            return f"consistent with 0 (<= {self.zero_sigmas:g} x floor spread)"
        if self.low is not None and self.high is not None:
            return f"{self.low:g} .. {self.high:g}"
        if self.high is not None:
            return f"<= {self.high:g}"
        return f">= {self.low:g}"


CONSISTENT_WITH_ZERO = Target(zero_sigmas=2.0)


@dataclass(frozen=True)
class Metric:
    """One row of a population's section: where its entry sits, its target, and
    its summary label (``{key}`` fields are filled from the entry)."""

    path: tuple[str, ...]
    section: str
    label: str
    target: Target | None


#: Label-recovery figures (FIDELITY §1): how generated and simulated compare,
#: the target on the absolute comparison, and the row's text.
LABEL_FIGURES = {
    "energy_bias": ("difference", Target(high=0.05), "energy bias"),
    "energy_resolution": (
        "relative difference",
        Target(high=0.10),
        "energy resolution",
    ),
    "cameradirection_68_m": (
        "relative difference",
        Target(high=0.10),
        "direction 68 % (m)",
    ),
    "skydirection_68_deg": (
        "relative difference",
        Target(high=0.10),
        "direction 68 % (°)",
    ),
    "type_auc": ("difference", Target(high=0.02), "gamma/proton AUC"),
}
#: The two judges of label recovery: the CTLearn evaluation predictor and the
#: random forests on image parameters (:mod:`ctgans.evaluate.forest`).
JUDGES = {"ctlearn": "CTLearn", "forest": "RF"}


def _label_metrics(figure_names, root: tuple[str, ...]) -> dict:
    rows = {}
    for judge, judge_text in JUDGES.items():
        for figure in figure_names:
            kind, target, text = LABEL_FIGURES[figure]
            short = "rel. diff." if kind.startswith("relative") else "diff."
            path = (*root, judge, figure)
            rows[f"{judge}_{figure}"] = Metric(
                (*path, "pooled"),
                "label recovery",
                f"{judge_text}: {text}, \\|{short}\\| (sim {{simulated:.3f}}, "
                "gen {generated:.3f})",
                target,
            )
            rows[f"{judge}_{figure}_worst_bin"] = Metric(
                (*path, "worst_bin"),
                "label recovery",
                f"{judge_text}: {text}, \\|{short}\\|, worst bin "
                "({worst_bin_range}, >= {min_events_per_bin} events; sim "
                "{simulated:.3f}, gen {generated:.3f})",
                target,
            )
    return rows


#: Label recovery per population (energy and direction: per particle, never
#: pooled), each judge pooled over energy and in its worst bin.
LABEL_METRICS = _label_metrics(
    [f for f in LABEL_FIGURES if f != "type_auc"], ("label_recovery",)
)
#: Metrics of the whole report rather than of one population: the gamma/proton
#: AUC needs both particles (at ``report["label_recovery"]["both_particles"]``).
RUN_METRICS = _label_metrics(["type_auc"], ("label_recovery", "both_particles"))

#: Every per-population metric, in the summary's order. The comparison takes the
#: targets from here, the summary its rows, and the status counts walk the entries.
METRICS = {
    **LABEL_METRICS,
    # Not in FIDELITY.md: images without a cleaned shower are invisible to the
    # parameter metrics, so their share must match before those mean anything.
    "cleaning_survival": Metric(
        ("cleaning_survival",),
        "parameters",
        "cleaning survival ratio",
        Target(0.9, 1.1),
    ),
    "separation_median": Metric(
        ("separation_power", "median"),
        "parameters",
        "separation power, median",
        Target(high=2e-3),
    ),
    "separation_worst": Metric(
        ("separation_power", "worst"),
        "parameters",
        "separation power, worst ({feature})",
        Target(high=1e-2),
    ),
    "intensity_median_dex": Metric(
        ("intensity_calibration", "median_log10_difference"),
        "intensity",
        "\\|median log10 I difference\\| (dex), worst bin",
        Target(high=0.02),
    ),
    "intensity_width_ratio": Metric(
        ("intensity_calibration", "width_ratio"),
        "intensity",
        "16-84 % width ratio of log10 I, worst bin",
        Target(0.9, 1.1),
    ),
    "kpd": Metric(("kpd",), "parameters", "KPD (MMD², quartic)", CONSISTENT_WITH_ZERO),
    "auc_low_level": Metric(
        ("two_sample_classifier", "low_level"),
        "classifier",
        "AUC low-level, pixels (status: {stronger}; CNN {cnn_auc:.3f}, PCA + "
        "trees {trees_auc:.3f})",
        Target(high=0.70),
    ),
    "auc_high_level": Metric(
        ("two_sample_classifier", "high_level"),
        "classifier",
        "AUC high-level (parameters)",
        Target(high=0.65),
    ),
    "diversity": Metric(
        ("diversity", "worst"),
        "diversity",
        "spread ratio, worst ({feature})",
        Target(0.9, 1.1),
    ),
    # FIDELITY §4 at exactly repeated labels (--fixed-labels) or, without them,
    # among nearest neighbours in label space: the row says which.
    "diversity_fixed_label": Metric(
        ("diversity_fixed_label", "worst"),
        "diversity",
        "spread ratio at a fixed label, median over {n_labels} labels, worst "
        "feature ({feature}; {grouping})",
        Target(0.9, 1.1),
    ),
    # Gammas only: a proton's axis need not point to the source (info there).
    "orientation_pooled": Metric(
        ("image_orientation", "pooled"),
        "orientation",
        "miss distance 68 %, \\|rel. diff.\\| (sim {simulated_deg:.3f}°, gen "
        "{generated_deg:.3f}°; random axis {random_axis_simulated_deg:.3f}°)",
        Target(high=0.10),
    ),
    "orientation_worst_bin": Metric(
        ("image_orientation", "worst_bin"),
        "orientation",
        "miss distance 68 %, \\|rel. diff.\\|, worst bin ({worst_bin_range})",
        Target(high=0.10),
    ),
}
#: Stereo reports (``report["stereo"]["metrics"]``, :mod:`.stereo_report`).
STEREO_METRICS = {
    name: Metric(
        ("stereo", "metrics", name),
        "stereo",
        f"{name}: \\|{comparison}\\| (all events: sim {{simulated}}, gen "
        "{generated})",
        target,
    )
    for name, comparison, target in (
        ("fraction_two_images", "diff.", Target(high=0.05)),
        ("fraction_reconstructed", "diff.", Target(high=0.05)),
        ("direction_68_deg", "rel. diff.", Target(high=0.10)),
        ("intensity_ratio_spearman", "diff.", None),
    )
}
#: Metrics of the whole report outside the populations, in the summary's order
#: after them: the final critic's Wasserstein estimate (no target) and, in
#: stereo reports, the stereo metrics.
REPORT_METRICS = {
    "critic_wasserstein": Metric(
        ("critic_wasserstein",), "critic", "W = D(sim) − D(gen)", None
    ),
    **STEREO_METRICS,
}


def report_entries(report: dict):
    """Every registered metric's entry in ``report``, in the summary's order.

    Yields ``(section, metric, entry)``: :data:`RUN_METRICS`, then
    :data:`METRICS` per population (the section prefixed with the population when
    there are several), then :data:`REPORT_METRICS`; metrics the report does not
    hold are skipped. The summary's rows and the status counts both walk this.
    """

    def at(node, path):
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    for metric in RUN_METRICS.values():
        if (e := at(report, metric.path)) is not None:
            yield metric.section, metric, e
    populations = report.get("populations", {})
    for pop, sections in populations.items():
        where = f"{pop}: " if len(populations) > 1 else ""
        for metric in METRICS.values():
            if (e := at(sections, metric.path)) is not None:
                yield f"{where}{metric.section}", metric, e
    for metric in REPORT_METRICS.values():
        if (e := at(report, metric.path)) is not None:
            yield metric.section, metric, e


#: Name -> target of every registered metric; the comparisons take theirs here.
TARGETS = {
    name: metric.target
    for registry in (METRICS, RUN_METRICS, REPORT_METRICS)
    for name, metric in registry.items()
}

#: A value fails when it misses the target by this many standard deviations
#: (value and floor combined, over resamples) more than the floor does.
NOISE_SIGMAS = 3.0


def _mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def _finite_or_zero(x) -> float:
    return float(x) if x is not None and math.isfinite(x) else 0.0


def _status(miss: float, floor_miss: float, value_std, floor_std) -> str:
    """pass / fail / unresolved from the distances to the target (see module)."""
    if miss == 0.0:
        return "pass"
    if not math.isfinite(miss):
        # No value where the floor has one: the generated images lack what is
        # measured (e.g. none survives cleaning).
        return "fail" if math.isfinite(floor_miss) else "unresolved"
    if not math.isfinite(floor_miss):
        return "unresolved"
    noise = NOISE_SIGMAS * math.hypot(
        value_std if math.isfinite(value_std) else 0.0,
        floor_std if math.isfinite(floor_std) else 0.0,
    )
    return "fail" if miss > floor_miss + noise else "unresolved"


def entry(
    values,
    floors,
    target: Target | None,
    spreads=None,
    floor_spreads=None,
    **extra,
) -> dict:
    """The report entry of one metric measured on ``len(values)`` resamples.

    Parameters
    ----------
    values, floors : sequence of float
        The metric per resample: generated vs simulated, and simulated vs
        simulated. Non-finite resamples are left out of the mean.
    target : Target or None
        None for metrics FIDELITY.md gives no target (status ``info``).
    spreads, floor_spreads : sequence of float, optional
        A per-resample uncertainty of the metric itself (KPD's batch spread),
        averaged; default: the spread over resamples. A target of consistency
        with 0 (:data:`CONSISTENT_WITH_ZERO`) judges value and floor against
        the floor's spread, and its noise is the floor's alone (the larger of
        its batch spread and its spread over resamples, for value and floor).
    **extra
        Added to the entry as they are (sample sizes, per-bin values...).
    """
    value, value_std = _mean_std(values)
    floor, floor_std = _mean_std(floors)
    spread = _mean_std(spreads)[0] if spreads is not None else value_std
    floor_spread = (
        _mean_std(floor_spreads)[0] if floor_spreads is not None else floor_std
    )
    result = {
        "value": value,
        "value_std": value_std,
        "floor": floor,
        "floor_std": floor_std,
        "n_resamples": int(np.isfinite(np.asarray(values, float)).sum()),
    }
    if target is None:
        result |= {"target": None, "status": "info"}
    else:
        if target.zero_sigmas is None:
            miss = target.distance(value, spread)
            noise = (value_std, floor_std)
        else:
            # Under "the generator is simulation" the value scatters as the floor.
            miss = target.distance(value, floor_spread)
            null = max(_finite_or_zero(floor_spread), _finite_or_zero(floor_std))
            noise = (null, null)
        floor_miss = target.distance(floor, floor_spread)
        result |= {
            "target": target.text,
            "status": _status(miss, floor_miss, *noise),
            "floor_pass": floor_miss == 0.0,
        }
        if target.zero_sigmas is not None:
            result["floor_spread"] = floor_spread
    return result | extra
