"""The camera-aware generator and critic: camera response, source frame, moments."""

from __future__ import annotations

import numpy as np
import pytest
from smoke_configs import smoke_config

from ctgans.config import load_config
from ctgans.exceptions import ConfigError


def _response(quantiles, size=4, excess=1.5, seed=0):
    from ctgans.models.camera import CameraResponse

    n = size * size
    layer = CameraResponse(
        image_size=size,
        n_pixels=n,
        n_quantiles=len(quantiles),
        charge_scale=1.0,
        charge_divisor=1.0,
        excess_noise_init=excess,
        seed=seed,
        to_camera=np.eye(n, dtype=np.float32),
        to_square=np.eye(n, dtype=np.float32),
        pedestal_quantiles=np.asarray(quantiles, np.float32),
    )
    layer.build((None, size, size, 1))
    return layer


def _charges(y):
    # Inverse of the layer's normalisation with a = b = 1.
    y = np.asarray(y, np.float64)
    return np.sign(y) * np.expm1(np.abs(y))


def test_camera_response_adds_pedestal_and_photon_noise_per_pixel():
    from scipy.stats import norm

    quantiles = norm.ppf(np.linspace(0.001, 0.999, 513))  # pedestal ~ N(0, 1)
    layer = _response(quantiles, excess=1.5)
    n = 4000
    dark = _charges(layer(np.zeros((n, 4, 4, 1), np.float32))).reshape(n, -1)
    assert abs(dark.mean()) < 0.05
    assert dark.std() == pytest.approx(1.0, rel=0.05)
    # Pixel-independent, as a camera's noise (not the streaks of a convolution).
    corr = np.corrcoef(dark[:, 0], dark[:, 1])[0, 1]
    assert abs(corr) < 0.06
    mu = 100.0
    lit = _charges(layer(np.full((n, 4, 4, 1), mu, np.float32))).reshape(n, -1)
    assert lit.mean() == pytest.approx(mu, rel=0.02)
    # var = F^2 mu + pedestal: 1.5 * 100 + 1 (Poisson alone would give 101).
    assert lit.var() == pytest.approx(1.5 * mu + 1.0, rel=0.08)


def test_camera_response_passes_gradients_to_the_expected_signal():
    import tensorflow as tf

    layer = _response(np.linspace(-1, 1, 17))
    mu = tf.Variable(np.full((8, 4, 4, 1), 20.0, np.float32))
    with tf.GradientTape() as tape:
        out = tf.reduce_mean(layer(mu))
    grad = tape.gradient(out, mu).numpy()
    assert np.all(np.isfinite(grad)) and grad.mean() > 0


def test_source_frame_warp_puts_the_canvas_axis_at_the_source():
    import tensorflow as tf

    from ctgans.models.camera import source_frame_warp

    canvas = np.zeros((1, 43, 43, 1), np.float32)
    canvas[0, 21, 7:20, 0] = 1.0  # from the canvas source (21, 7) along +column
    out = source_frame_warp(
        tf.constant(canvas),
        tf.constant([[10.0, 30.0]]),
        tf.constant([np.pi / 2]),
        (21.0, 7.0),
    ).numpy()[0, ..., 0]
    rows, cols = np.nonzero(out > 0.5)
    np.testing.assert_array_equal(cols, 30)  # rotated by 90 degrees: along +row
    assert rows.min() == 10 and rows.max() == 22
    assert out.sum() == pytest.approx(canvas.sum(), rel=1e-5)


def _perpendicular_width(image, r0, c0, angle):
    """Charge-weighted rms distance from the line through (r0, c0) at ``angle``."""
    r, c = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float64)
    v = -(c - c0) * np.sin(angle) + (r - r0) * np.cos(angle)
    return float(np.sqrt(np.sum(image * v**2) / np.sum(image)))


def test_supersampled_canvas_keeps_a_rotated_shower_narrow():
    """One bilinear sample per pixel widens a narrow shower (0.7 pixels rms)
    rotated by 30 degrees; drawn on a canvas at twice the resolution and averaged
    over 2 x 2 sub-pixels it widens less, and its light is kept."""
    import tensorflow as tf

    from ctgans.models.camera import source_frame_warp

    angle, width = np.pi / 6, 0.7
    coarse = _ellipse(21.0, 17.0, 0.0, length=4.0, width=width)
    fine = _ellipse(42.5, 34.5, 0.0, length=8.0, width=2 * width, size=86)
    # The source (20, 12) of the output; (21, 7) of the canvas: 10 pixels away.
    direct = _ellipse(
        20.0 + 10 * np.sin(angle), 12.0 + 10 * np.cos(angle), angle, width=width
    )

    def warp(canvas, scale):
        out = source_frame_warp(
            tf.constant(canvas[None, ..., None]),
            tf.constant([[20.0, 12.0]]),
            tf.constant([angle]),
            (21.0, 7.0),
            scale=scale,
        )
        return out.numpy()[0, ..., 0]

    one, two = warp(coarse, 1), warp(fine, 2)
    assert two.shape == (43, 43)
    assert two.sum() == pytest.approx(direct.sum(), rel=2e-2)
    w_direct, w1, w2 = (
        _perpendicular_width(image, 20.0, 12.0, angle) for image in (direct, one, two)
    )
    # Measured: 0.70 drawn, 0.81 at one sample per pixel, 0.77 supersampled (the
    # 2 x 2 average is an area sample: + 1/12 pixel^2 of variance).
    assert w1 > 1.13 * w_direct, (w_direct, w1)
    assert w2 < 1.11 * w_direct and w2 < w1 - 0.03, (w_direct, w1, w2)


def _ellipse(r0, c0, angle, length=4.0, width=1.5, amp=50.0, size=43):
    r, c = np.mgrid[:size, :size].astype(np.float32)
    u = (c - c0) * np.cos(angle) + (r - r0) * np.sin(angle)
    v = -(c - c0) * np.sin(angle) + (r - r0) * np.cos(angle)
    return (amp * np.exp(-0.5 * (u / length) ** 2 - 0.5 * (v / width) ** 2)).astype(
        np.float32
    )


