"""model.generator.shower_angle: contained: the image axis' angle around the source
drawn among those that keep the held window's centre where the training light lies."""

import numpy as np
import pytest

CENTRE = (21.0, 20.0)
RADIUS = 17.0


def _angles(source, distance, noise):
    from ctgans.models.envelope import contained_angle

    fit = {"centre": list(CENTRE), "radius": RADIUS}
    return np.asarray(contained_angle(source, distance, noise, fit), np.float64)


def _centres(source, distance, angle):
    return source + distance[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)


def test_contained_angle_keeps_every_reachable_centre_inside():
    rng = np.random.default_rng(0)
    n = 20000
    radius = RADIUS * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0, 2 * np.pi, n)
    source = np.stack(
        [CENTRE[0] + radius * np.sin(phi), CENTRE[1] + radius * np.cos(phi)], 1
    ).astype(np.float32)
    distance = rng.uniform(0.5, 16.0, n).astype(np.float32)
    noise = rng.standard_normal((n, 2)).astype(np.float32)
    angle = _angles(source, distance, noise)
    offset = np.hypot(*(_centres(source, distance, angle) - CENTRE).T)
    # Reachable: some point of the circle of radius d around the source is inside.
    reachable = np.abs(radius - distance) <= RADIUS
    assert reachable.mean() > 0.9
    assert offset[reachable].max() <= RADIUS + 1e-3
    # Unreachable (d > R + s): the centre goes straight inward, as close as it can.
    np.testing.assert_allclose(
        offset[~reachable], distance[~reachable] - radius[~reachable], atol=1e-3
    )
    # A uniform angle would have put a quarter of them outside.
    free = np.arctan2(noise[:, 0], noise[:, 1])
    outside = np.hypot(*(_centres(source, distance, free) - CENTRE).T) > RADIUS
    assert outside.mean() > 0.2


def test_contained_angle_is_uniform_among_the_allowed_angles():
    # One source 12 px from the centre, d = 9 px: brute-force rejection of uniform
    # angles and the closed form give the same distribution.
    n = 40000
    rng = np.random.default_rng(1)
    source = np.tile(np.float32([[CENTRE[0] + 12.0, CENTRE[1]]]), (n, 1))
    distance = np.full(n, 9.0, np.float32)
    angle = _angles(source, distance, rng.standard_normal((n, 2)))
    uniform = rng.uniform(0, 2 * np.pi, 4 * n)
    kept = uniform[
        np.hypot(*(_centres(source[:1], np.full(1, 9.0), uniform) - CENTRE).T) <= RADIUS
    ]
    allowed = len(kept) / len(uniform)
    assert 0.3 < allowed < 0.9  # the edge matters here
    wrapped = np.mod(angle, 2 * np.pi)
    bins = np.linspace(0, 2 * np.pi, 37)
    ours, _ = np.histogram(wrapped, bins, density=True)
    brute, _ = np.histogram(kept, bins, density=True)
    np.testing.assert_allclose(ours, brute, atol=0.03)
    # Every angle allowed (a source at the centre, d < R): the noise's own angle.
    middle = np.tile(np.float32([CENTRE]), (1000, 1))
    noise = rng.standard_normal((1000, 2)).astype(np.float32)
    free = np.arctan2(noise[:, 0], noise[:, 1])
    drawn = _angles(middle, np.full(1000, 5.0, np.float32), noise)
    np.testing.assert_allclose(np.cos(drawn), np.cos(free), atol=1e-4)
    np.testing.assert_allclose(np.sin(drawn), np.sin(free), atol=1e-4)


def test_containment_fit_recovers_the_radius_of_the_light():
    from ctgans.train.envelope_fit import CONTAINMENT_QUANTILE, fit_containment

    rng = np.random.default_rng(2)
    n, size = 600, 43
    iso = np.array([0.93, 1.08])
    centre_rc = np.array([21.0, 21.5])
    # Light centroids uniform in a disc of radius 15 isotropic pixels around the
    # camera's centre; a 1.5 px blob each, pedestal noise below the threshold.
    radius = 15.0 * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0, 2 * np.pi, n)
    iso_rc = centre_rc * iso + radius[:, None] * np.stack([np.sin(phi), np.cos(phi)], 1)
    grid_rc = iso_rc / iso
    rows, cols = np.indices((size, size))
    charges = 80 * np.exp(
        -0.5
        * (
            ((rows[None] - grid_rc[:, 0, None, None]) / 1.5) ** 2
            + ((cols[None] - grid_rc[:, 1, None, None]) / 1.5) ** 2
        )
    )
    charges += rng.normal(0, 1, charges.shape)
    fit = fit_containment(charges, 4.0, centre_rc, iso)
    np.testing.assert_allclose(fit["centre"], centre_rc * iso)
    expected = 15.0 * np.sqrt(CONTAINMENT_QUANTILE)
    assert fit["radius"] == pytest.approx(expected, abs=0.3)
    assert fit["median_radius"] == pytest.approx(15.0 * np.sqrt(0.5), abs=0.6)
    assert fit["n_images"] == n


def test_containment_fit_refuses_images_without_light():
    from ctgans.exceptions import CtgansInputError
    from ctgans.train.envelope_fit import fit_containment

    with pytest.raises(CtgansInputError, match="shower_angle contained: 0 training"):
        fit_containment(np.zeros((100, 8, 8)), 3.0, (4.0, 4.0), (1.0, 1.0))
