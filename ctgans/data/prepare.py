"""Turn a data config into a cached dataset: read once, reuse until inputs change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ctgans.config import DataConfig
from ctgans.data.build import build_cache
from ctgans.data.cache import CachedDataset, cache_path, read_cache
from ctgans.data.files import check_files
from ctgans.data.normalize import ImageNormalization, LabelScaler
from ctgans.data.reader import read_examples
from ctgans.simulate.embedded import ensure_toy_dataset

log = logging.getLogger(__name__)


def split_by_event(events: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean validation mask; all telescopes of one shower fall on the same side."""
    keys = np.stack([events[c] for c in ("file_index", "obs_id", "event_id")], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E1]))
    n_val = int(round(fraction * len(unique)))
    chosen = np.zeros(len(unique), bool)
    chosen[rng.permutation(len(unique))[:n_val]] = True
    return chosen[inverse.ravel()]


def build_dataset(cfg: DataConfig, seed: int) -> CachedDataset:
    """Read, split and normalise the configured files in memory (no cache).

    The reference for the chunked build (:func:`ctgans.data.build.build_cache`),
    which writes the same arrays without holding every image.
    """
    start = time.perf_counter()
    examples = read_examples(cfg)
    is_val = split_by_event(examples.events, cfg.validation_fraction, seed)
    train = ~is_val
    normalization = ImageNormalization.fit(
        examples.images[train], cfg.channels, cfg.image_scale_pe, cfg.time_std
    )
    scaler = LabelScaler.fit(
        {k: v[train] for k, v in examples.labels.items()}, cfg.label_columns
    )
    log.info(
        "read %d examples (%d validation) in %.1f s",
        len(is_val),
        is_val.sum(),
        time.perf_counter() - start,
    )
    return CachedDataset(
        path=None,  # type: ignore[arg-type]  # set once written
        images=normalization.forward(examples.images),
        labels=scaler.forward(examples.labels),
        physical_labels=examples.labels,
        events=examples.events,
        is_validation=is_val,
        normalization=normalization,
        label_scaler=scaler,
        tel_ids=examples.tel_ids,
    )


def prepare_dataset(
    cfg: DataConfig, seed: int, check: Callable[[CachedDataset], None] | None = None
) -> CachedDataset:
    """The cached dataset for ``cfg``: built once chunk by chunk, then reused.

    ``check(dataset)``, if given, runs before the cache is renamed into place: a
    check that needs the data (e.g. batch sizes against the training examples)
    refuses without leaving a cache behind. The images are in memory or read
    from the cache file as ``cfg.in_memory`` says (:func:`read_cache`).
    """
    ensure_toy_dataset(cfg)
    check_files(cfg)
    path = cache_path(cfg, seed)
    if path.is_file():
        log.info("using cached dataset %s", path)
        dataset = read_cache(path, cfg.in_memory)
        if check is not None:
            check(dataset)
        return dataset
    log.info("building cached dataset %s", path)
    build_cache(cfg, seed, path, split_by_event, check)
    return read_cache(path, cfg.in_memory)
