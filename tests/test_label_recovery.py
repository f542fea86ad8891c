"""Predictor figures of merit on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ctgans.data.normalize import LabelScaler
from ctgans.predictor.figures import label_errors


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


def _binned_errors(n, rng, broken=None, shift=0.3):
    """Energies uniform over 1.2 decades (6 bins); E_reco/E_true - 1 ~ N(0, 0.1),
    shifted by ``shift`` for the events in ``broken`` (a log10 E interval)."""
    log_e = rng.uniform(-0.6, 0.6, n)
    rel = rng.normal(0, 0.1, n)
    if broken is not None:
        rel[(log_e >= broken[0]) & (log_e < broken[1])] += shift
    return log_e, {"energy_rel": rel}


def _recovery(gen, sim, log_e):
    from ctgans.evaluate.label_recovery import recovery_entries
    from ctgans.evaluate.report import halvings
    from ctgans.evaluate.targets import LABEL_FIGURES
    from ctgans.predictor.figures import energy_edges

    wanted = {k: (kind, t) for k, (kind, t, _) in LABEL_FIGURES.items()}
    splits = halvings(np.arange(len(log_e)), 5, seed=0)
    return recovery_entries(gen, sim, splits, log_e, energy_edges(log_e), wanted)


def test_one_broken_energy_bin_fails_the_worst_bin_while_the_pooled_passes():
    rng = np.random.default_rng(3)
    log_e, sim = _binned_errors(6000, rng)
    gen = {"energy_rel": rng.normal(0, 0.1, 6000)}
    in_bin = (log_e >= 0.2) & (log_e < 0.4)
    gen["energy_rel"][in_bin] += 0.3  # one bin in six: E_reco 30 % high there
    bias = _recovery(gen, sim, log_e)["energy_bias"]
    assert bias["pooled"]["status"] == "pass"
    assert bias["pooled"]["value"] < 0.05
    worst = bias["worst_bin"]
    assert worst["status"] == "fail"
    assert worst["worst_bin_range"] == "log10 E/TeV 0.2..0.4"
    assert worst["value"] == pytest.approx(0.3, abs=0.03)
    assert worst["min_events_per_bin"] == 50


def test_a_bin_below_the_minimum_gets_no_status():
    from ctgans.evaluate.label_recovery import MIN_STATUS_PER_BIN

    rng = np.random.default_rng(4)
    log_e, sim = _binned_errors(3000, rng)
    # 60 events in a thin bin at the top: about 30 per half, below the minimum
    log_e = np.concatenate([log_e, rng.uniform(0.6, 0.8, 60)])
    sim = {"energy_rel": np.concatenate([sim["energy_rel"], rng.normal(0, 0.1, 60)])}
    gen = {"energy_rel": rng.normal(0, 0.1, len(log_e))}
    gen["energy_rel"][-60:] += 0.5
    assert 60 // 2 < MIN_STATUS_PER_BIN
    worst = _recovery(gen, sim, log_e)["energy_bias"]["worst_bin"]
    assert worst["status"] != "fail"
    assert worst["worst_bin_range"] != "log10 E/TeV 0.6..0.8"
    assert np.isnan(worst["per_bin"]["value"][-1])