@pytest.mark.parametrize("scale", [1, 2])
def test_shower_envelope_keeps_one_shower_and_drops_a_second_blob(scale):
    from ctgans.models.envelope import shower_envelope

    origin = (21.0, 7.0)
    # centre 8 px along the axis, 3 px long, 1.5 px wide (softplus inverses)
    params = np.log(np.expm1(np.array([[8.0, 2.0, 1.0]], np.float32)))
    window = np.asarray(
        shower_envelope(43 * scale, 43 * scale, origin, params, scale=scale)
    )[0, ..., 0]
    assert window.shape == (43 * scale, 43 * scale)
    peak = np.unravel_index(np.argmax(window), window.shape)
    grid = (np.array(peak) - (scale - 1) / 2) / scale
    assert np.allclose(grid, (21.0, 15.0), atol=0.5 / scale)
    # a second blob 8 px off the axis, or 10 px beyond the window, is dropped
    assert window.max() > 0.95
    assert window[int(29 * scale), int(15 * scale)] < 1e-4
    assert window[int(21 * scale), int(25 * scale)] < 1e-2


def test_envelope_rate_starts_at_the_same_window_and_moves_faster():
    import keras
    import tensorflow as tf

    from ctgans.models.envelope import ENVELOPE_INIT, envelope_layer, softplus_inverse

    x = np.random.default_rng(0).standard_normal((16, 5)).astype(np.float32)
    start = [softplus_inverse(ENVELOPE_INIT[0])]
    moved = {}
    for rate in (1.0, 20.0):
        layer = envelope_layer(rate)
        layer.build((None, 5))
        assert np.allclose(rate * np.asarray(layer(x))[:, 0], start, atol=1e-5)
        optimizer = keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9)
        for _ in range(10):  # push the centre outward
            with tf.GradientTape() as tape:
                loss = -keras.ops.mean(rate * layer(x)[:, 0])
            grads = tape.gradient(loss, layer.trainable_weights)
            optimizer.apply_gradients(zip(grads, layer.trainable_weights))
        moved[rate] = float(np.mean(rate * np.asarray(layer(x))[:, 0]) - start[0])
    # Adam moves each weight by ~ the learning rate: the output by ~ rate times it.
    assert moved[1.0] > 0
    assert moved[20.0] == pytest.approx(20 * moved[1.0], rel=0.05)


def test_generator_with_envelope_rate_starts_with_the_same_images(tmp_path, toy_pair):
    # The rate rescales the layer's bias and multiplies its output back in the
    # generator: two untrained generators that differ only in it draw alike.
    import dataclasses

    import keras
    import tensorflow as tf

    from ctgans.data.prepare import prepare_dataset
    from ctgans.train.run import build_gan

    cfg = load_config(_camera_config(tmp_path, toy_pair, shower_envelope="true"))
    dataset = prepare_dataset(cfg.data, cfg.seed)
    z = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    labels = np.zeros((8, 3), np.float32)
    images = {}
    for rate in (1.0, 20.0):
        g = dataclasses.replace(cfg.model.generator, envelope_rate=rate)
        model = dataclasses.replace(cfg.model, generator=g)
        arm = dataclasses.replace(cfg, model=model)
        keras.utils.set_random_seed(0)
        gan = build_gan(arm, dataset, None, tf.distribute.get_strategy())
        generator = gan.generator
        generator.camera_response.reseed(5)
        images[rate] = np.asarray(generator((z, labels), training=False))
    np.testing.assert_allclose(images[20.0], images[1.0], atol=1e-4)


def _held_fit(value: float, **keys) -> dict:
    """A held envelope fit that is ``value`` grid pixels at any labels."""
    return {"coefficients": [float(np.log(value))] + [0.0] * 9, **keys}


def test_generator_draws_at_the_held_envelope_centre(tmp_path, toy_pair):
    import keras
    import tensorflow as tf

    from ctgans.data.prepare import prepare_dataset
    from ctgans.models.envelope import softplus_inverse
    from ctgans.train.run import build_gan

    cfg = load_config(
        _camera_config(
            tmp_path, toy_pair, shower_envelope="true", envelope_centre="fitted"
        )
    )
    dataset = prepare_dataset(cfg.data, cfg.seed)
    keras.utils.set_random_seed(0)
    generator = build_gan(cfg, dataset, None, tf.distribute.get_strategy()).generator
    assert generator.envelope_distance["n_images"] > 50  # fitted from the toy
    # A narrow window (2 px long, 1 px wide) over a uniform signal (the untrained
    # network's output raised by 2): the light is where the window is.
    bias = generator.envelope.bias
    bias.assign([0.0, softplus_inverse(1.0), softplus_inverse(0.5)])
    generator.to_image.bias.assign(generator.to_image.bias + 2.0)
    z = np.random.default_rng(0).standard_normal((256, 16)).astype(np.float32)
    labels = np.zeros((256, 3), np.float32)
    source = np.asarray(generator.source_position(labels[:1]))[0]
    rows, cols = np.indices((43, 43))
    radius = np.hypot(rows - source[0], cols - source[1])
    radii, spreads = {}, {}
    for distance, length in ((4.0, None), (14.0, None), (14.0, 5.0)):
        generator.envelope_distance = _held_fit(distance, residual_sd=0.0)
        generator.envelope_length = length and _held_fit(length, factor=1.0)
        centre, long, wide = (
            np.asarray(v) for v in generator.envelope_window(z, labels)
        )
        np.testing.assert_allclose(centre, distance, rtol=1e-5)
        np.testing.assert_allclose(long, length or 2.0, rtol=1e-5)
        np.testing.assert_allclose(wide, 1.0, rtol=1e-5)
        generator.camera_response.reseed(5)
        images = np.asarray(generator((z, labels), training=False))
        charge = dataset.normalization.inverse(images)[..., 0].mean(axis=0)  # p.e.
        mean = float((charge * radius).sum() / charge.sum())
        radii[distance, length] = mean
        # (near the source the mean pedestal's sign can make the variance < 0)
        variance = (charge * (radius - mean) ** 2).sum() / charge.sum()
        spreads[distance, length] = float(np.sqrt(max(variance, 0.0)))
    # The light's mean distance from the source is the held centre, and its
    # spread along the axis the held length (2 px learned, 5 px held).
    assert radii[4.0, None] == pytest.approx(4.0, abs=1.0), radii
    assert radii[14.0, None] == pytest.approx(14.0, abs=1.0), radii
    assert spreads[14.0, None] == pytest.approx(2.0, abs=0.7), spreads
    assert spreads[14.0, 5.0] == pytest.approx(5.0, abs=1.0), spreads
    # model.generator.envelope_length_spread: the held length drawn log-normally
    # with z[:, 4], correlated with the drawn distance (z[:, 2]) as fitted.
    generator.envelope_distance = _held_fit(10.0, residual_sd=0.2)
    generator.envelope_length = _held_fit(
        3.0, factor=2.0, residual_sd=0.3, spread=True, distance_correlation=0.6
    )
    z = np.random.default_rng(1).standard_normal((4000, 16)).astype(np.float32)
    fixed = np.zeros((4000, 3), np.float32)
    centre, long, _ = (
        np.log(np.asarray(v)) for v in generator.envelope_window(z, fixed)
    )
    assert np.median(long) == pytest.approx(np.log(6.0), abs=0.03)
    assert np.std(long) == pytest.approx(0.3, abs=0.02)
    assert np.corrcoef(centre, long)[0, 1] == pytest.approx(0.6, abs=0.05)
    # Without the spread the same fit holds the length at its median.
    generator.envelope_length = {**generator.envelope_length, "spread": False}
    long = np.asarray(generator.envelope_window(z, fixed)[1])
    np.testing.assert_allclose(long, 6.0, rtol=1e-5)


def test_window_coordinates_give_the_output_convolution_the_held_window(
    tmp_path, toy_pair
):
    import keras
    import tensorflow as tf

    from ctgans.data.prepare import prepare_dataset
    from ctgans.train.run import build_gan

    cfg = load_config(
        _camera_config(
            tmp_path,
            toy_pair,
            shower_envelope="true",
            envelope_centre="fitted",
            window_coordinates="true",
        )
    )
    dataset = prepare_dataset(cfg.data, cfg.seed)
    keras.utils.set_random_seed(0)
    generator = build_gan(cfg, dataset, None, tf.distribute.get_strategy()).generator
    assert generator.window_coordinates
    # The output convolution reads the last block's features and the 4 channels.
    last = [layer for layer in generator.body if hasattr(layer, "filters")][-1]
    assert generator.to_image.kernel.shape[2] == last.filters + 4
    generator.envelope_distance = _held_fit(9.0, residual_sd=0.0)
    generator.envelope_length = _held_fit(3.0, factor=1.0)
    z = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    labels = np.zeros((4, 3), np.float32)
    channels = np.asarray(generator._window_channels(z, labels))
    top, left = generator._crop_offset
    origin = np.asarray(generator.source_frame["origin"]) + (top, left)
    # The window peaks 9 px along the axis (+column) from the source, on its row,
    # and tanh(a) changes sign there; its profile along the axis is 3 px long.
    window, along, _, end = np.moveaxis(channels[0], -1, 0)
    row, col = np.unravel_index(np.argmax(window), window.shape)
    assert (row, col) == (round(origin[0]), round(origin[1] + 9.0))
    assert end[row, col - 1] < 0 < end[row, col + 1]
    assert along[row, col + 3] == pytest.approx(np.exp(-0.5), rel=1e-3)
    # model.generator.window_channels: a subset, in its order.
    generator.window_channels = ("along", "end")
    chosen = np.asarray(generator._window_channels(z, labels))
    np.testing.assert_allclose(chosen, channels[..., [1, 3]], rtol=1e-6)
    generator.window_channels = ("window", "along", "across", "end")
    # The images are drawn with them (another window, other images).
    before = np.asarray(generator((z, labels), training=False))
    generator.envelope_distance["coefficients"][0] = float(np.log(4.0))
    generator.camera_response.reseed(5)
    after = np.asarray(generator((z, labels), training=False))
    assert not np.allclose(before, after)


def _light_centroids(generator, dataset, z, labels):
    """Each generated image's light centroid (pixels 6 p.e. above the pedestal),
    ``(n, 2)`` isotropic pixels; NaN without light."""
    charges = dataset.normalization.inverse(
        np.asarray(generator((z, labels), training=False))
    )[..., 0]
    weights = np.clip(charges - 6.0, 0.0, None)
    total = weights.sum(axis=(1, 2))
    rows, cols = np.indices(charges.shape[1:])
    centroid = (
        np.stack(
            [(weights * rows).sum(axis=(1, 2)), (weights * cols).sum(axis=(1, 2))], 1
        )
        / np.maximum(total, 1e-9)[:, None]
    )
    iso = np.asarray(generator.source_frame["iso_scale"])
    return np.where(total[:, None] > 0, centroid * iso, np.nan)


