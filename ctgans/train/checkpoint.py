"""Atomic training checkpoints: weights, optimizer states, RNG state, epoch.

A checkpoint is a folder ``checkpoints/epoch-NNNN`` written under a temporary name
(``checkpoints/.tmp-*``), flushed to disk and renamed into place, so one that exists
is complete: a process killed at any moment leaves either the whole checkpoint or a
temporary folder, which
:func:`~ctgans.runs.layout.remove_stale_temporaries` deletes on resume. It holds
the generator and critic weights (Keras ``.weights.h5``), every variable of both
optimizers and the GAN's seed generators (``state.npz``), and ``state.json`` with
the epoch. Under multi-worker training only the chief reads and writes checkpoints;
:func:`broadcast_state` gives the other workers the chief's state. The folder names
belong to the run folder's layout (:mod:`ctgans.runs.layout`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ctgans.runs.layout import CHECKPOINTS, TMP_PREFIX, checkpoint_path

log = logging.getLogger(__name__)


def _stateful(gan) -> dict[str, list]:
    """The variables outside the two networks' weights that training changes."""
    return {
        "generator_optimizer": list(gan.generator_optimizer.variables),
        "critic_optimizer": list(gan.critic_optimizer.variables),
        "seed_generators": [
            gan.seed_generator.state,
            gan.validation_seed_generator.state,
        ]
        # The camera noise of a camera-aware generator (resume-exact noise).
        + [
            layer.seed_generator.state
            for layer in (getattr(gan.generator, "camera_response", None),)
            if layer is not None
        ],
        # The averaged generator of train.generator_ema.
        "generator_ema": list(
            getattr(getattr(gan, "ema_generator", None), "weights", [])
        ),
        # The running moment residuals of loss.moment_weight.
        "moment_running": (
            [gan.moment_running] if getattr(gan, "moments", None) is not None else []
        ),
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run: Path, gan, epoch: int) -> Path:
    """Write the state after ``epoch`` completed epochs; return its folder."""
    root = run / CHECKPOINTS
    root.mkdir(exist_ok=True)
    final = checkpoint_path(run, epoch)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=root))
    try:
        gan.generator.save_weights(tmp / "generator.weights.h5")
        gan.critic.save_weights(tmp / "critic.weights.h5")
        arrays = {
            f"{group}/{i}": np.asarray(variable.numpy())
            for group, variables in _stateful(gan).items()
            for i, variable in enumerate(variables)
        }
        np.savez(tmp / "state.npz", **arrays)
        (tmp / "state.json").write_text(json.dumps({"epoch": epoch}))
        # On disk before the rename: a checkpoint that exists survives a power cut.
        for path in (*tmp.iterdir(), tmp):
            _fsync(path)
        if final.exists():  # the same epoch again after a crash: keep the first
            shutil.rmtree(tmp)
            return final
        os.replace(tmp, final)
        _fsync(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def restore_checkpoint(path: Path, gan) -> int:
    """Load a checkpoint into a built, compiled GAN; return its epoch."""
    gan.generator.load_weights(path / "generator.weights.h5")
    gan.critic.load_weights(path / "critic.weights.h5")
    with np.load(path / "state.npz") as arrays:
        for group, variables in _stateful(gan).items():
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{group}/{i}"])
    return int(json.loads((path / "state.json").read_text())["epoch"])


def broadcast_state(strategy, gan, header: list[int], is_chief: bool) -> list[int]:
    """Give every worker the chief's weights, optimizer and RNG state, predictor.

    Only the chief reads checkpoints, so the workers need no shared file system.
    ``header`` (small integers: epoch, run folder index) travels along; every
    worker gets the chief's. Everything travels exactly, as float64, in one
    ``strategy.gather``. A no-op for a single worker.
    """
    import tensorflow as tf

    resolver = strategy.cluster_resolver
    if resolver is None or len(resolver.cluster_spec().as_dict()) == 0:
        return list(header)
    variables = [
        *gan.generator.weights,
        *gan.critic.weights,
        *[v for group in _stateful(gan).values() for v in group],
        *(gan.predictor.weights if gan.predictor is not None else []),
    ]
    packed = np.concatenate(
        [[float(is_chief)], np.asarray(header, np.float64)]
        + [np.asarray(v.numpy(), np.float64).ravel() for v in variables]
    )
    gathered = strategy.gather(
        strategy.run(lambda: tf.constant(packed)[None]), axis=0
    ).numpy()
    chief = gathered[np.flatnonzero(gathered[:, 0] == 1.0)[0]]
    offset = 1 + len(header)
    if not is_chief:
        for variable in variables:
            size = int(np.prod(variable.shape))
            value = chief[offset : offset + size].reshape(variable.shape)
            variable.assign(value.astype(variable.dtype))
            offset += size
    return [int(x) for x in chief[1 : 1 + len(header)]]
