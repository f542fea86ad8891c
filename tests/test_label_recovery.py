"""Predictor figures of merit on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ctgans.data.normalize import LabelScaler
from ctgans.train.label_recovery import label_errors


def _scaler_and_labels(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    labels = {
        "true_shower_primary_class": rng.integers(0, 2, n).astype(float),
        "log_true_energy": rng.uniform(-1, 1, n),
        "cam_coord_offset_x": rng.normal(0, 0.2, n),
        "cam_coord_offset_y": rng.normal(0, 0.2, n),
    }
    scaler = LabelScaler.fit(labels, tuple(labels))
    return scaler, labels, scaler.forward(labels)


def test_perfect_predictions_score_perfectly():
    scaler, labels, matrix = _scaler_and_labels()
    cls = labels["true_shower_primary_class"]
    predictions = {
        "type": np.stack([1 - cls, cls], axis=1),
        "energy": matrix[:, 1:2],
        "cameradirection": matrix[:, 2:4],
    }
    result = label_errors(predictions, matrix, scaler)
    assert result["type_auc"] == pytest.approx(1.0)
    assert result["energy_resolution"] == pytest.approx(0.0, abs=1e-5)
    assert result["energy_bias"] == pytest.approx(0.0, abs=1e-5)
    assert result["cameradirection_68_m"] == pytest.approx(0.0, abs=1e-5)


def test_known_bias_spread_and_offset():
    scaler, labels, matrix = _scaler_and_labels()
    rng = np.random.default_rng(1)
    # E_reco = 1.1 E_true exactly: bias 0.1, no spread
    log_e = labels["log_true_energy"] + np.log10(1.1)
    shifted = dict(labels, log_true_energy=log_e)
    energy = scaler.forward(shifted)[:, 1:2]
    # a fixed 0.05 m camera offset error: 68 % containment 0.05 m
    moved = dict(labels, cam_coord_offset_x=labels["cam_coord_offset_x"] + 0.05)
    direction = scaler.forward(moved)[:, 2:4]
    random_type = rng.uniform(size=(len(matrix), 1))
    predictions = {
        "type": np.concatenate([1 - random_type, random_type], axis=1),
        "energy": energy,
        "cameradirection": direction,
    }
    result = label_errors(predictions, matrix, scaler)
    assert result["energy_bias"] == pytest.approx(0.1, abs=1e-4)
    assert result["energy_resolution"] == pytest.approx(0.0, abs=1e-4)
    assert result["cameradirection_68_m"] == pytest.approx(0.05, abs=1e-4)
    assert result["type_auc"] == pytest.approx(0.5, abs=0.05)
