"""Crash safety: SIGKILL at random moments, restart the same command, resume.

The slow test kills ``python -m ctgans.train`` at least ten times at seeded random
moments (during start-up, during an epoch, and while a checkpoint is being written,
found by watching for the atomic writer's temporary folder) and checks after every
kill and restart that nothing is corrupt and at most one checkpoint interval is lost.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from smoke_configs import smoke_config_with as smoke_config

from ctgans.config import load_config

PROJECT = Path(__file__).resolve().parents[1]
EPOCHS = 14
N_KILLS = 10
# Kill moments: while a checkpoint is written, at a random time within an epoch
# after this process' first checkpoint, at a random time after the start.
MODES = ["checkpoint"] * 5 + ["epoch"] * 3 + ["startup"] * 2
PROCESS_TIMEOUT_S = 240
POLL_S = 0.002


def complete_checkpoints(run: Path) -> dict[int, Path]:
    root = run / "checkpoints"
    if not root.is_dir():
        return {}
    found = {}
    for path in root.iterdir():
        m = re.fullmatch(r"epoch-(\d{4})", path.name)
        if m and (path / "state.json").is_file():
            found[int(m.group(1))] = path
    return found


def check_checkpoint_files(path: Path, epoch: int) -> None:
    """Every file of a checkpoint reads completely and holds finite numbers."""
    assert json.loads((path / "state.json").read_text()) == {"epoch": epoch}
    with np.load(path / "state.npz") as arrays:
        assert len(arrays.files) > 0
        for name in arrays.files:
            assert np.all(np.isfinite(arrays[name].astype(np.float64))), name
    for name in ("generator.weights.h5", "critic.weights.h5"):
        n = 0
        with h5py.File(path / name, "r") as h5:

            def read(key, item):
                nonlocal n
                if isinstance(item, h5py.Dataset):
                    assert np.all(np.isfinite(item[()])), f"{name}:{key}"
                    n += 1

            h5.visititems(read)
        assert n > 0, name


def history_epochs(run: Path) -> list[int]:
    """Epochs of history.csv; every row complete."""
    path = run / "history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    assert header[0] == "epoch" and "critic_loss" in header
    for row in rows[1:]:
        assert len(row) == len(header), f"half-written history row {row}"
        assert all(cell != "" for cell in row), row
        float(row[header.index("critic_loss")])
    epochs = [int(row[0]) for row in rows[1:]]
    assert epochs == list(range(len(epochs))), epochs  # each epoch once, in order
    return epochs


def check_after_kill(runs: Path) -> int:
    """The invariants a killed run must leave; returns the last complete epoch."""
    folders = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert [p.name for p in folders] == ["smoke-001"], folders  # never a second run
    run = folders[0]
    for name in ("config.yml", "run.json", "versions.json"):
        assert (run / name).is_file(), name  # the folder is created complete
    checkpoints = complete_checkpoints(run)
    for epoch, path in checkpoints.items():
        check_checkpoint_files(path, epoch)
    latest = max(checkpoints, default=0)
    epochs = history_epochs(run)
    # rows are written before the checkpoint: all checkpointed epochs are there,
    # and at most one epoch (one checkpoint interval) beyond the last checkpoint
    assert latest <= len(epochs) <= latest + 1, (latest, epochs)
    if (run / "generator.keras").exists():
        with zipfile.ZipFile(run / "generator.keras") as archive:
            assert archive.testzip() is None
    return latest


def start(config: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "ctgans.train", config.name],
            cwd=config.parent,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )


def wait_for(process, condition, timeout: float = PROCESS_TIMEOUT_S):
    """Poll ``condition()`` until truthy; None if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            return None
        time.sleep(POLL_S)
    process.kill()
    pytest.fail(f"no progress within {timeout} s")


