"""Training orchestration: predictor cache, checkpoints/resume, run folders, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from smoke_configs import smoke_config_with

import ctgans.predictor.store as predictors
from ctgans.config import load_config
from ctgans.data import prepare_dataset
from ctgans.exceptions import ConfigError, DataError

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def counting_predictor_training(monkeypatch):
    calls = []
    original = predictors._train

    def train(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(predictors, "_train", train)
    return calls


def test_predictor_trained_when_missing_and_reused(
    tmp_path, toy_pair, counting_predictor_training
):
    import tensorflow as tf

    cfg = load_config(smoke_config_with(tmp_path, toy_pair))
    dataset = prepare_dataset(cfg.data, cfg.seed)
    strategy = tf.distribute.get_strategy()
    first = predictors.get_predictor(cfg, dataset, strategy)
    assert len(counting_predictor_training) == 1
    folder = counting_predictor_training[0]
    meta = json.loads((folder / "predictor.json").read_text())
    assert meta["tasks"] == ["energy", "cameradirection"]
    assert set(meta["validation_metrics"]) == {
        "energy_resolution",
        "energy_bias",
        "cameradirection_68_m",
    }
    second = predictors.get_predictor(cfg, dataset, strategy)
    assert len(counting_predictor_training) == 1  # found, not retrained
    x = dataset.images[:4]
    np.testing.assert_allclose(
        second.predict(x, verbose=0)["energy"],
        first.predict(x, verbose=0)["energy"],
        rtol=1e-5,
    )
    assert not second.trainable

    other = load_config(smoke_config_with(tmp_path, toy_pair).parent / "smoke.yml")
    meta["tasks"] = ["type"]
    (folder / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="predictor.json: made for key"):
        predictors.get_predictor(other, dataset, strategy)


def test_checkpoint_restores_epoch_and_optimizer_state_exactly(tmp_path, toy_pair):
    import tensorflow as tf

    from ctgans.data.pipeline import make_tf_dataset
    from ctgans.runs.layout import latest_checkpoint
    from ctgans.train.checkpoint import restore_checkpoint, save_checkpoint
    from ctgans.train.run import build_gan

    cfg = load_config(smoke_config_with(tmp_path, toy_pair))
    dataset = prepare_dataset(cfg.data, cfg.seed)
    strategy = tf.distribute.get_strategy()
    gan = build_gan(cfg, dataset, None, strategy)
    data = make_tf_dataset(dataset.images, dataset.labels, 32, seed=0)
    gan.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run, gan, 3)
    assert latest_checkpoint(run).name == "epoch-0003"

    fresh = build_gan(cfg, dataset, None, strategy)
    before = [v.numpy().copy() for v in fresh.generator_optimizer.variables]
    assert restore_checkpoint(latest_checkpoint(run), fresh) == 3
    pairs = [
        (gan.generator.weights, fresh.generator.weights),
        (gan.critic.weights, fresh.critic.weights),
        (gan.generator_optimizer.variables, fresh.generator_optimizer.variables),
        (gan.critic_optimizer.variables, fresh.critic_optimizer.variables),
        ([gan.seed_generator.state], [fresh.seed_generator.state]),
    ]
    for saved, restored in pairs:
        assert len(saved) == len(restored) > 0
        for a, b in zip(saved, restored):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.generator_optimizer.iterations.numpy()) == 3
    assert any(
        not np.array_equal(b, v.numpy())
        for b, v in zip(before, fresh.generator_optimizer.variables)
    )
    # the next step is the same for the original and the restored GAN
    batch = next(iter(data))
    gan.train_on_batch(*batch)
    fresh.train_on_batch(*batch)
    for a, b in zip(gan.generator.weights, fresh.generator.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_incomplete_checkpoint_is_ignored(tmp_path):
    from ctgans.runs.layout import latest_checkpoint

    (tmp_path / "checkpoints" / "epoch-0001").mkdir(parents=True)
    (tmp_path / "checkpoints" / "epoch-0001" / "state.json").write_text('{"epoch": 1}')
    (tmp_path / "checkpoints" / ".tmp-abc").mkdir()
    (tmp_path / "checkpoints" / "epoch-0002").mkdir()  # no state.json: not complete
    assert latest_checkpoint(tmp_path).name == "epoch-0001"


def test_resume_refuses_run_folder_of_anothersmoke_config_with(tmp_path, toy_pair):
    from ctgans.runs.folder import open_run_folder

    cfg = load_config(smoke_config_with(tmp_path, toy_pair))
    folder, resumed = open_run_folder(cfg, fresh=False)
    assert not resumed and folder.name == "smoke-001"
    assert open_run_folder(cfg, fresh=False) == (folder, True)
    longer = load_config(smoke_config_with(tmp_path, toy_pair, epochs=5))
    assert open_run_folder(longer, fresh=False) == (
        folder,
        True,
    )  # more epochs: same run
    other = load_config(smoke_config_with(tmp_path, toy_pair, critic_steps=3))
    with pytest.raises(ConfigError, match="was made with another config"):
        open_run_folder(other, fresh=False)
    new, resumed = open_run_folder(other, fresh=True)
    assert new.name == "smoke-002" and not resumed
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.yml",
        "run.json",
        "versions.json",
    ]


def test_train_cli_smoke_produces_run_folder_and_resumes(tmp_path):
    shutil.copy(PROJECT / "configs" / "smoke.yml", tmp_path / "smoke.yml")
    command = [sys.executable, "-m", "ctgans.train", "smoke.yml"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "runs" / "smoke-001"
    for name in (
        "config.yml",
        "versions.json",
        "run.json",
        "dataset.json",
        "history.csv",
        "generator.keras",
        "label_recovery.json",
        "samples/epoch-0002.png",
        "checkpoints/epoch-0002/state.json",
    ):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 3
    assert "critic_loss" in history[0] and "label_energy" in history[0]
    recovery = json.loads((run / "label_recovery.json").read_text())
    assert set(recovery) == {"n_events", "simulated", "generated"}
    assert len(list((tmp_path / "predictors").iterdir())) == 1

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr and "using predictor" in again.stderr
    assert not (tmp_path / "runs" / "smoke-002").exists()