def test_contained_angle_keeps_an_edge_sources_light_on_the_camera(tmp_path, toy_pair):
    import keras
    import tensorflow as tf

    from ctgans.data.prepare import prepare_dataset
    from ctgans.models.envelope import softplus_inverse
    from ctgans.train.run import build_gan

    centroids = {}
    for angle in ("free", "contained"):
        folder = tmp_path / angle
        folder.mkdir()
        cfg = load_config(
            _camera_config(
                folder,
                toy_pair,
                shower_envelope="true",
                envelope_centre="fitted",
                render="pixels",
                envelope_at="pixels",
                canvas_scale="2",
                shower_angle=angle,
            )
        )
        dataset = prepare_dataset(cfg.data, cfg.seed)
        keras.utils.set_random_seed(0)
        strategy = tf.distribute.get_strategy()
        generator = build_gan(cfg, dataset, None, strategy).generator
        if angle == "contained":
            fit = generator.shower_containment
            assert generator.angle_shift is None
            assert 10.0 < fit["radius"] < 21.5 and fit["n_images"] > 50
        # A short bright window 10 px from a source near the camera's edge.
        generator.envelope.bias.assign(
            [0.0, softplus_inverse(1.0), softplus_inverse(0.95)]
        )
        generator.to_image.bias.assign(generator.to_image.bias + 3.0)
        generator.envelope_distance = {
            "coefficients": [float(np.log(10.0))] + [0.0] * 9,
            "residual_sd": 0.0,
        }
        index = generator.source_frame["label_index"]
        labels = np.zeros((512, 3), np.float32)
        labels[:, index[0]] = 1.6
        z = np.random.default_rng(1).standard_normal((512, 16)).astype(np.float32)
        source = np.asarray(generator.source_position(labels[:1]))[0]
        centroids[angle] = _light_centroids(generator, dataset, z, labels)
    iso = np.asarray(generator.source_frame["iso_scale"])
    edge = fit["radius"]
    assert np.hypot(*(source * iso - fit["centre"])) > edge - 10.0 + 2.0
    free, contained = (
        np.hypot(*(centroids[a] - fit["centre"]).T) for a in ("free", "contained")
    )
    # Free: the light of a quarter of the images lies beyond the training light's
    # radius or off the camera (measured 27 %); contained: none.
    assert np.mean(~(free <= edge)) > 0.15, np.nanpercentile(free, [50, 90])
    assert np.mean(contained <= edge) >= 0.995, np.nanpercentile(contained, [90, 99])


def _shower_frame(source, distance, angle, size: int = 43):
    """Each grid pixel's offset ``(along, across)`` from a shower ``distance``
    from its ``source`` (row, column) in the direction ``angle``, ``(n, size,
    size)`` each."""
    rows, cols = np.indices((size, size))
    dr = rows[None] - source[:, 0, None, None]
    dc = cols[None] - source[:, 1, None, None]
    angle = angle[:, None, None]
    along = dc * np.cos(angle) + dr * np.sin(angle) - distance[:, None, None]
    return along, -dc * np.sin(angle) + dr * np.cos(angle)


def _labelled_sources(rng, n: int, scale: float = 0.3):
    """``n`` standardised labels (3 columns, ``scale`` times N(0, 1)), an affine
    label -> grid map whose labels 0 and 1 are the direction, and the sources'
    (row, column): (21 + 2 y, 10 + 2 x)."""
    labels = rng.standard_normal((n, 3)).astype(np.float32) * scale
    affine = np.array([[0.0, 2.0, 21.0], [2.0, 0.0, 10.0]])
    source = np.stack([21 + 2 * labels[:, 1], 10 + 2 * labels[:, 0]], 1)
    return labels, affine, source


def test_envelope_fit_recovers_the_distance_and_length_of_the_light():
    from ctgans.models.envelope import envelope_distance, envelope_length
    from ctgans.train.envelope_fit import LENGTH_FACTOR, fit_envelope

    rng = np.random.default_rng(1)
    n = 400
    labels = rng.standard_normal((n, 3)).astype(np.float32)
    # Source at (row, col) = (21 + 2 y, 10 + 2 x): labels 0 and 1 are the direction.
    affine = np.array([[0.0, 2.0, 21.0], [2.0, 0.0, 10.0]])
    source = np.stack([21 + 2 * labels[:, 1], 10 + 2 * labels[:, 0]], 1)
    # log distance 1.8 + 0.3 * label 2, log-normal spread 0.1, random side; the
    # shower 2 px long (along the direction from the source) and 1 px wide.
    distance = np.exp(1.8 + 0.3 * labels[:, 2] + 0.1 * rng.standard_normal(n))
    along, across = _shower_frame(source, distance, rng.uniform(0, 2 * np.pi, n))
    charges = 100 * np.exp(-0.5 * ((along / 2.0) ** 2 + across**2))
    charges += rng.normal(0, 1, charges.shape)  # pedestal noise below threshold
    fit, length_fit = fit_envelope(charges, labels, (0, 1), affine, 3.0, length=True)
    c = np.asarray(fit["coefficients"])
    assert c[0] == pytest.approx(1.8, abs=0.05)
    assert c[3] == pytest.approx(0.3, abs=0.03)  # the impact-like label
    assert np.abs(c[1:3]).max() < 0.03  # the direction does not set the distance
    assert fit["residual_sd"] == pytest.approx(0.1, abs=0.03)
    assert fit["n_images"] == n
    # rms length above the threshold: 2 px truncated at 2.6 sigma, about 1.85 px
    assert length_fit["median_px"] == pytest.approx(1.85, abs=0.15)
    assert length_fit["residual_sd"] < 0.15 and length_fit["factor"] == LENGTH_FACTOR
    # The generator's side: the fitted centre at these labels, spread log-normally,
    # and the length held at the factor times the fitted one.
    probe = np.zeros((4000, 3), np.float32)
    probe[:, 2] = 1.0
    noise = rng.standard_normal(4000).astype(np.float32)
    drawn = np.asarray(envelope_distance(probe, noise, fit))
    assert np.median(drawn) == pytest.approx(np.exp(2.1), rel=0.05)
    assert np.std(np.log(drawn)) == pytest.approx(0.1, abs=0.03)
    held = np.asarray(envelope_length(probe, length_fit))
    assert held == pytest.approx(LENGTH_FACTOR * 1.85, rel=0.1)
    # model.generator.envelope_length_factor: the same fit, held at another factor.
    _, tighter = fit_envelope(
        charges, labels, (0, 1), affine, 3.0, length=True, length_factor=1.5
    )
    assert tighter["factor"] == 1.5 and not tighter["spread"]
    assert np.asarray(envelope_length(probe, tighter)) == pytest.approx(
        1.5 * 1.85, rel=0.1
    )