def new_entry(folder: Path, seen: set[str], prefix: str) -> Path | None:
    """A name in ``folder`` starting with ``prefix`` that is not in ``seen``."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return None
    for name in names:
        if name.startswith(prefix) and name not in seen:
            seen.add(name)
            return folder / name
    return None


def resumed_epoch(log: Path) -> int | None:
    m = re.search(r"resumed from \S+ \(epoch (\d+)\)", log.read_text())
    return int(m.group(1)) if m else None


@pytest.mark.slow
def test_sigkill_at_random_moments_always_resumes(tmp_path, toy_pair):
    config = smoke_config(
        tmp_path, toy_pair, epochs=EPOCHS, checkpoint_every=1, sample_every=1
    )
    runs = tmp_path / "runs"
    checkpoints = runs / "smoke-001" / "checkpoints"
    rng = np.random.default_rng(20261125)
    modes = list(rng.permutation(MODES))
    kills = during_write = resumes_checked = 0
    latest = None  # last complete checkpoint before the current process started
    attempt = 0
    while True:
        log = tmp_path / f"train-{attempt}.log"
        process = start(config, log)
        mode = modes[attempt] if attempt < len(modes) else "none"
        seen = set(os.listdir(checkpoints)) if checkpoints.is_dir() else set()
        target = None
        if mode == "checkpoint":
            for _ in range(int(rng.integers(1, 3))):  # the 1st or 2nd write
                target = wait_for(
                    process, lambda: new_entry(checkpoints, seen, ".tmp-")
                )
        elif mode == "epoch":
            if wait_for(process, lambda: new_entry(checkpoints, seen, "epoch-")):
                time.sleep(rng.uniform(0.0, 1.5))
        elif mode == "startup":
            time.sleep(rng.uniform(0.5, 8.0))
        if mode != "none" and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            during_write += target is not None and target.exists()
        else:
            assert process.wait(timeout=PROCESS_TIMEOUT_S) == 0, log.read_text()[-3000:]
        resumed = resumed_epoch(log)
        if latest is not None and resumed is not None:
            # resumed from the last complete checkpoint, not an older one
            assert resumed == latest, (attempt, resumed, latest)
            resumes_checked += 1
        if runs.is_dir() and any(not p.name.startswith(".") for p in runs.iterdir()):
            latest = check_after_kill(runs)
        if process.returncode == 0:
            break
        attempt += 1
        assert attempt <= len(MODES) + 1, "too many attempts"

    run = runs / "smoke-001"
    print(
        f"\n{kills} SIGKILLs survived, {during_write} during a checkpoint write, "
        f"{resumes_checked} resumes checked, {attempt + 1} processes"
    )
    assert kills >= N_KILLS
    assert during_write >= 3
    assert resumes_checked >= 5
    assert history_epochs(run) == list(range(EPOCHS))
    assert sorted(complete_checkpoints(run)) == list(range(1, EPOCHS + 1))
    assert all(p.name.startswith("epoch-") for p in (run / "checkpoints").iterdir())
    assert not [p for p in run.iterdir() if p.name.startswith(".")]
    assert "resumed from" in log.read_text()

    import keras
    import tensorflow as tf

    import ctgans.models  # noqa: F401  (registers the custom layers)
    from ctgans.data import prepare_dataset
    from ctgans.train.checkpoint import restore_checkpoint
    from ctgans.train.run import build_gan

    generator = keras.saving.load_model(run / "generator.keras")
    assert generator.image_shape[-1] == 1
    cfg = load_config(config)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    gan = build_gan(cfg, dataset, None, tf.distribute.get_strategy())
    for epoch, path in sorted(complete_checkpoints(run).items()):
        assert restore_checkpoint(path, gan) == epoch
    # the last checkpoint is the final generator
    for a, b in zip(gan.generator.weights, generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_non_finite_loss_stops_naming_the_step_and_keeps_last_checkpoint(
    tmp_path, toy_pair, monkeypatch
):
    import ctgans.train.run as run_module
    from ctgans.data import prepare_dataset

    cfg = load_config(smoke_config(tmp_path, toy_pair, epochs=3, strategy="default"))
    dataset = prepare_dataset(cfg.data, cfg.seed)
    steps = int((~dataset.is_validation).sum()) // (
        cfg.train.batch_size * cfg.loss.critic_steps
    )

    class PoisonAfterEpoch2(run_module.SampleGrid):
        # runs after CheckpointEvery: epoch 2 is saved, then a critic weight is NaN
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                weight = self.gan.critic.trainable_weights[0]
                weight.assign(np.full(weight.shape, np.nan, "float32"))

    monkeypatch.setattr(run_module, "SampleGrid", PoisonAfterEpoch2)
    with pytest.raises(run_module.TrainingDiverged) as error:
        run_module.run(cfg)
    message = str(error.value)
    run = tmp_path / "runs" / "smoke-001"
    assert f"at step {2 * steps + 1};" in message  # the first step of epoch 3
    assert message.endswith(
        f"last good checkpoint: {run / 'checkpoints' / 'epoch-0002'}"
    )
    assert sorted(complete_checkpoints(run)) == [1, 2]
    check_checkpoint_files(run / "checkpoints" / "epoch-0002", 2)  # finite
    assert not (run / "generator.keras").exists()

    monkeypatch.undo()  # the same command again resumes from the good checkpoint
    assert run_module.run(cfg) == run
    assert sorted(complete_checkpoints(run)) == [1, 2, 3]
    assert history_epochs(run) == [0, 1, 2]
