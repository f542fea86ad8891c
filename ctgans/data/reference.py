"""Held-out reference samples: DL1 files read with a trained run's selection.

A fidelity report needs more held-out simulation than a run's validation split
(FIDELITY.md: about 10 000 images). Reference files are read exactly as the
run's training files were (telescopes, cuts, labels, mapper, through
:func:`~ctgans.data.reader.read_examples`) and normalised with the run's own
normalisation and label scaling, never refitted. The result is cached like a
training dataset, keyed by the files, the selection and the normalisation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tables

from ctgans.config import DataConfig
from ctgans.data.cache import CachedDataset, cache_key, read_cache, write_cache
from ctgans.data.files import SHOWER_TABLE, check_file
from ctgans.data.normalize import ImageNormalization, LabelScaler
from ctgans.data.reader import check_selection, read_examples
from ctgans.exceptions import DataError

__all__ = ["check_reference_files", "prepare_reference", "reference_config"]

log = logging.getLogger(__name__)

#: CORSIKA primary ids as ctapipe stores them (true_shower_primary_id).
PARTICLES = {0: "gamma", 1: "electron", 101: "proton"}
GAMMA = 0


def _primary(path: Path) -> int:
    """The most common primary id of a file's showers."""
    with tables.open_file(str(path), "r") as h5:
        ids = h5.get_node(SHOWER_TABLE).col("true_shower_primary_id")
    if len(ids) == 0:
        raise DataError(f"{path}: no simulated showers in {SHOWER_TABLE}")
    values, counts = np.unique(ids, return_counts=True)
    return int(values[np.argmax(counts)])


def _particle(primary: int) -> str:
    return PARTICLES.get(primary, f"primary id {primary}")


def _showers_digest(path: Path) -> str:
    """A hash of a file's simulated shower table: equal for copies of a file."""
    with tables.open_file(str(path), "r") as h5:
        showers = h5.get_node(SHOWER_TABLE).read()
    return hashlib.sha256(showers.tobytes()).hexdigest()


def _same_file(a: Path, b: Path) -> bool:
    if a.is_file() and b.is_file():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_reference_files(cfg: DataConfig, files: Sequence[Path]) -> None:
    """Refuse reference files that cannot stand for held-out simulation.

    Parameters
    ----------
    cfg : ctgans.config.DataConfig
        The run's data selection; ``cfg.signal`` and ``cfg.background`` are its
        training files.
    files : sequence of pathlib.Path
        The reference files.

    Raises
    ------
    DataError
        If a file is missing, not a ctapipe DL1 file of the run's telescopes
        (:func:`~ctgans.data.files.check_file`), written by ``ctgans.generate``,
        one of the run's training files (or a copy of one), or of a particle
        the run was not trained on, or if no event of a file passes the
        run's selection.
    """
    if not files:
        raise DataError("--reference: expected at least one DL1 file")
    training = [*cfg.signal, *cfg.background]
    digests = None
    for path in files:
        check_file(path, cfg)
        with tables.open_file(str(path), "r") as h5:
            generated = bool(getattr(h5.root._v_attrs, "CTGANS_GENERATED", False))
        if generated:
            raise DataError(
                f"{path}: written by ctgans.generate (CTGANS_GENERATED); expected "
                "simulated events (--reference)"
            )
        same = [t for t in training if _same_file(path, t)]
        if not same:
            if digests is None:
                digests = {t: _showers_digest(t) for t in training if t.is_file()}
            digest = _showers_digest(path)
            same = [t for t, d in digests.items() if d == digest]
        if same:
            raise DataError(
                f"{path}: holds the showers of the run's training file {same[0]}; "
                "expected simulated files never used in training (--reference)"
            )
    check_selection(reference_config(cfg, files))  # particles, then cuts


def reference_config(cfg: DataConfig, files: Sequence[Path]) -> DataConfig:
    """The run's data selection with ``files`` in place of its training files.

    Files of the run's signal particle (gammas where its signal files are gone)
    become signal, the others background; a run without background files takes
    only its signal particle.
    """
    signal = next((p for p in cfg.signal if p.is_file()), None)
    signal_primary = GAMMA if signal is None else _primary(signal)
    primaries = {path: _primary(path) for path in files}
    if not cfg.background:
        wrong = [p for p, primary in primaries.items() if primary != signal_primary]
        if wrong:
            raise DataError(
                f"{wrong[0]}: simulated {_particle(primaries[wrong[0]])}; the run "
                f"was trained on {_particle(signal_primary)} only (--reference)"
            )
    return dataclasses.replace(
        cfg,
        signal=tuple(p for p in files if primaries[p] == signal_primary),
        background=tuple(p for p in files if primaries[p] != signal_primary),
        toy_dataset=None,
    )


def _reference_path(
    cfg: DataConfig, normalization: ImageNormalization, scaler: LabelScaler
) -> Path:
    state = {
        "dataset": cache_key(cfg, 0),
        "normalization": normalization.to_json(),
        "label_scaler": scaler.to_json(),
    }
    key = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return cfg.cache_dir / f"reference-{key[:20]}.h5"


def prepare_reference(
    cfg: DataConfig,
    normalization: ImageNormalization,
    scaler: LabelScaler,
    tel_ids: tuple[int, ...],
) -> CachedDataset:
    """Read (or load the cache of) a reference sample; every example held out.

    Parameters
    ----------
    cfg : ctgans.config.DataConfig
        :func:`reference_config` of the run.
    normalization, scaler
        The run's image normalisation and label scaling.
    tel_ids : tuple of int
        The run's telescopes (stereo: the order of the slots).

    Raises
    ------
    DataError
        If no event passes the selection, or the files hold other telescopes.
    """
    path = _reference_path(cfg, normalization, scaler)
    if path.is_file():
        log.info("using cached reference sample %s", path)
        return read_cache(path)
    examples = read_examples(cfg)
    if tuple(examples.tel_ids) != tuple(tel_ids):
        raise DataError(
            f"{', '.join(map(str, (*cfg.signal, *cfg.background)))}: telescopes "
            f"{list(examples.tel_ids)} selected; the run was trained on "
            f"{list(tel_ids)} (--reference)"
        )
    dataset = CachedDataset(
        path=path,
        images=normalization.forward(examples.images),
        labels=scaler.forward(examples.labels),
        physical_labels=examples.labels,
        events=examples.events,
        is_validation=np.ones(len(examples.events), bool),
        normalization=normalization,
        label_scaler=scaler,
        tel_ids=examples.tel_ids,
    )
    write_cache(path, dataset)
    log.info("reference sample: %d examples, cached as %s", len(dataset.events), path)
    return dataset