def test_envelope_fit_with_spread_draws_lengths_as_the_light_scatters():
    from ctgans.models.envelope import envelope_distance, envelope_length, length_noise
    from ctgans.train.envelope_fit import fit_envelope

    rng = np.random.default_rng(3)
    n = 1500
    labels, affine, source = _labelled_sources(rng, n)
    # At given labels the shower's length scatters log-normally (0.25) and the
    # longer showers lie further from the source (correlation 0.6).
    d_noise, e_noise = rng.standard_normal((2, n))
    l_noise = 0.6 * d_noise + 0.8 * e_noise
    distance = np.exp(2.3 + 0.15 * d_noise)
    sigma = np.exp(np.log(2.5) + 0.25 * l_noise)
    along, across = _shower_frame(source, distance, rng.uniform(0, 2 * np.pi, n))
    charges = 1000 * np.exp(-0.5 * ((along / sigma[:, None, None]) ** 2 + across**2))
    fit, length_fit = fit_envelope(
        charges, labels, (0, 1), affine, 3.0, length=True, length_spread=True
    )
    assert length_fit["spread"]
    assert length_fit["residual_sd"] == pytest.approx(0.25, abs=0.04)
    assert length_fit["distance_correlation"] == pytest.approx(0.6, abs=0.1)
    # Drawn at fixed labels, the windows scatter and correlate as the light did.
    m = 20000
    probe = np.zeros((m, 3), np.float32)
    d, e = rng.standard_normal((2, m)).astype(np.float32)
    centre = np.log(np.asarray(envelope_distance(probe, d, fit)))
    length = np.log(
        np.asarray(envelope_length(probe, length_fit, length_noise(d, e, length_fit)))
    )
    assert np.std(length) == pytest.approx(length_fit["residual_sd"], rel=0.05)
    assert np.corrcoef(centre, length)[0, 1] == pytest.approx(
        length_fit["distance_correlation"], abs=0.03
    )
    with pytest.raises(ValueError, match="needs the noise"):
        envelope_length(probe, length_fit)


def test_envelope_fit_deblurred_takes_the_cameras_blur_out_in_quadrature():
    from ctgans.models.envelope import envelope_length
    from ctgans.train.envelope_fit import MIN_DEBLURRED, fit_envelope

    rng = np.random.default_rng(4)
    n = 400
    labels, affine, source = _labelled_sources(rng, n)
    along, across = _shower_frame(source, np.full(n, 8.0), rng.uniform(0, 7, n))
    charges = 1e4 * np.exp(-0.5 * ((along / 2.5) ** 2 + across**2))
    args = (charges, labels, (0, 1), affine, 3.0)
    _, plain = fit_envelope(*args, length=True, length_factor=1.0)
    _, deblurred = fit_envelope(*args, length=True, length_factor=1.0, length_blur=2.0)
    observed = plain["median_px"]
    assert deblurred["median_px"] == pytest.approx(np.sqrt(observed**2 - 2.0), rel=1e-3)
    assert deblurred["blur_px2"] == 2.0 and deblurred["min_px"] == MIN_DEBLURRED
    probe = np.zeros((8, 3), np.float32)
    held = np.asarray(envelope_length(probe, deblurred))
    assert held == pytest.approx(deblurred["median_px"], rel=0.1)
    assert held.max() < 0.95 * np.asarray(envelope_length(probe, plain)).min()
    # A blur larger than the light: the floor, which the held window keeps (the
    # plain fit's floor is one pixel).
    _, floor = fit_envelope(*args, length=True, length_factor=1.0, length_blur=100.0)
    assert floor["median_px"] == pytest.approx(MIN_DEBLURRED)
    assert np.asarray(envelope_length(probe, floor)) == pytest.approx(MIN_DEBLURRED)
    assert np.all(np.asarray(envelope_length(probe, {**floor, "min_px": 1.0})) == 1.0)


def test_grid_blur_is_the_pixel_area_and_the_mappers_spread():
    from types import SimpleNamespace

    import astropy.units as u

    from ctgans.train.camera_model import grid_blur

    # Pixels 0.1 m apart on a 5 x 5 grid of 0.1 m cells: one pixel per cell.
    size = 5
    rows, cols = np.divmod(np.arange(size * size), size)
    geometry = SimpleNamespace(
        pix_x=(cols * 0.1) * u.m,
        pix_y=(rows * 0.1) * u.m,
        pix_area=np.full(size * size, 0.01) * u.m**2,
    )
    identity = np.eye(size * size)
    assert grid_blur(identity, geometry, size) == pytest.approx(1 / 12, rel=1e-6)
    # Each pixel's charge shared half-half with its right neighbour: the spread
    # of two cells 1 apart, a quarter per axis pair, half of it per axis.
    shared = 0.5 * identity + 0.5 * np.roll(identity, 1, axis=1)
    shared[:, 0] = identity[:, 0]  # keep the fit well defined at the edge
    spread = grid_blur(shared, geometry, size) - 1 / 12
    assert spread == pytest.approx(0.25 / 2, rel=0.05)


def test_intensity_fit_recovers_the_light_its_spread_and_what_the_threshold_cuts():
    from ctgans.models.envelope import shower_intensity
    from ctgans.train.envelope_fit import fit_intensity

    rng = np.random.default_rng(2)
    n, pixels = 600, 1200
    labels = rng.standard_normal((n, 2)).astype(np.float32)
    # log light 7 + 0.4 * label 0, spread 0.3; each image lights 20 pixels with
    # 80 % of it and 1000 pixels with the rest, pedestal N(0.2, 1) p.e. in every one.
    light = np.exp(7.0 + 0.4 * labels[:, 0] + 0.3 * rng.standard_normal(n))
    charges = rng.normal(0.2, 1.0, (n, pixels))
    charges[:, :20] += 0.8 * light[:, None] / 20
    charges[:, 20:1020] += 0.2 * light[:, None] / 1000
    fit = fit_intensity(charges, labels, 3.0, 0.2)
    c = np.asarray(fit["coefficients"])
    assert c[1] == pytest.approx(0.4, abs=0.05)
    assert np.abs(c[2]) < 0.05
    assert fit["residual_sd"] == pytest.approx(0.3, abs=0.05)
    # The halo below 3 p.e. is 20 % of the light, put back by the factor.
    assert fit["factor"] == pytest.approx(1.25, rel=0.03)
    drawn = np.asarray(shower_intensity(labels, np.zeros(n, np.float32), fit))
    assert np.median(drawn / np.exp(7.0 + 0.4 * labels[:, 0])) == pytest.approx(
        1.0, rel=0.08
    )


