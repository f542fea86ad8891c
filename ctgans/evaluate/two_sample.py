"""The two-sample classifier rows: can a classifier tell generated from simulated?

Low level: camera charges (PCA + gradient-boosted trees, and a CNN on the square
images when the report has them; the stronger decides); high level: the image
parameters (:data:`~ctgans.evaluate.features.KPD_FEATURES`). Labels are appended
to both, so the classifiers judge images at matched labels. Value: generated A vs
simulated B; floor: simulated A vs simulated B (:mod:`ctgans.evaluate.targets`).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline

from ctgans.evaluate.cnn_classifier import CNN_DESCRIPTION
from ctgans.evaluate.features import KPD_FEATURES, feature_matrix
from ctgans.evaluate.metrics import nan_on_error, two_sample_auc
from ctgans.evaluate.targets import TARGETS, entry

__all__ = ["classifier_section", "cnn_entry", "stronger"]


def classifier_section(sim, gen, sim_pixels, gen_pixels, labels, splits, seed) -> dict:
    high_sim = np.hstack([feature_matrix(sim, KPD_FEATURES), labels])
    high_gen = np.hstack([feature_matrix(gen, KPD_FEATURES), labels])
    # Charges span decades: compare them on a signed log scale.
    low_sim = np.hstack([np.sign(sim_pixels) * np.log1p(np.abs(sim_pixels)), labels])
    low_gen = np.hstack([np.sign(gen_pixels) * np.log1p(np.abs(gen_pixels)), labels])
    result = {}
    for name, x_sim, x_gen in (
        ("low_level", low_sim, low_gen),
        ("high_level", high_sim, high_gen),
    ):
        values, floors = [], []
        for r, (a, b) in enumerate(splits):
            model = _classifier(name, int(0.6 * min(len(a), len(b))), seed + r)
            for out, x in ((values, x_gen), (floors, x_sim)):
                rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC, r]))
                out.append(nan_on_error(two_sample_auc, x_sim[b], x[a], rng, model))
        result[name] = entry(
            values,
            floors,
            TARGETS[f"auc_{name}"],
            inputs=(
                "camera charges (sign(q) log(1 + |q|/p.e.)) + standardised labels"
                if name == "low_level"
                else "image parameters (log10 intensity) + standardised labels"
            ),
            classifier=("PCA (<= 50 components) + " if name == "low_level" else "")
            + "HistGradientBoosting, sigmoid-calibrated, 60/20/20 split",
        )
    mean_auc = result["low_level"]["value"]
    result["low_level"] |= {
        "stronger": "PCA + trees",
        "cnn_auc": None,
        "trees_auc": mean_auc,
    }
    return result


def cnn_entry(sim_square, gen_square, labels, splits, seed) -> dict:
    """The CNN two-sample AUC on square images, value and floor per halving."""
    from ctgans.evaluate.cnn_classifier import cnn_two_sample_auc, signed_log

    x_sim, x_gen = signed_log(sim_square), signed_log(gen_square)
    values, floors = [], []
    for r, (a, b) in enumerate(splits):
        for out, x in ((values, x_gen), (floors, x_sim)):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC22, r]))
            out.append(
                nan_on_error(
                    cnn_two_sample_auc, x_sim[b], x[a], labels[b], labels[a], rng
                )
            )
    return entry(values, floors, TARGETS["auc_low_level"])


def stronger(trees: dict, cnn: dict) -> dict:
    """The low-level entry of the classifier with the higher AUC, both beside it.

    A weak classifier only ever lowers the AUC, so the stronger one decides."""
    summary = ("value", "value_std", "floor", "floor_std", "n_resamples")
    cnn = cnn | {
        "inputs": "square images (the camera charges mapped as for training, "
        "sign(q) log(1 + |q|/p.e.)) + standardised labels",
        "classifier": CNN_DESCRIPTION,
    }
    both = {"cnn": cnn, "pca_trees": trees}
    cnn_wins = np.nan_to_num(cnn["value"], nan=-1) > np.nan_to_num(
        trees["value"], nan=-1
    )
    name = "cnn" if cnn_wins else "pca_trees"
    return both[name] | {
        "stronger": "CNN" if cnn_wins else "PCA + trees",
        "cnn_auc": cnn["value"],
        "trees_auc": trees["value"],
        "classifiers": {
            k: {key: e[key] for key in (*summary, "inputs", "classifier")}
            for k, e in both.items()
        },
    }


def _classifier(name: str, n_fit: int, seed: int):
    """Gradient-boosted trees; on pixels after a PCA (trees on a thousand pixel
    columns cost ~10 s per fit on one CPU core, on 50 components < 1 s). Seeded:
    the PCA of a large table uses a randomised SVD."""
    # sklearn's default of 20 events per leaf cannot split tiny samples.
    trees = HistGradientBoostingClassifier(
        min_samples_leaf=int(np.clip(n_fit // 20, 3, 20)), random_state=seed
    )
    if name == "high_level":
        return trees
    pca = PCA(n_components=int(np.clip(n_fit // 4, 2, 50)), random_state=seed)
    return make_pipeline(pca, trees)
