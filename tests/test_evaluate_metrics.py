"""Fidelity metrics against known answers, and image features of a toy ellipse."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from ctapipe.image import tailcuts_clean
from ctapipe.image.toymodel import Gaussian
from threadpoolctl import threadpool_limits

from ctgans.evaluate import (
    FEATURE_NAMES,
    feature_matrix,
    image_features,
    kpd,
    median_log_ratio,
    separation_power,
    separation_powers,
    spread_ratio,
    two_sample_auc,
)
from ctgans.simulate.instrument import camera_geometry


@pytest.fixture(autouse=True)
def _single_thread():
    # Fast and steady on a busy machine; the results do not depend on it.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def gaussian_halves():
    sample = np.random.default_rng(7).normal(size=(3000, 3))
    return sample[:1500], sample[1500:]


# --- separation power ------------------------------------------------------------


def test_separation_power_zero_for_identical_samples():
    values = np.random.default_rng(0).normal(size=1000)
    assert separation_power(values, values.copy()) == 0.0


def test_separation_power_matches_hand_computed_histograms():
    # h1 = [0.5, 0.5, 0], h2 = [0, 0.5, 0.5] -> S = 1/2 (0.25/0.5 + 0 + 0.25/0.5)
    a = np.array([0.0, 0.0, 1.0, 1.0])
    b = np.array([1.0, 1.0, 2.0, 2.0])
    edges = [-0.5, 0.5, 1.5, 2.5]
    assert separation_power(a, b, bins=edges) == pytest.approx(0.5, abs=1e-12)
    # Integer samples get one bin per integer by default: same histograms.
    assert separation_power(a, b) == pytest.approx(0.5, abs=1e-12)


def test_separation_power_one_for_disjoint_samples():
    rng = np.random.default_rng(1)
    assert separation_power(rng.uniform(0, 1, 500), rng.uniform(5, 6, 700)) == (
        pytest.approx(1.0)
    )


def test_separation_power_drops_nan_and_counts_outliers_at_the_edges():
    a = np.array([0.0, 1.0, np.nan])
    b = np.array([0.0, 1.0, 10.0, 10.0])  # 10 is clipped into the last bin
    # h1 = [0.5, 0.5], h2 = [0.25, 0.75] -> 1/2 (0.0625/0.75 + 0.0625/1.25)
    expected = 0.5 * (0.0625 / 0.75 + 0.0625 / 1.25)
    assert separation_power(a, b, bins=[-0.5, 0.5, 1.5]) == pytest.approx(expected)


def test_separation_power_rejects_all_nan():
    with pytest.raises(ValueError, match="no finite values"):
        separation_power([np.nan, np.nan], [1.0, 2.0])


def test_separation_powers_of_tables_uses_shared_columns():
    table_a = {"w": np.array([0.0, 1.0]), "only_a": np.array([1.0, 2.0])}
    table_b = {"w": np.array([2.0, 3.0])}
    assert separation_powers(table_a, table_b) == {"w": pytest.approx(1.0)}


# --- KPD -------------------------------------------------------------------------


def test_kpd_consistent_with_zero_for_same_distribution(gaussian_halves):
    x, y = gaussian_halves
    result = kpd(x, y, n_batches=20, batch_size=400, rng=np.random.default_rng(0))
    # The 16-84 % band is a 1-sigma band: ask for 0 within 2 of its half-widths.
    assert abs(result.median) < 2 * result.spread
    assert result.low < 0.0 < result.high + result.spread


def test_kpd_clearly_positive_for_shifted_distribution(gaussian_halves):
    x, y = gaussian_halves
    same = kpd(x, y, n_batches=20, batch_size=400, rng=np.random.default_rng(0))
    shifted = kpd(
        x, y + 0.5, n_batches=20, batch_size=400, rng=np.random.default_rng(0)
    )
    assert shifted.low > 0.0
    assert shifted.median > 5 * (abs(same.median) + same.spread)


def test_kpd_equals_hand_computed_unbiased_mmd2():
    x = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 2.0], [4.0, 0.0]])
    y = np.array([[1.0, 1.0], [3.0, 5.0], [0.0, 2.0]])
    pooled = np.concatenate([x, y])
    xs, ys = ((v - pooled.mean(0)) / pooled.std(0) for v in (x, y))

    def k(a, b):
        return (a @ b / 2 + 1) ** 3

    def within(v):
        pairs = [k(v[i], v[j]) for i in range(len(v)) for j in range(len(v)) if i != j]
        return sum(pairs) / len(pairs)

    cross = np.mean([k(a, b) for a in xs for b in ys])
    expected = within(xs) + within(ys) - 2 * cross
    # One batch holding every row: the estimator on the whole samples.
    result = kpd(
        x, y, degree=3, n_batches=1, batch_size=10, rng=np.random.default_rng(0)
    )
    assert result.median == pytest.approx(expected, rel=1e-12)
    assert result.spread == 0.0


def test_kpd_is_deterministic_for_a_seed(gaussian_halves):
    x, y = gaussian_halves
    kwargs = dict(n_batches=3, batch_size=200)
    first = kpd(x, y, rng=np.random.default_rng(3), **kwargs)
    assert first == kpd(x, y, rng=np.random.default_rng(3), **kwargs)


# --- two-sample classifier -------------------------------------------------------


def test_two_sample_auc_near_half_for_same_distribution(gaussian_halves):
    x, y = gaussian_halves
    auc = two_sample_auc(x, y, np.random.default_rng(0))
    assert auc == pytest.approx(0.5, abs=0.06)
    assert auc == two_sample_auc(x, y, np.random.default_rng(0))


def test_two_sample_auc_near_one_for_different_distributions(gaussian_halves):
    x, y = gaussian_halves
    assert two_sample_auc(x, y + [4.0, 0.0, 0.0], np.random.default_rng(0)) > 0.95


def test_two_sample_auc_logistic_option(gaussian_halves):
    x, y = gaussian_halves
    auc = two_sample_auc(x, y + 4.0, np.random.default_rng(0), classifier="logistic")
    assert auc > 0.95


# --- spreads and medians ---------------------------------------------------------


def test_spread_ratio_and_median_log_ratio():
    sim = np.random.default_rng(2).lognormal(5.0, 1.0, size=2000)
    assert spread_ratio(2.0 * sim, sim) == pytest.approx(2.0)
    assert spread_ratio(np.append(sim, np.nan), sim) == pytest.approx(1.0)
    # median(log10 sim^1.05) = 1.05 median(log10 sim): the ratio is 1.05 exactly.
    assert median_log_ratio(sim**1.05, sim) == pytest.approx(1.05)


# --- image features --------------------------------------------------------------


@pytest.fixture(scope="module")
def geometry():
    return camera_geometry()


def _ellipse(geometry, x, y, length, width, psi, seed):
    model = Gaussian(
        x=x * u.m, y=y * u.m, length=length * u.m, width=width * u.m, psi=psi * u.deg
    )
    image, _, _ = model.generate_image(
        geometry, intensity=3000, nsb_level_pe=0, rng=np.random.default_rng(seed)
    )
    return image


def test_image_features_of_an_elliptical_gaussian(geometry):
    psi = 35.0
    image = _ellipse(geometry, 0.1, -0.05, 0.12, 0.04, psi, seed=4)
    at_edge = _ellipse(geometry, 0.45, 0.0, 0.1, 0.04, psi, seed=5)
    features = image_features(np.stack([image, at_edge]), geometry)

    assert set(features) == set(FEATURE_NAMES)
    assert all(values.shape == (2,) for values in features.values())
    # Intensity is the charge kept by cleaning: all but the faint tails.
    kept = tailcuts_clean(geometry, image, 6.0, 3.5, min_number_picture_neighbors=1)
    assert features["hillas_intensity"][0] == pytest.approx(image[kept].sum())
    assert features["hillas_intensity"][0] == pytest.approx(image.sum(), rel=0.1)
    assert features["morphology_n_pixels"][0] == kept.sum()
    assert features["hillas_x"][0] == pytest.approx(0.1, abs=0.01)
    assert features["hillas_y"][0] == pytest.approx(-0.05, abs=0.01)
    assert features["hillas_width"][0] < features["hillas_length"][0]
    assert features["hillas_length"][0] == pytest.approx(0.12, rel=0.15)
    assert features["hillas_psi"][0] == pytest.approx(psi, abs=3.0)
    assert features["morphology_n_islands"][0] == 1
    assert 0.0 < features["concentration_core"][0] < 1.0
    # Only the ellipse cut by the camera edge leaks.
    np.testing.assert_array_equal(features["leakage_intensity_width_2"] > 0, [0, 1])


def test_image_features_nan_for_empty_and_tiny_images(geometry):
    empty = np.zeros(geometry.n_pixels)
    two_pixels = np.zeros(geometry.n_pixels)
    two_pixels[[0, geometry.neighbors[0][0]]] = 50.0
    features = image_features(np.stack([empty, two_pixels]), geometry)
    for name, values in features.items():
        assert np.all(np.isnan(values)), name


def test_image_features_rejects_wrong_pixel_count(geometry):
    with pytest.raises(ValueError, match=r"\(n_images, 1039\)"):
        image_features(np.zeros((2, 100)), geometry)


def test_feature_matrix_orders_columns():
    table = {"b": np.array([1.0, 2.0]), "a": np.array([3.0, 4.0])}
    np.testing.assert_array_equal(
        feature_matrix(table, ["a", "b"]), [[3.0, 1.0], [4.0, 2.0]]
    )
    with pytest.raises(KeyError, match="missing"):
        feature_matrix(table, ["missing"])