def test_camera_response_scales_the_expected_light_to_the_held_intensity():
    layer = _response([0.0, 0.0], size=4, excess=1.0)
    signal = np.zeros((2000, 4, 4, 1), np.float32)
    signal[:, 1, 1:3, 0] = [3.0, 1.0]  # where the light goes, 4 p.e. drawn
    intensity = np.full(2000, 40.0, np.float32)
    images = _charges(layer(signal, intensity=intensity)).reshape(2000, -1)
    assert images.sum(axis=1).mean() == pytest.approx(40.0, rel=0.02)
    assert images[:, 5].mean() == pytest.approx(30.0, rel=0.03)  # 3/4 of it
    assert np.abs(images[:, 0]).max() < 0.1  # no light where none was drawn


def test_shower_envelope_held_centre_replaces_the_learned_one():
    from ctgans.models.envelope import shower_envelope

    params = np.log(np.expm1(np.array([[8.0, 2.0, 1.0]] * 2, np.float32)))
    window = np.asarray(
        shower_envelope(43, 43, (21.0, 7.0), params, centre=np.array([3.0, 12.0]))
    )[..., 0]
    assert np.argmax(window[0, 21]) == 10 and np.argmax(window[1, 21]) == 19
    # learned length 3 px; held 6 px: 6 px beyond the centre exp(-1/2) of the peak
    held = np.asarray(
        shower_envelope(
            43, 43, (21.0, 7.0), params, centre=np.array([3.0, 12.0]), length=[3.0, 6.0]
        )
    )[..., 0]
    assert window[1, 21, 25] == pytest.approx(np.exp(-2.0), rel=1e-3)
    assert held[1, 21, 25] == pytest.approx(np.exp(-0.5), rel=1e-3)


def test_image_moments_measure_the_miss_distance_and_alignment():
    import tensorflow as tf

    from ctgans.models.camera import image_moments

    images = np.stack([_ellipse(21, 25, 0.0), _ellipse(21, 25, np.pi / 2)])
    source = tf.constant([[21.0, 10.0], [21.0, 10.0]])
    m = image_moments(tf.constant(images), source, 3.0).numpy()
    miss, alignment = m[:, 6] * 43, m[:, 7]
    # The guards bias a point-like miss by < 1 grid pixel (vs 15 across).
    assert miss[0] < 1.0 and alignment[0] > 0.95
    assert miss[1] == pytest.approx(15.0, abs=0.1) and alignment[1] < -0.95
    assert m[0, 3] * 43 == pytest.approx(15.0, abs=0.1)  # centroid distance


def _camera_config(tmp_path, toy_pair, **keys):
    changes = {
        "image_shape: 16": "image_shape: 43",
        "generator: {base_filters: 16, upsampling: transpose, normalization: batch}": (
            "generator: {base_filters: 16, upsampling: upsample, normalization: "
            f"batch, camera_noise: {keys.get('camera_noise', 'true')}, "
            f"source_frame: {keys.get('source_frame', 'true')}, "
            f"canvas_scale: {keys.get('canvas_scale', '1')}, "
            f"shower_envelope: {keys.get('shower_envelope', 'false')}, "
            f"envelope_rate: {keys.get('envelope_rate', '1')}, "
            f"envelope_centre: {keys.get('envelope_centre', 'learned')}, "
            f"envelope_length: {keys.get('envelope_length', 'learned')}, "
            f"envelope_length_factor: {keys.get('envelope_length_factor', '2.0')}, "
            "envelope_length_spread: "
            f"{keys.get('envelope_length_spread', 'false')}, "
            f"window_coordinates: {keys.get('window_coordinates', 'false')}, "
            "window_channels: "
            f"{keys.get('window_channels') or '[window, along, across, end]'}, "
            f"shower_intensity: {keys.get('shower_intensity', 'learned')}, "
            f"render: {keys.get('render', 'grid')}, "
            f"envelope_at: {keys.get('envelope_at', 'canvas')}, "
            f"shower_angle: {keys.get('shower_angle', 'free')}}}"
        ),
        "conditioning: projection, spectral_norm: false": (
            "conditioning: projection, spectral_norm: false, image_moments: "
            f"{keys.get('image_moments', 'true')}"
        ),
    }
    return smoke_config(tmp_path, toy_pair, **changes)


def test_fitted_camera_model_matches_the_toy_camera(tmp_path, toy_pair):
    import tensorflow as tf

    from ctgans.data import prepare_dataset
    from ctgans.models.camera import image_moments, source_position
    from ctgans.train.camera_model import fit_camera_model

    cfg = load_config(_camera_config(tmp_path, toy_pair))
    dataset = prepare_dataset(cfg.data, cfg.seed)
    model = fit_camera_model(cfg, dataset, 0)
    # Mapping round trip camera -> grid -> camera is the identity at 43 x 43.
    eye = model.to_square @ model.to_camera
    assert np.abs(eye - np.eye(len(eye))).max() < 1e-2
    # The toy's pedestal: 1 p.e. NSB (Poisson, mean subtracted) + electronics.
    q = model.pedestal_quantiles
    sigma = np.interp([0.16, 0.84], np.linspace(0, 1, len(q)), q) @ [-0.5, 0.5]
    assert 0.8 < sigma < 1.4 and abs(np.median(q)) < 0.4
    # The affine map puts the source on the major axis of simulated gamma images.
    charges = dataset.normalization.inverse(dataset.images)[..., 0]
    bright = charges.sum(axis=(1, 2)) > 200
    source = source_position(dataset.labels[bright], model.label_index, model.affine)
    miss = image_moments(tf.constant(charges[bright]), source, 6.0).numpy()[:, 6] * 43
    flipped = source_position(
        dataset.labels[bright] * [1, -1, 1], model.label_index, model.affine
    )
    miss_flipped = (
        image_moments(tf.constant(charges[bright]), flipped, 6.0).numpy()[:, 6] * 43
    )
    assert np.median(miss) < 1.0  # grid pixels (0.09 deg)
    assert np.median(miss_flipped) > 2 * np.median(miss)


