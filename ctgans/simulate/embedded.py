"""The embedded toy dataset, simulated on demand when a config names it.

Lives with the simulator, which imports nothing of :mod:`ctgans.data`, so the data
stage reaches it with a plain downward import: config -> simulate -> data.
"""

from __future__ import annotations

import logging

from ctgans.config import TOY_FILES, DataConfig
from ctgans.exceptions import DataError
from ctgans.simulate.writer import write_embedded_dataset

__all__ = ["ensure_toy_dataset"]

log = logging.getLogger(__name__)


def ensure_toy_dataset(cfg: DataConfig) -> None:
    """Simulate the embedded toy dataset if the config names it and it is missing."""
    toy = cfg.toy_dataset
    if toy is None:
        return
    wanted = [p for p in (*cfg.signal, *cfg.background) if p.parent == toy.directory]
    if all(p.is_file() for p in wanted):
        return
    log.info("simulating the embedded toy dataset into %s", toy.directory)
    write_embedded_dataset(
        toy.directory, n_events_per_particle=toy.n_events_per_particle, seed=toy.seed
    )
    missing = [p for p in wanted if not p.is_file()]
    if missing:
        raise DataError(
            f"{missing[0]}: not written by the toy simulator; expected one of "
            f"{sorted(TOY_FILES.values())}"
        )
