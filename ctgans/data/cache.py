"""The on-disk cache of mapped, normalised examples (HDF5 via PyTables).

The per-event work (reading, cuts, hexagonal-to-square mapping, normalisation) is
done once; the result is keyed by everything that changes it (data settings, split
seed, the input files' paths, sizes and modification times, package versions) and
written atomically, so a crash never leaves a cache that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import tables

from ctgans.config import DataConfig
from ctgans.data.normalize import ImageNormalization, LabelScaler

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


@dataclass
class CachedDataset:
    """Everything training needs, loaded into memory from one cache file.

    ``images`` are normalised; ``labels`` are standardised (n, n_columns);
    ``physical_labels`` keep the original units; ``is_validation`` marks the
    validation split.
    """

    path: Path
    images: np.ndarray
    labels: np.ndarray
    physical_labels: dict[str, np.ndarray]
    events: np.ndarray
    is_validation: np.ndarray
    normalization: ImageNormalization
    label_scaler: LabelScaler
    tel_ids: tuple[int, ...]

    @property
    def label_columns(self) -> tuple[str, ...]:
        return self.label_scaler.columns

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])


def cache_key(cfg: DataConfig, seed: int) -> str:
    """Hex digest over the data settings, the split seed and the input files."""
    files = []
    for path in (*cfg.signal, *cfg.background):
        stat = path.stat()
        files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    state = {
        "format": CACHE_FORMAT,
        "data": cfg.fingerprint(),
        "seed": seed,
        "files": files,
        "dl1_data_handler": version("dl1-data-handler"),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def cache_path(cfg: DataConfig, seed: int) -> Path:
    """Where the cache for this config lives."""
    return cfg.cache_dir / f"dataset-{cache_key(cfg, seed)[:20]}.h5"


def write_cache(path: Path, dataset: CachedDataset) -> None:
    """Write ``dataset`` to ``path`` atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with tables.open_file(tmp, "w") as h5:
            h5.create_array("/", "images", dataset.images)
            h5.create_array("/", "labels", dataset.labels)
            h5.create_array("/", "is_validation", dataset.is_validation)
            h5.create_table("/", "events", dataset.events)
            physical = np.stack(
                [dataset.physical_labels[c] for c in dataset.label_columns], axis=1
            )
            h5.create_array("/", "physical_labels", physical)
            attrs = h5.root._v_attrs
            attrs.normalization = dataset.normalization.to_json()
            attrs.label_scaler = dataset.label_scaler.to_json()
            attrs.tel_ids = json.dumps(list(dataset.tel_ids))
            attrs.cache_format = CACHE_FORMAT
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cache(path: Path) -> CachedDataset:
    """Load a cache file written by :func:`write_cache` into memory."""
    with tables.open_file(str(path), "r") as h5:
        attrs = h5.root._v_attrs
        scaler = LabelScaler.from_json(attrs.label_scaler)
        physical = h5.root.physical_labels.read()
        return CachedDataset(
            path=path,
            images=h5.root.images.read(),
            labels=h5.root.labels.read(),
            physical_labels={c: physical[:, i] for i, c in enumerate(scaler.columns)},
            events=h5.root.events.read(),
            is_validation=h5.root.is_validation.read(),
            normalization=ImageNormalization.from_json(attrs.normalization),
            label_scaler=scaler,
            tel_ids=tuple(json.loads(attrs.tel_ids)),
        )
