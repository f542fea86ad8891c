"""Fidelity of generated images: physics features, then metrics on feature tables.

``features`` turns camera images into ctapipe image parameters; ``metrics`` compares
two tables (or pixel arrays) with the figures defined in ``FIDELITY.md``. The report
(``python -m ctgans.evaluate``) is built by ``report`` from ``inputs`` (run folder
and validation data), ``generation``, ``compare`` (distribution metrics),
``label_recovery`` (with the evaluation predictor of :mod:`ctgans.predictor`),
``critic`` and ``targets`` (value / floor / status), and written with ``plots`` and
``summary``. Only ``features`` and ``metrics`` are imported here (no TensorFlow).
"""

from ctgans.evaluate.features import FEATURE_NAMES, feature_matrix, image_features
from ctgans.evaluate.metrics import (
    KPDResult,
    kpd,
    median_difference,
    separation_power,
    separation_powers,
    spread_ratio,
    two_sample_auc,
)

__all__ = [
    "FEATURE_NAMES",
    "KPDResult",
    "feature_matrix",
    "image_features",
    "kpd",
    "median_difference",
    "separation_power",
    "separation_powers",
    "spread_ratio",
    "two_sample_auc",
]
