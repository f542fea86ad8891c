"""The random-forest judge of label recovery on feature tables with known answers.

Synthetic image parameters carry the energy (intensity, size) and the source
(along the major axis, head-tail in the skewness): images of 2x the energy
labelled with the simulated energies must fail the energy bias row; another
simulated sample with the same labels must fail no row; an image of the training
split is judged by the forest that did not learn from it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ctgans.evaluate.features import FEATURE_NAMES
from ctgans.evaluate.forest import fit_forests, forest_errors, true_disp
from ctgans.evaluate.label_recovery import recovery_entries
from ctgans.evaluate.report import halvings
from ctgans.evaluate.targets import LABEL_FIGURES
from ctgans.predictor.figures import energy_edges

WANTED = {k: (kind, target) for k, (kind, target, _) in LABEL_FIGURES.items()}


def _labels(n, rng):
    return rng.uniform(-1, 1, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)


def _features(log_e, sx, sy, rng):
    """Image parameters of showers of energy ``log_e`` from source ``(sx, sy)``."""
    n = len(log_e)
    length = 0.08 + 0.03 * log_e + rng.normal(0, 0.004, n)
    width = 0.03 + 0.005 * log_e + rng.normal(0, 0.002, n)
    disp = (0.1 + 2.0 * (length - width)) * rng.choice([-1.0, 1.0], n)
    psi = rng.uniform(-90, 90, n)
    x = sx - disp * np.cos(np.deg2rad(psi))
    y = sy - disp * np.sin(np.deg2rad(psi))
    table = {name: rng.normal(0, 1, n) for name in FEATURE_NAMES}
    table |= {
        "hillas_intensity": 2.0 + log_e + rng.normal(0, 0.05, n),  # log10 p.e.
        "hillas_x": x,
        "hillas_y": y,
        "hillas_r": np.hypot(x, y),
        "hillas_psi": psi,
        "hillas_length": length,
        "hillas_width": width,
        # the tail points away from the source: skewness against disp's sign
        "hillas_skewness": -0.6 * np.sign(disp) + rng.normal(0, 0.15, n),
    }
    return table


@pytest.fixture(scope="module")
def judged():
    rng = np.random.default_rng(0)
    train_labels = _labels(4000, rng)
    train = _features(*train_labels, rng)
    forests = fit_forests(
        train, train_labels[0], np.arange(4000), seed=0, source=train_labels[1:]
    )
    log_e, sx, sy = _labels(3000, rng)
    sim = forest_errors(forests, _features(log_e, sx, sy, rng), log_e, (sx, sy))
    return forests, train, train_labels, sim, (log_e, sx, sy), rng


def _entries(gen, sim, log_e):
    splits = halvings(np.arange(len(log_e)), 5, seed=0)
    return recovery_entries(gen, sim, splits, log_e, energy_edges(log_e), WANTED)


def test_the_forests_recover_energy_and_direction(judged):
    _, _, _, sim, _, _ = judged
    rel = sim["energy_rel"]
    assert abs(np.median(rel)) < 0.03
    assert np.quantile(np.abs(rel), 0.68) < 0.25
    # the source from DISP within a few cm, where the offsets spread 0.3 m
    assert np.quantile(sim["cameradirection_error"], 0.68) < 0.05


def test_images_of_twice_the_energy_fail_the_energy_bias(judged):
    forests, _, _, sim, (log_e, sx, sy), rng = judged
    wrong = _features(log_e + np.log10(2.0), sx, sy, rng)
    gen = forest_errors(forests, wrong, log_e, (sx, sy))
    result = _entries(gen, sim, log_e)
    bias = result["energy_bias"]["pooled"]
    assert bias["generated"] == pytest.approx(1.0, abs=0.15)  # E_reco / E_true = 2
    assert bias["status"] == "fail"
    assert result["energy_bias"]["worst_bin"]["status"] == "fail"
    # the direction is right: no fail there
    assert result["cameradirection_68_m"]["pooled"]["status"] != "fail"


def test_simulation_standing_in_for_the_generator_fails_no_row(judged):
    forests, _, _, sim, (log_e, sx, sy), rng = judged
    other = forest_errors(forests, _features(log_e, sx, sy, rng), log_e, (sx, sy))
    result = _entries(other, sim, log_e)
    assert set(result) == {"energy_bias", "energy_resolution", "cameradirection_68_m"}
    for name, entries in result.items():
        for kind, e in entries.items():
            assert e["status"] != "fail", (name, kind, e["value"], e["floor"])
    assert result["energy_bias"]["pooled"]["status"] == "pass"


def test_training_images_are_judged_by_the_fold_that_did_not_see_them(judged):
    forests, train, (log_e, sx, sy), sim, _, _ = judged
    again = forest_errors(forests, train, log_e, (sx, sy))
    in_sample = np.quantile(np.abs(again["energy_rel"]), 0.68)
    fresh = np.quantile(np.abs(sim["energy_rel"]), 0.68)
    # a forest judging its own training rows would be far better than on new ones
    assert in_sample == pytest.approx(fresh, rel=0.15)
    assert np.allclose(
        true_disp(train, (sx, sy)) ** 2,
        np.hypot(train["hillas_x"] - sx, train["hillas_y"] - sy) ** 2,
    )


def test_the_particle_classifier_tells_wider_images_apart():
    rng = np.random.default_rng(5)
    labels = _labels(2000, rng)
    is_gamma = rng.uniform(size=2000) < 0.5
    train = _features(*labels, rng)
    train["hillas_width"] = train["hillas_width"] * np.where(is_gamma, 1.0, 1.5)
    forests = fit_forests(train, None, np.arange(2000), seed=1, is_gamma=is_gamma)
    assert forests.tasks == ["type"]
    test_labels = _labels(1000, rng)
    test = _features(*test_labels, rng)
    test_gamma = np.arange(1000) < 500
    test["hillas_width"] = test["hillas_width"] * np.where(test_gamma, 1.0, 1.5)
    errors = forest_errors(forests, test, test_labels[0], is_gamma=test_gamma)
    assert "energy_rel" not in errors
    result = _entries(errors, errors, test_labels[0])
    assert result["type_auc"]["pooled"]["simulated"] > 0.95
    assert result["type_auc"]["pooled"]["status"] == "pass"