def test_mapper_view_matrix_maps_bilinear_images_as_the_nearest_mapper(
    tmp_path, toy_pair
):
    """The view matrix takes a camera image's bilinear grid to the grid that
    dl1-data-handler's NearestNeighborMapper makes of the same camera image."""
    from ctapipe.instrument import SubarrayDescription

    from ctgans.data import prepare_dataset
    from ctgans.generate.inverse_mapping import build_mapper
    from ctgans.train.camera_model import mapper_view_matrix, square_matrix

    path = _camera_config(tmp_path, toy_pair)
    text = path.read_text().replace(
        "image_moments: true",
        "image_moments: true, mapper_views: [NearestNeighborMapper]",
    )
    path.write_text(text)
    cfg = load_config(path)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    matrix = mapper_view_matrix(cfg, dataset)
    geometry = (
        SubarrayDescription.from_hdf(cfg.data.signal[0])
        .tel[dataset.tel_ids[0]]
        .camera.geometry
    )
    bilinear = build_mapper(geometry, "BilinearMapper", 43)
    nearest = build_mapper(geometry, "NearestNeighborMapper", 43)
    charges = np.random.default_rng(1).gamma(0.3, 30.0, (5, geometry.n_pixels))
    seen = (charges @ square_matrix(bilinear, geometry.n_pixels)) @ matrix
    expected = charges @ square_matrix(nearest, geometry.n_pixels)
    assert matrix.shape == (43 * 43, 43 * 43)
    assert np.abs(seen - expected).max() < 1e-2 * charges.max()
    # The view is not the bilinear grid itself: peaks are kept, not spread.
    assert np.abs(expected - charges @ square_matrix(bilinear, 1039)).max() > 1.0


@pytest.mark.parametrize(
    "canvas_scale, envelope, centre, render",
    [
        (1, "false", "learned", "grid"),
        (2, "true", "learned", "grid"),
        (1, "true", "fitted", "grid"),
        (2, "true", "learned", "pixels"),
        (2, "true", "learned", "pixels+window"),
        (2, "true", "fitted", "pixels+window+contained"),
        (2, "true", "fitted", "pixels+window+contained+coordinates+along"),
    ],
)
def test_camera_generator_trains_saves_and_loads(
    tmp_path, toy_pair, canvas_scale, envelope, centre, render
):
    import json

    import keras

    from ctgans.train.run import run

    cfg = load_config(
        _camera_config(
            tmp_path,
            toy_pair,
            canvas_scale=str(canvas_scale),
            shower_envelope=envelope,
            envelope_rate="20" if envelope == "true" else "1",
            envelope_centre=centre,
            envelope_length=centre,
            shower_intensity=centre,
            render=render.split("+")[0],
            envelope_at="pixels" if "window" in render else "canvas",
            shower_angle="contained" if "contained" in render else "free",
            envelope_length_factor="1.5" if "contained" in render else "2.0",
            window_coordinates="true" if "coordinates" in render else "false",
            window_channels="[along, end]" if "along" in render else None,
        )
    )
    folder = run(cfg)
    assert (folder / "camera_model.json").exists()
    generator = keras.saving.load_model(folder / "generator.keras")
    assert generator.camera is not None and generator.source_frame is not None
    assert generator.canvas_scale == canvas_scale
    assert generator.window_coordinates == ("coordinates" in render)
    if "along" in render:
        assert generator.window_channels == ("along", "end")
    assert generator.shower_envelope == (envelope == "true")
    assert generator.envelope_rate == (20.0 if envelope == "true" else 1.0)
    recorded = json.loads((folder / "camera_model.json").read_text())
    on_pixels = render.startswith("pixels")
    assert generator.envelope_at == ("pixels" if "window" in render else "canvas")
    assert bool(generator.camera_response.render_points) == on_pixels
    assert ("iso_scale" in generator.source_frame) == on_pixels
    assert (recorded["render_iso_scale"] is not None) == on_pixels
    if on_pixels:  # the sample points came back with the weights
        points = np.asarray(generator.camera_response.pixel_points)
        assert points.shape == (1039, 7, 2) and np.ptp(points[..., 1]) > 30
    containment = generator.shower_containment
    assert containment == recorded["shower_containment"]
    assert (containment is not None) == ("contained" in render)
    assert (generator.angle_shift is None) == ("contained" in render)
    if containment is not None:
        assert 10.0 < containment["radius"] < 21.5
    if centre == "fitted":
        # Fitted from the toy's gammas, saved with the weights and the camera model.
        fit = generator.envelope_distance
        assert fit == recorded["envelope_distance"]
        assert 3.0 < fit["median_px"] < 15.0
        length = generator.envelope_length
        assert length == recorded["envelope_length"]
        assert 0.5 < length["median_px"] < 3.0
        assert length["factor"] == (1.5 if "contained" in render else 2.0)
        light = generator.shower_intensity
        assert light == recorded["shower_intensity"]
        assert 50.0 < light["median_pe"] < 2000.0 and 0.5 < light["factor"] < 2.0
    else:
        assert generator.envelope_distance is None
        assert recorded["envelope_distance"] is None
        assert generator.envelope_length is None
        assert generator.shower_intensity is None
    z = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    labels = np.zeros((64, 3), np.float32)
    images = np.asarray(generator((z, labels), training=False))
    assert images.shape == (64, 43, 43, 1) and np.isfinite(images).all()
    # The camera noise is there: pixels inside the camera are never all equal.
    assert images.std(axis=0).max() > 0.01
    # Generation's traced function: the eager images, noise included; one trace.
    from ctgans.generate.trained_run import inference_function

    sample = inference_function(generator)
    generator.camera_response.reseed(3)
    eager = np.asarray(generator((z, labels), training=False))
    generator.camera_response.reseed(3)
    traced = np.asarray(sample(z, labels))
    np.testing.assert_allclose(traced, eager, atol=1e-5)
    assert np.asarray(sample(z[:5], labels[:5])).shape == (5, 43, 43, 1)
    assert sample.experimental_get_tracing_count() == 1
    # What generation writes: the camera charges the images are mapped from, the
    # same as the images taken back through the transform and the mapper's inverse.
    charges = inference_function(generator, pixels=True)
    camera = generator.camera_response
    camera.reseed(4)
    direct = np.asarray(charges(z, labels), np.float64)
    camera.reseed(4)
    y = np.asarray(sample(z, labels), np.float64)
    square = (
        np.sign(y) * np.expm1(np.abs(y) * camera.charge_divisor) * camera.charge_scale
    )
    back = square.reshape(len(z), -1) @ np.asarray(camera.to_camera, np.float64)
    assert direct.shape == (64, 1039)
    np.testing.assert_allclose(direct, back, rtol=1e-3, atol=0.05)
    if "contained" in render:  # and the command writes them: a DL1 file of 20 events
        import tables

        from ctgans.generate import GenerateRequest, generate

        output = tmp_path / "generated.dl1.h5"
        generate(GenerateRequest(folder, output, n_events=20, seed=3, batch_size=8))
        with tables.open_file(str(output)) as h5:
            images = np.concatenate(
                [
                    t.col("image")
                    for t in h5.walk_nodes("/dl1/event/telescope/images", "Table")
                ]
            )
        assert images.shape == (20, 1039) and np.isfinite(images).all()
        assert images.std(axis=1).min() > 0.3  # pedestal noise in every image
    if centre == "fitted":
        # The light follows z[:, 3] as the fit spreads it: exp(2 s) from -1 to +1.
        charge = generator.camera_response
        dim, bright = z.copy(), z.copy()
        dim[:, 3], bright[:, 3] = -1.0, 1.0
        sums = []
        for noise in (dim, bright):
            y = np.asarray(sample(noise, labels), np.float64)
            pe = np.sign(y) * np.expm1(np.abs(y) * charge.charge_divisor)
            sums.append((pe * charge.charge_scale).sum())
        spread = generator.shower_intensity["residual_sd"]
        assert sums[1] / sums[0] == pytest.approx(np.exp(2 * spread), rel=0.1)


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"source_frame": "true", "camera_noise": "false"}, "needs model.generator"),
        (
            {"canvas_scale": "2", "source_frame": "false"},
            "canvas_scale: 2 needs model.generator.source_frame",
        ),
        ({"canvas_scale": "3"}, "`model.generator.canvas_scale` must be an integer"),
        (
            {"shower_envelope": "true", "source_frame": "false"},
            "shower_envelope: needs model.generator.source_frame",
        ),
        (
            {"envelope_rate": "20"},
            "envelope_rate: needs model.generator.shower_envelope",
        ),
        (
            {"envelope_centre": "fitted"},
            "envelope_centre: fitted needs model.generator.shower_envelope",
        ),
        ({"shower_envelope": "true", "envelope_centre": "held"}, "envelope_centre"),
        (
            {"envelope_length": "fitted"},
            "envelope_length: fitted needs model.generator.shower_envelope",
        ),
        ({"shower_envelope": "true", "envelope_rate": "0.5"}, "envelope_rate"),
        (
            {"shower_envelope": "true", "envelope_length_factor": "1.5"},
            "envelope_length_factor: needs model.generator.envelope_length: fitted",
        ),
        (
            {
                "shower_envelope": "true",
                "envelope_length": "fitted",
                "envelope_length_factor": "0.1",
            },
            "envelope_length_factor",
        ),
        (
            {"window_coordinates": "true"},
            "window_coordinates: true needs model.generator.shower_envelope",
        ),
        (
            {"shower_envelope": "true", "window_channels": "[along]"},
            "window_channels: needs model.generator.window_coordinates: true",
        ),
        (
            {
                "shower_envelope": "true",
                "window_coordinates": "true",
                "window_channels": "[edge]",
            },
            "window_channels",
        ),
        (
            {"shower_envelope": "true", "envelope_length_spread": "true"},
            "envelope_length_spread: true needs model.generator.envelope_length: "
            "fitted",
        ),
        (
            {
                "shower_intensity": "fitted",
                "camera_noise": "false",
                "source_frame": "false",
            },
            "shower_intensity: fitted needs model.generator.camera_noise",
        ),
        ({"shower_intensity": "held"}, "shower_intensity"),
        (
            {"render": "pixels", "source_frame": "false"},
            "render: pixels needs model.generator.source_frame",
        ),
        ({"render": "hexagons"}, "render"),
        (
            {"envelope_at": "pixels", "shower_envelope": "true"},
            "envelope_at: pixels needs model.generator.render: pixels",
        ),
        (
            {"shower_angle": "contained", "shower_envelope": "true"},
            "shower_angle: contained needs model.generator.render: pixels",
        ),
        (
            {
                "shower_angle": "contained",
                "shower_envelope": "true",
                "render": "pixels",
            },
            "shower_angle: contained needs .* envelope_centre: fitted",
        ),
        ({"shower_angle": "inward"}, "shower_angle"),
    ],
)
def test_camera_settings_refused_without_what_they_need(
    tmp_path, toy_pair, keys, message
):
    with pytest.raises(ConfigError, match=message):
        load_config(_camera_config(tmp_path, toy_pair, **keys))


def test_camera_noise_refused_for_two_channels(tmp_path, toy_pair):
    path = _camera_config(tmp_path, toy_pair)
    text = path.read_text().replace("channels: [image]", "channels: [image, peak_time]")
    path.write_text(text)
    with pytest.raises(ConfigError, match="camera_noise: needs data.mode mono"):
        load_config(path)


def test_reseeding_changes_the_camera_noise_and_repeats_it():
    layer = _response(np.linspace(-1, 1, 33))
    signal = np.zeros((4, 4, 4, 1), np.float32)
    layer.reseed(7)
    first = np.asarray(layer(signal))
    layer.reseed(7)
    again = np.asarray(layer(signal))
    layer.reseed(8)
    other = np.asarray(layer(signal))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
