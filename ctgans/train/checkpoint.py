"""Atomic training checkpoints: weights, optimizer states, RNG state, epoch.

A checkpoint is a folder ``checkpoints/epoch-NNNN`` written under a temporary name
and renamed into place, so one that exists is complete. It holds the generator and
critic weights (Keras ``.weights.h5``), every variable of both optimizers and the
GAN's seed generators (``state.npz``), and ``state.json`` with the epoch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

PATTERN = re.compile(r"^epoch-(\d{4,})$")


def _stateful(gan) -> dict[str, list]:
    """The variables outside the two networks' weights that training changes."""
    return {
        "generator_optimizer": list(gan.generator_optimizer.variables),
        "critic_optimizer": list(gan.critic_optimizer.variables),
        "seed_generators": [
            gan.seed_generator.state,
            gan.validation_seed_generator.state,
        ],
    }


def save_checkpoint(run: Path, gan, epoch: int) -> Path:
    """Write the state after ``epoch`` completed epochs; return its folder."""
    root = run / "checkpoints"
    root.mkdir(exist_ok=True)
    final = root / f"epoch-{epoch:04d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
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
        if final.exists():  # the same epoch again after a crash: keep the first
            shutil.rmtree(tmp)
            return final
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def latest_checkpoint(run: Path) -> Path | None:
    """The complete checkpoint with the highest epoch, or None."""
    root = run / "checkpoints"
    if not root.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := PATTERN.match(p.name)) and (p / "state.json").is_file()
    ]
    return max(found)[1] if found else None


def restore_checkpoint(path: Path, gan) -> int:
    """Load a checkpoint into a built, compiled GAN; return its epoch."""
    gan.generator.load_weights(path / "generator.weights.h5")
    gan.critic.load_weights(path / "critic.weights.h5")
    with np.load(path / "state.npz") as arrays:
        for group, variables in _stateful(gan).items():
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{group}/{i}"])
    return int(json.loads((path / "state.json").read_text())["epoch"])
