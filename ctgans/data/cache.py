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
#: ``data.in_memory: auto`` holds the cached arrays in memory when they take at
#: most this fraction of the machine's physical memory; else training reads them
#: from the cache file chunk by chunk (:mod:`ctgans.data.disk_pipeline`).
MEMORY_FRACTION = 0.25


def physical_memory() -> int:
    """Bytes of physical memory of this machine."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def keep_in_memory(setting: str, nbytes: int, memory: int | None = None) -> bool:
    """Whether ``data.in_memory`` (auto, true, false) holds ``nbytes`` in memory."""
    if setting != "auto":
        return setting == "true"
    memory = physical_memory() if memory is None else memory
    return nbytes <= MEMORY_FRACTION * memory


class DiskImages:
    """The cached images, left in the file and read when indexed.

    Stands in for the in-memory array (``shape``, ``ndim``, ``len``, indexing,
    ``numpy.asarray``) when ``data.in_memory`` keeps them on disk; indexing reads
    only the rows asked for, in chunks of :data:`READ_ROWS`.
    """

    READ_ROWS = 4096

    def __init__(self, path: Path):
        self.path = Path(path)
        with tables.open_file(str(self.path), "r") as h5:
            node = h5.root.images
            self.shape = tuple(int(s) for s in node.shape)
            self.dtype = np.dtype(node.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        with tables.open_file(str(self.path), "r") as h5:
            node = h5.root.images
            if isinstance(first, slice | int | np.integer):
                return node[first][(slice(None), *rest) if rest else ()]
            rows = np.arange(len(self))[first]
            if rows.ndim == 0:
                return node[int(rows)][rest]
            order = np.argsort(rows, kind="stable")
            out = np.empty((len(rows), *self.shape[1:]), self.dtype)
            for a in range(0, len(rows), self.READ_ROWS):
                part = rows[order[a : a + self.READ_ROWS]]
                block = node[part[0] : part[-1] + 1]
                out[order[a : a + self.READ_ROWS]] = block[part - part[0]]
            return out[(slice(None), *rest)] if rest else out


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


def temporary_path(path: Path, kind: str = "") -> Path:
    """A fresh temporary file beside ``path`` (renamed onto it, or deleted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f"{kind}.tmp", dir=path.parent
    )
    os.close(fd)
    return Path(tmp)


def write_cache(path: Path, dataset: CachedDataset) -> None:
    """Write ``dataset`` to ``path`` atomically (temp file + rename)."""
    tmp = temporary_path(path)
    try:
        write_cache_file(tmp, dataset)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_cache_file(
    path: Path, dataset: CachedDataset, image_chunks=None, images_shape=None
) -> None:
    """Write ``dataset`` into ``path`` (not atomic: see :func:`write_cache`).

    With ``image_chunks`` (an iterable of normalised image arrays in row order,
    ``images_shape`` in all), ``dataset.images`` is not used and the images are
    written chunk by chunk: the file is the same.
    """
    with tables.open_file(str(path), "w") as h5:
        if image_chunks is None:
            h5.create_array("/", "images", dataset.images)
        else:
            _write_image_chunks(h5, images_shape, image_chunks)
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


def _write_image_chunks(h5: tables.File, shape, chunks) -> None:
    images = h5.create_array("/", "images", atom=tables.Float32Atom(), shape=shape)
    done = 0
    for chunk in chunks:
        images[done : done + len(chunk)] = chunk
        done += len(chunk)
    if done != shape[0]:
        raise RuntimeError(f"wrote {done} of {shape[0]} cached images")


def read_cache(path: Path, in_memory: str = "true") -> CachedDataset:
    """Open a cache file written by :func:`write_cache`.

    ``in_memory`` is ``data.in_memory``: the images are read into memory
    (``true``, or ``auto`` within the budget of :func:`keep_in_memory`) or left in
    the file as :class:`DiskImages`; the other arrays are small and always read.
    """
    images = DiskImages(path)
    if keep_in_memory(in_memory, images.nbytes):
        images = None
    else:
        log.info(
            "feeding from disk: %.2f GB of images (data.in_memory %s, budget %.2f GB)",
            images.nbytes / 1e9,
            in_memory,
            MEMORY_FRACTION * physical_memory() / 1e9,
        )
    with tables.open_file(str(path), "r") as h5:
        attrs = h5.root._v_attrs
        scaler = LabelScaler.from_json(attrs.label_scaler)
        physical = h5.root.physical_labels.read()
        return CachedDataset(
            path=path,
            images=h5.root.images.read() if images is None else images,
            labels=h5.root.labels.read(),
            physical_labels={c: physical[:, i] for i, c in enumerate(scaler.columns)},
            events=h5.root.events.read(),
            is_validation=h5.root.is_validation.read(),
            normalization=ImageNormalization.from_json(attrs.normalization),
            label_scaler=scaler,
            tel_ids=tuple(json.loads(attrs.tel_ids)),
        )
