"""Image parameters of the simulated held-out sample, computed once per sample.

The simulated side of a report does not change between reports of the same
sample: parametrising 10 000 reference images costs minutes of ctapipe on a CPU,
so the feature table is cached next to the sample's dataset cache, keyed by the
sample file, the rows, the mapping back to camera pixels, the view (stereo:
brightest telescope), the feature names and the ctapipe version. Written
atomically; an unreadable file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ctgans.evaluate.features import FEATURE_NAMES

__all__ = ["FEATURE_CACHE_FORMAT", "cached_features", "feature_cache_path"]

log = logging.getLogger(__name__)

FEATURE_CACHE_FORMAT = 1


def feature_cache_path(sample_path: Path, rows: np.ndarray, settings: dict) -> Path:
    """Where the features of ``rows`` of the dataset cache ``sample_path`` live.

    ``settings``: everything else the features depend on (mapper, image shape,
    view), JSON-able.
    """
    stat = sample_path.stat()
    state = {
        "format": FEATURE_CACHE_FORMAT,
        "sample": [str(sample_path.resolve()), stat.st_size, stat.st_mtime_ns],
        "rows": hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest(),
        "settings": settings,
        "features": list(FEATURE_NAMES),
        "ctapipe": version("ctapipe"),
    }
    key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return sample_path.parent / f"features-{key[:20]}.npz"


def cached_features(
    path: Path | None, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The feature table stored at ``path``, else ``compute()`` (then stored).

    ``path`` None: computed, not cached.
    """
    if path is not None and path.is_file():
        try:
            with np.load(path) as stored:
                table = {name: stored[name] for name in FEATURE_NAMES}
            log.info("simulated image parameters from %s", path)
            return table
        except (OSError, KeyError, ValueError) as err:
            log.warning("recomputing %s (%s)", path, err)
    table = compute()
    if path is not None:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".npz", dir=path.parent
        )
        os.close(fd)
        try:
            np.savez(tmp, **table)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return table
