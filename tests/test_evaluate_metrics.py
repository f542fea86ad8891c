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
    median_difference,
    separation_power,
    separation_powers,
    spread_ratio,
    two_sample_auc,
)
from ctgans.evaluate.orientation import (
    containment_68,
    miss_distance,
    random_axis_miss,
    source_in_geometry_frame,
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
    # Scaled by the reference sample x alone (as JetNet), not by the pooled one.
    xs, ys = ((v - x.mean(0)) / x.std(0) for v in (x, y))

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


def test_kpd_grows_with_generated_outliers(gaussian_halves):
    """1 % of the generated rows 10 sigma out: neither clipped nor allowed to
    widen the scale, they make KPD clearly positive."""
    x, y = gaussian_halves
    kwargs = dict(n_batches=20, batch_size=400)
    clean = kpd(x, y, rng=np.random.default_rng(0), **kwargs)
    wild = y.copy()
    wild[:15] = 10.0
    outliers = kpd(x, wild, rng=np.random.default_rng(0), **kwargs)
    assert outliers.low > 0.0
    assert outliers.median > 10 * (abs(clean.median) + clean.spread)


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


def test_spread_ratio_and_median_difference():
    sim = np.random.default_rng(2).lognormal(5.0, 1.0, size=2000)
    assert spread_ratio(2.0 * sim, sim) == pytest.approx(2.0)
    assert spread_ratio(np.append(sim, np.nan), sim) == pytest.approx(1.0)
    # On log10 intensity: a factor 1.3 is log10(1.3) = 0.114 dex, either way.
    log_sim = np.log10(sim)
    assert median_difference(log_sim + np.log10(1.3), log_sim) == pytest.approx(
        np.log10(1.3)
    )
    assert median_difference(log_sim - 0.05, log_sim) == pytest.approx(0.05)
    assert median_difference(np.append(log_sim, np.nan), log_sim) == 0.0


# --- image orientation -----------------------------------------------------------


def test_miss_distance_of_axes_with_known_answers():
    rng = np.random.default_rng(5)
    n = 500
    psi = rng.uniform(-90, 90, n)
    along = rng.uniform(-0.4, 0.4, n)  # source anywhere on the axis
    x, y = rng.uniform(-0.3, 0.3, (2, n))
    direction = np.stack([np.cos(np.deg2rad(psi)), np.sin(np.deg2rad(psi))])
    normal = np.stack([-direction[1], direction[0]])
    on_axis = np.array([x, y]) + along * direction
    np.testing.assert_allclose(miss_distance(x, y, psi, *on_axis), 0.0, atol=1e-12)
    # psi and psi + 180 degrees are the same axis.
    np.testing.assert_allclose(
        miss_distance(x, y, psi + 180, *on_axis), 0.0, atol=1e-12
    )
    d = 0.02
    offset = on_axis + d * normal * rng.choice([-1, 1], n)
    np.testing.assert_allclose(miss_distance(x, y, psi, *offset), d, rtol=1e-9)
    random = random_axis_miss(x, y, *offset, np.random.default_rng(0))
    assert containment_68(random) > 3 * d
    assert np.isnan(miss_distance(np.nan, 0.0, 10.0, 0.1, 0.1))


def test_miss_distance_of_hillas_ellipses(geometry):
    """Ellipses whose axes point to a source: the Hillas axis misses it by
    well under a pixel (0.1 m); shifted sideways by d, by about d."""
    source = np.array([0.15, -0.1])
    psis = np.array([10.0, 50.0, 100.0, 150.0])
    shifts = np.array([0.0, 0.0, 0.0, 0.0, 0.06, 0.06, 0.06, 0.06])
    images, sources = [], []
    for i, (psi, shift) in enumerate(zip(np.tile(psis, 2), shifts, strict=True)):
        angle = np.deg2rad(psi)
        centre = source + 0.25 * np.array([np.cos(angle), np.sin(angle)])
        centre += shift * np.array([-np.sin(angle), np.cos(angle)])
        images.append(_ellipse(geometry, *centre, 0.12, 0.03, psi, seed=10 + i))
        sources.append(source)
    f = image_features(np.stack(images), geometry)
    sx, sy = np.transpose(sources)
    miss = miss_distance(f["hillas_x"], f["hillas_y"], f["hillas_psi"], sx, sy)
    assert np.all(miss[:4] < 0.02), miss
    np.testing.assert_allclose(miss[4:], 0.06, atol=0.02)


def test_source_labels_rotate_into_the_geometry_frame(geometry):
    """dl1-data-handler's label frame is CameraFrame(rotation=pix_rotation);
    the geometry's pixel positions are in CameraFrame(rotation=0)."""
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time
    from ctapipe.coordinates import CameraFrame

    altaz = AltAz(
        location=EarthLocation(
            lon=-17.89 * u.deg, lat=28.76 * u.deg, height=2200 * u.m
        ),
        obstime=Time("2020-01-01T00:00:00"),
    )
    pointing = SkyCoord(alt=70 * u.deg, az=0 * u.deg, frame=altaz)
    focal = geometry.frame.focal_length

    def frame(rotation):
        return CameraFrame(
            focal_length=focal, rotation=rotation, telescope_pointing=pointing
        )

    x, y = np.array([0.3, -0.1, 0.0]), np.array([0.05, 0.2, -0.25])
    sky = SkyCoord(x=x * u.m, y=y * u.m, frame=frame(0 * u.deg)).transform_to(altaz)
    label = sky.transform_to(frame(geometry.pix_rotation))
    back = source_in_geometry_frame(
        label.x.to_value(u.m), label.y.to_value(u.m), geometry
    )
    np.testing.assert_allclose(back, [x, y], atol=1e-6)


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
