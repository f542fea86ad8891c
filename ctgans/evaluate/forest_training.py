"""The simulated training split as the forests see it: parametrised once, cached.

The training images of the run's cached dataset go to camera pixels through the
report's inverse mapping and are parametrised like the evaluated images (stereo:
each event's brightest telescope). The table is cached next to the dataset cache
(:mod:`ctgans.evaluate.feature_cache`, keyed by the rows and the mapping).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctgans.evaluate.compare import log_intensity_table
from ctgans.evaluate.feature_cache import cached_features, feature_cache_path
from ctgans.evaluate.features import FEATURE_NAMES, image_features
from ctgans.evaluate.inputs import EvaluationInputs, shower_groups
from ctgans.evaluate.stereo_report import brightest_telescope

__all__ = ["TrainingTable", "training_table"]

log = logging.getLogger(__name__)

CHUNK = 1000


@dataclass
class TrainingTable:
    """Features (log10 intensity), physical labels and shower groups of the
    training images, row by row."""

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    groups: np.ndarray


def _parametrise(inputs: EvaluationInputs, rows: np.ndarray) -> dict:
    log.info("parametrising %d training images for the forests", len(rows))
    images = inputs.dataset.images
    parts = []
    for start in range(0, len(rows), CHUNK):
        square = images[rows[start : start + CHUNK]]
        if square.ndim == 5:
            square = brightest_telescope(square, inputs.charge_channel)
        parts.append(image_features(inputs.camera_charges(square), inputs.geometry))
    return {name: np.concatenate([p[name] for p in parts]) for name in FEATURE_NAMES}


def training_table(inputs: EvaluationInputs) -> TrainingTable:
    """The parametrised training split, from the cache when it is there."""
    dataset = inputs.dataset
    rows = np.flatnonzero(~dataset.is_validation)
    path = None
    if dataset.path and Path(dataset.path).is_file():
        path = feature_cache_path(
            Path(dataset.path),
            rows,
            {
                "role": "forest training split",
                "mapper": str(inputs.run.data.mapper),
                "image_shape": list(dataset.image_shape),
                "view": "brightest telescope" if dataset.images.ndim == 5 else "mono",
            },
        )
    features = cached_features(path, lambda: _parametrise(inputs, rows))
    return TrainingTable(
        log_intensity_table(features),
        {k: v[rows] for k, v in dataset.physical_labels.items()},
        shower_groups(dataset.events[rows]),
    )
