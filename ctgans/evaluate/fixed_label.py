"""Diversity at a fixed label (FIDELITY §4): the spread of each image parameter
among images with the same labels, generated / simulated.

Today's per-energy-bin spread marginalises over direction; a generator that
draws one image per label (mode collapse, or noise it ignores) shows here first.
Two ways to get images that share their labels:

- **exact labels**: a simulated file whose showers repeat a few labels exactly
  (``python -m ctgans.simulate --fixed-energies ... --fixed-directions ...``,
  the core drawn freely), and the same labels given to the generator as often;
- **nearest neighbours** (a user's files, no label repeats): groups of the
  ``k`` held-out images nearest to an anchor in the full standardised label
  space, the generated images made with the same labels.

Per group and per feature the 16-84 % spread ratio of generated A over simulated
B is compared with that of simulated A over simulated B (the floor), on the same
halvings by shower as every other metric. Per feature the median over the groups
is judged (the worst group, beside it, is noisy: a 16-84 % width of 50 images
is known to +-20 %); the row reports the worst feature.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ctgans.evaluate.binned import MIN_PER_BIN, nan_reduce, per_bin, worst_bin
from ctgans.evaluate.compare import DIVERSITY_FEATURES
from ctgans.evaluate.metrics import spread_ratio
from ctgans.evaluate.orientation import miss_distance, source_in_geometry_frame
from ctgans.evaluate.targets import METRICS, entry

__all__ = [
    "FIXED_LABEL_FEATURES",
    "NEIGHBOURS",
    "exact_label_groups",
    "fixed_label_diversity",
    "nearest_label_groups",
    "with_miss_distance",
]

#: Image parameters compared (intensity in log10 p.e.; ``miss_distance``: of
#: the true source from the Hillas axis, where the labels give the source).
FIXED_LABEL_FEATURES = (*DIVERSITY_FEATURES, "miss_distance")
#: Images per nearest-neighbour group and the most groups: each half then holds
#: ~50 images, over the :data:`MIN_PER_BIN` a spread needs after cleaning.
NEIGHBOURS = 100
MAX_GROUPS = 10


def exact_label_groups(physical: dict[str, np.ndarray]) -> np.ndarray:
    """One integer per row, equal for rows whose labels are all equal (to 1e-6)."""
    keys = np.stack([np.round(np.asarray(v, float), 6) for v in physical.values()], 1)
    return np.unique(keys, axis=0, return_inverse=True)[1].ravel()


def nearest_label_groups(
    labels: np.ndarray,
    seed: int,
    k: int = NEIGHBOURS,
    max_groups: int = MAX_GROUPS,
) -> np.ndarray:
    """Disjoint groups of the ``k`` rows nearest to random anchors in label space.

    Parameters
    ----------
    labels : numpy.ndarray
        Standardised labels ``(n, L)`` (every label counts, in units of its
        spread).
    seed : int
        Seeds the order in which anchors are tried.
    k, max_groups : int
        Rows per group, and the most groups.

    Returns
    -------
    numpy.ndarray
        Group index per row, -1 for rows in no group.
    """
    n = len(labels)
    groups = np.full(n, -1)
    if n < k:
        return groups
    tree = cKDTree(labels)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF1E]))
    n_query = min(n, 4 * k)
    found = 0
    for anchor in rng.permutation(n):
        if found == max_groups:
            break
        if groups[anchor] >= 0:
            continue
        _, near = tree.query(labels[anchor], k=n_query)
        free = near[groups[near] < 0][:k]
        if len(free) == k:
            groups[free] = found
            found += 1
    return groups


def with_miss_distance(features: dict, physical: dict, geometry) -> dict:
    """The feature table plus ``miss_distance`` (m) of the labelled source from
    the Hillas axis; unchanged without camera-direction labels."""
    if "cam_coord_offset_x" not in physical:
        return features
    source = source_in_geometry_frame(
        physical["cam_coord_offset_x"], physical["cam_coord_offset_y"], geometry
    )
    miss = miss_distance(
        features["hillas_x"], features["hillas_y"], features["hillas_psi"], *source
    )
    return features | {"miss_distance": miss}


def _label_text(physical: dict, row: int) -> str:
    parts = []
    for name, values in physical.items():
        if name == "log_true_energy":
            parts.append(f"E {10 ** values[row]:.3g} TeV")
        else:
            parts.append(f"{name.removeprefix('cam_coord_offset_')} {values[row]:+.3f}")
    return ", ".join(parts)


def _group_description(physical: dict, groups: np.ndarray) -> list[dict]:
    """Per group: its size, its label (median) and the range of each label."""
    out = []
    for g in range(int(groups.max()) + 1 if groups.size else 0):
        rows = np.flatnonzero(groups == g)
        # The row nearest the median label names the group.
        offsets = sum(np.abs(v[rows] - np.median(v[rows])) for v in physical.values())
        medoid = rows[np.argmin(offsets)]
        out.append(
            {
                "n_images": int(len(rows)),
                "label": _label_text(physical, medoid),
                "label_range": {k: float(np.ptp(v[rows])) for k, v in physical.items()},
            }
        )
    return out


def _median(values: np.ndarray) -> np.ndarray:
    """Per resample, the median over labels; NaN without labels."""
    if values.shape[1] == 0:
        return np.full(len(values), np.nan)
    return np.median(values, axis=1)


def fixed_label_diversity(
    sim: dict[str, np.ndarray],
    gen: dict[str, np.ndarray],
    groups: np.ndarray,
    physical: dict[str, np.ndarray],
    splits: list[tuple[np.ndarray, np.ndarray]],
    grouping: str,
) -> dict:
    """The fixed-label diversity section of one population.

    Parameters
    ----------
    sim, gen : dict of str to numpy.ndarray
        Feature tables (log10 intensity, :func:`with_miss_distance`) of the
        simulated images and of the images generated with the same labels, row
        by row.
    groups : numpy.ndarray
        Label group per row (:func:`exact_label_groups`,
        :func:`nearest_label_groups`; -1: in no group).
    physical : dict of str to numpy.ndarray
        Labels in physical units per row, to describe the groups.
    splits : list of (numpy.ndarray, numpy.ndarray)
        Halves A and B (whole showers), one pair per resample.
    grouping : str
        How the groups were made, shown in the summary row.

    Returns
    -------
    dict
        ``worst`` (the entry of the feature whose median over groups is
        farthest from 1, with ``feature``, ``grouping``), ``per_feature`` (each
        feature's median over groups, its worst group and every group's
        ratio), ``groups`` (size, label and label range).
    """
    target = METRICS["diversity_fixed_label"].target
    n_groups = int(groups.max()) + 1 if groups.size else 0
    n_groups = max(n_groups, 0)
    edges = np.arange(n_groups + 1) - 0.5
    described = _group_description(physical, groups)
    per_feature = {}
    for name in (f for f in FIXED_LABEL_FEATURES if f in sim):
        values = np.array(
            [
                per_bin(spread_ratio, gen[name], sim[name], groups, edges, a, b)
                for a, b in splits
            ]
        ).reshape(len(splits), n_groups)
        floors = np.array(
            [
                per_bin(spread_ratio, sim[name], sim[name], groups, edges, a, b)
                for a, b in splits
            ]
        ).reshape(len(splits), n_groups)
        # Median over the labels measured in every resample: a worst label of
        # ~50-image halves would be chosen for its noise (+-20 % per width).
        complete = np.isfinite(values).all(0) & np.isfinite(floors).all(0)
        _, group = worst_bin(np.where(complete, values, np.nan))
        per_feature[name] = entry(
            _median(values[:, complete]),
            _median(floors[:, complete]),
            target,
            n_labels=int(complete.sum()),
            worst_label=None if group is None else described[group]["label"],
            worst_label_value=(
                None if group is None else float(np.mean(values[:, group]))
            ),
            per_bin={
                "value": nan_reduce(np.nanmean, values).tolist(),
                "floor": nan_reduce(np.nanmean, floors).tolist(),
            },
        )

    def badness(name):
        value = per_feature[name]["value"]
        return abs(value - 1) if np.isfinite(value) else -1

    worst = max(per_feature, key=badness)
    return {
        "worst": per_feature[worst] | {"feature": worst, "grouping": grouping},
        "per_feature": per_feature,
        "groups": described,
        "note": "spread (16-84 %) generated/simulated among images with the same "
        f"labels ({grouping}); a group counts where both halves hold >= "
        f"{MIN_PER_BIN} images surviving cleaning; value: the median over groups, "
        "of the feature farthest from 1; hillas_intensity in log10(p.e.), "
        "miss_distance in m",
    }
