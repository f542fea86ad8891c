"""Build the cache file chunk by chunk, in memory bounded by the chunk size.

Two passes over the examples, ``chunk_size`` at a time:

1. read, cut and map each chunk (dl1-data-handler's reader and mappers, as
   :func:`ctgans.data.reader.read_examples`) into a temporary file of raw images,
   noting which examples are finite and their pixel moments
   (:class:`~ctgans.data.normalize.ExampleMoments`);
2. once the split and the normalisation (training split only) are known, read the
   raw chunks back, drop the non-finite examples, normalise and append them to the
   cache file.

Only the small arrays (labels, identifiers, per-example moments) are held for all
examples; the images never are. The result is the file an in-memory build writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tables

from ctgans.config import DataConfig
from ctgans.data.cache import (
    CachedDataset,
    read_cache,
    temporary_path,
    write_cache_file,
)
from ctgans.data.normalize import ExampleMoments, ImageNormalization, LabelScaler
from ctgans.data.reader import ExamplePlan, map_examples, open_reader, plan_examples
from ctgans.exceptions import DataError

log = logging.getLogger(__name__)

#: Examples read, mapped and normalised at a time (43x43 MAGIC: 30 MB a channel).
CHUNK_SIZE = 4096


def build_cache(
    cfg: DataConfig,
    seed: int,
    path: Path,
    split: Callable[[np.ndarray, float, int], np.ndarray],
    check: Callable[[CachedDataset], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Write the cache file of ``cfg`` at ``path`` (atomically), chunk by chunk.

    ``split(events, fraction, seed)`` gives the validation mask; ``check``, if
    given, sees the finished dataset (``data.in_memory`` applied) before it is
    renamed into place, so a refusal leaves no cache.
    """
    start = time.perf_counter()
    new_folder = not path.parent.exists()  # removed again if the build fails
    raw_path = temporary_path(path, ".raw")
    tmp = temporary_path(path)
    try:
        plan, finite, moments = _map_to_raw(cfg, raw_path, chunk_size)
        keep = np.flatnonzero(finite)
        events = plan.events[keep]
        labels = {k: v[keep] for k, v in plan.labels.items()}
        is_val = split(events, cfg.validation_fraction, seed)
        train = ~is_val
        normalization = ImageNormalization.from_moments(
            moments.select(keep[train]), cfg.channels, cfg.image_scale_pe, cfg.time_std
        )
        scaler = LabelScaler.fit(
            {k: v[train] for k, v in labels.items()}, cfg.label_columns
        )
        head = CachedDataset(
            path=path,
            images=None,  # type: ignore[arg-type]  # written chunk by chunk
            labels=scaler.forward(labels),
            physical_labels=labels,
            events=events,
            is_validation=is_val,
            normalization=normalization,
            label_scaler=scaler,
            tel_ids=plan.tel_ids,
        )
        chunks = _normalised_chunks(raw_path, finite, normalization, chunk_size)
        write_cache_file(tmp, head, chunks, (len(keep), *plan.image_shape))
        raw_path.unlink()
        log.info(
            "built %d examples (%d validation) in %.1f s, %d at a time",
            len(keep),
            is_val.sum(),
            time.perf_counter() - start,
            chunk_size,
        )
        if check is not None:
            check(read_cache(tmp, cfg.in_memory))
        os.replace(tmp, path)
    finally:
        raw_path.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
        if new_folder and not path.is_file() and not any(path.parent.iterdir()):
            path.parent.rmdir()


def _map_to_raw(cfg: DataConfig, raw_path, chunk_size: int):
    """Pass 1: mapped images into ``raw_path``; finite mask and moments."""
    reader = open_reader(cfg)
    try:
        plan: ExamplePlan = plan_examples(reader, cfg)
        n = len(plan)
        finite = np.zeros(n, bool)
        moments = ExampleMoments(n, plan.image_shape[-1])
        with tables.open_file(str(raw_path), "w") as h5:
            raw = h5.create_array(
                "/", "images", atom=tables.Float32Atom(), shape=(n, *plan.image_shape)
            )
            for begin in range(0, n, chunk_size):
                end = min(begin + chunk_size, n)
                images = map_examples(reader, plan, begin, end)
                finite[begin:end] = np.isfinite(images).reshape(end - begin, -1).all(1)
                with np.errstate(invalid="ignore", over="ignore"):
                    moments.add(begin, images)  # NaN rows are left out later
                raw[begin:end] = images
    finally:
        for handle in reader.files.values():
            handle.close()
    n_bad = int((~finite).sum())
    if n_bad == n:
        raise DataError(
            f"all {n_bad} selected examples of "
            f"{', '.join(str(p) for p in (*cfg.signal, *cfg.background))} have NaN "
            "or inf pixels; expected finite images"
        )
    if n_bad:
        log.warning("skipped %d of %d examples with NaN or inf pixels", n_bad, n)
    return plan, finite, moments


def _normalised_chunks(raw_path, finite, normalization, chunk_size: int):
    """Pass 2: the finite raw images in network units, one chunk at a time."""
    with tables.open_file(str(raw_path), "r") as h5:
        raw = h5.root.images
        for begin in range(0, len(raw), chunk_size):
            end = min(begin + chunk_size, len(raw))
            images = raw[begin:end][finite[begin:end]]
            if len(images):
                yield normalization.forward(images)
