"""The report's fixed-label diversity rows: which images, which groups.

With ``--fixed-labels FILE...`` the simulated side is a file whose showers
repeat a few labels exactly (read with the run's selection and normalisation,
like ``--reference``), and the generator gets the same labels, one image per
simulated image with its own noise. Without it, groups of nearest neighbours in
the full label space of the held-out sample stand in (the row says so). The
metric itself is :func:`ctgans.evaluate.fixed_label.fixed_label_diversity`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ctgans.data.cache import CachedDataset
from ctgans.data.reference import prepare_reference, reference_config
from ctgans.evaluate.compare import log_intensity_table
from ctgans.evaluate.feature_cache import cached_features, feature_cache_path
from ctgans.evaluate.features import image_features
from ctgans.evaluate.fixed_label import (
    NEIGHBOURS,
    exact_label_groups,
    fixed_label_diversity,
    nearest_label_groups,
    with_miss_distance,
)
from ctgans.evaluate.inputs import EvaluationInputs, shower_groups
from ctgans.evaluate.stereo_report import brightest_telescope
from ctgans.exceptions import DataError

__all__ = [
    "EXACT",
    "exact_label_sections",
    "load_fixed_label_sample",
    "nearest_label_section",
]

log = logging.getLogger(__name__)

EXACT = "exact labels, --fixed-labels"
#: A fixed-label file must repeat at least one label this often.
MIN_REPEATS = 40


def load_fixed_label_sample(
    inputs: EvaluationInputs, files: tuple[Path, ...]
) -> CachedDataset:
    """The fixed-label files read with the run's selection and normalisation
    (cached as ``--reference`` samples are).

    Raises
    ------
    DataError
        If no label repeats :data:`MIN_REPEATS` times among the selected images.
    """
    cache_dir = (
        Path(inputs.dataset.path).parent
        if inputs.dataset.path is not None
        else inputs.run.data.cache_dir
    )
    cfg = dataclasses.replace(
        reference_config(inputs.run.data, files), cache_dir=cache_dir
    )
    run = inputs.run
    sample = prepare_reference(
        cfg, run.normalization, run.label_scaler, inputs.dataset.tel_ids
    )
    most = np.bincount(exact_label_groups(sample.physical_labels)).max()
    if most < MIN_REPEATS:
        raise DataError(
            f"--fixed-labels {', '.join(map(str, files))}: the most repeated label "
            f"has {most} images after the run's cuts; expected >= {MIN_REPEATS} "
            "(python -m ctgans.simulate --fixed-energies ... --fixed-directions ...)"
        )
    return sample


def nearest_label_section(
    sim: dict, gen: dict, labels: np.ndarray, physical: dict, splits, seed: int
) -> dict:
    """Fixed-label diversity among nearest neighbours in label space (one
    population of the held-out sample; generated images already made with the
    same labels)."""
    groups = nearest_label_groups(labels, seed)
    grouping = (
        f"no repeated labels: {np.count_nonzero(np.unique(groups) >= 0)} groups of "
        f"the {NEIGHBOURS} "
        "nearest neighbours in " + ", ".join(physical)
    )
    return fixed_label_diversity(sim, gen, groups, physical, splits, grouping)


def exact_label_sections(
    inputs: EvaluationInputs,
    sample: CachedDataset,
    make_square: Callable[[np.ndarray], np.ndarray] | None,
    populations: Callable[[dict], dict[str, np.ndarray]],
    halvings: Callable[[np.ndarray], list],
) -> tuple[dict[str, dict], dict]:
    """The fixed-label section of each population of the fixed-label sample.

    Parameters
    ----------
    inputs : EvaluationInputs
        The run (mapping back to camera pixels, geometry).
    sample : CachedDataset
        :func:`load_fixed_label_sample`.
    make_square : callable or None
        Standardised labels -> generated square images (network units), one per
        row with its own noise; None: the simulated images stand in for the
        generator (what a perfect one scores: the value equals the floor).
    populations : callable
        Physical labels -> population name -> row mask.
    halvings : callable
        Shower index per row -> halvings A/B.

    Returns
    -------
    (dict, dict)
        Population name -> section, and the sample sizes.
    """
    physical = sample.physical_labels
    images = sample.images
    fake = make_square(sample.labels) if make_square is not None else None
    if images.ndim == 5:
        images = brightest_telescope(images, inputs.charge_channel)
        if fake is not None:
            fake = brightest_telescope(fake, inputs.charge_channel)
    rows = np.arange(len(images))
    cache = None
    if sample.path is not None and Path(sample.path).is_file():
        cache = feature_cache_path(
            Path(sample.path),
            rows,
            {
                "mapper": inputs.run.data.mapper,
                "image_shape": inputs.inverse.image_shape,
                "view": (
                    "brightest telescope"
                    if sample.images.ndim == 5
                    else "telescope image"
                ),
                "charge_channel": inputs.charge_channel,
            },
        )
    sim = log_intensity_table(
        cached_features(
            cache,
            lambda: image_features(inputs.camera_charges(images), inputs.geometry),
        )
    )
    sim = with_miss_distance(sim, physical, inputs.geometry)
    if fake is None:
        gen = sim
    else:
        gen = log_intensity_table(
            image_features(inputs.camera_charges(fake), inputs.geometry)
        )
        gen = with_miss_distance(gen, physical, inputs.geometry)
    groups = exact_label_groups(physical)
    showers = shower_groups(sample.events)
    sections = {}
    for name, mask in populations(physical).items():
        if not mask.any():
            continue
        where = np.flatnonzero(mask)
        sections[name] = fixed_label_diversity(
            {k: v[where] for k, v in sim.items()},
            {k: v[where] for k, v in gen.items()},
            np.unique(groups[where], return_inverse=True)[1].ravel(),
            {k: v[where] for k, v in physical.items()},
            halvings(showers[where]),
            EXACT,
        )
    sizes = {
        "images": int(len(rows)),
        "labels": int(groups.max()) + 1,
        "images_per_label_min": int(np.bincount(groups).min()),
        "generator": "run" if make_square is not None else "simulated stand-in",
    }
    log.info("fixed-label sample: %d images at %d labels", len(rows), sizes["labels"])
    return sections, sizes
