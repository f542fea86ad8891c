"""The names in a run folder, its atomic writer, and its checkpoint folders.

A run folder ``<train.run_dir>/<config stem>-NNN/`` holds:

==========================  =====================================================
``config.yml``              the resolved config (every default filled in)
``run.json``                config hash, config file, seed
``versions.json``           Python and package versions
``train.lock``              held by the process that trains it (:mod:`.lock`)
``dataset.json``            cache path, labels, image shape, telescopes, channels,
                            normalisation, label scaler, stereo presence
``camera_model.json``       the fitted camera model's summary (camera-aware runs)
``critic.json``             the critic's exact Keras config, for evaluation
``history.csv``             one row per epoch
``checkpoints/epoch-NNNN``  complete checkpoints (``.tmp-*`` while written)
``samples/epoch-NNNN.png``  sample grids
``tensorboard/``            TensorBoard logs
``generator.keras``         the final generator (its EMA where kept)
``label_recovery.json``     the training predictor on simulated vs generated
==========================  =====================================================

Every file is written through :func:`write_atomic` (or another temporary name and
a rename); :func:`remove_stale_temporaries` deletes what a killed writer left.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

CONFIG = "config.yml"
RUN = "run.json"
VERSIONS = "versions.json"
DATASET = "dataset.json"
CAMERA_MODEL = "camera_model.json"
CRITIC = "critic.json"
HISTORY = "history.csv"
GENERATOR = "generator.keras"
LABEL_RECOVERY = "label_recovery.json"
TENSORBOARD = "tensorboard"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"

PATTERN = re.compile(r"^epoch-(\d{4,})$")
TMP_PREFIX = ".tmp-"
# Temporaries of the atomic writers in a run folder: (sub-folder, name prefixes).
STALE = (
    (CHECKPOINTS, (TMP_PREFIX,)),
    (SAMPLES, (".epoch-",)),
    (
        ".",
        (
            ".generator.",
            f".{HISTORY}.",
            f".{DATASET}.",
            f".{LABEL_RECOVERY}.",
        ),
    ),
)


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def checkpoint_path(run: Path, epoch: int) -> Path:
    """Where the checkpoint after ``epoch`` epochs lives (complete or not)."""
    return run / CHECKPOINTS / f"epoch-{epoch:04d}"


def sample_grid_path(run: Path, epoch: int) -> Path:
    """The sample grid after ``epoch`` epochs."""
    return run / SAMPLES / f"epoch-{epoch:04d}.png"


def checkpoint_epoch(path: Path) -> int:
    """The epoch of a checkpoint folder from its name."""
    return int(PATTERN.match(path.name).group(1))


def epoch_checkpoint(run: Path, epoch: int) -> Path | None:
    """The complete checkpoint after ``epoch`` epochs, or None."""
    path = checkpoint_path(run, epoch)
    return path if (path / "state.json").is_file() else None


def complete_epochs(run: Path) -> list[int]:
    """Epochs of the run's complete checkpoints, ascending."""
    root = run / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(
        int(m.group(1))
        for p in root.iterdir()
        if (m := PATTERN.match(p.name)) and (p / "state.json").is_file()
    )


def latest_checkpoint(run: Path) -> Path | None:
    """The complete checkpoint with the highest epoch, or None."""
    epochs = complete_epochs(run)
    return epoch_checkpoint(run, epochs[-1]) if epochs else None


def remove_stale_temporaries(run: Path) -> list[Path]:
    """Delete what writers killed mid-write left in ``run``; return the paths.

    Only names of this package's atomic writers are touched (``checkpoints/.tmp-*``,
    ``.generator.*.keras``, ...); they are never read, so this is tidying, not repair.
    """
    removed = []
    for sub, prefixes in STALE:
        folder = run / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(prefixes):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log.info(
            "removed %d temporary file(s) left by an interrupted run: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed
