"""Stereo telescope presence: empty slots carry no labels and get no label loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ctgans.data.presence import (
    presence_threshold,
    present_slots,
    present_telescopes,
    stereo_presence,
    telescope_presence,
)
from ctgans.models import ConditionalWGAN, Critic, Generator, build_predictor

COLUMNS = ("log_true_energy", "cam_coord_offset_x", "cam_coord_offset_y")
SHAPE = (2, 9, 9, 2)  # two telescopes, charge + peak time
EMPTY_PEAK_TIME = -0.8  # a standardised all-zero peak time is a constant, not 0


def _events(n=6, seed=0):
    """Stereo events: slot 1 empty in the odd events, slot 0 always present."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 0.1, (n, *SHAPE)).astype("float32")
    images[1::2, 1] = 0.0
    images[1::2, 1, ..., 1] = EMPTY_PEAK_TIME
    labels = rng.normal(size=(n, len(COLUMNS))).astype("float32")
    return images, labels


def _gan(presence_channel=0, threshold=0.01):
    generator = Generator(SHAPE, len(COLUMNS), latent_dim=4, base_filters=16)
    critic = Critic(SHAPE, len(COLUMNS), filters=(8,))
    keras.utils.set_random_seed(3)
    predictor = build_predictor(
        SHAPE[1:], ["energy", "cameradirection"], architecture=((16, 1),)
    )
    return ConditionalWGAN(
        generator,
        critic,
        predictor,
        latent_dim=4,
        label_columns=COLUMNS,
        presence_channel=presence_channel,
        presence_threshold=threshold,
    )


def _mean_squared_errors(gan, images, labels):
    """Per-image MSE of each task, computed outside the GAN."""
    predictions = gan.predictor(images, training=False)
    return {
        "energy": np.mean(
            (np.asarray(predictions["energy"]) - labels[:, :1]) ** 2, axis=1
        ),
        "cameradirection": np.mean(
            (np.asarray(predictions["cameradirection"]) - labels[:, 1:]) ** 2, axis=1
        ),
    }


def test_threshold_is_half_the_faintest_present_telescope():
    images, _ = _events()
    faintest = np.abs(images[..., 0]).mean(axis=(-2, -1))[images[..., 0].any((2, 3))]
    threshold = presence_threshold(images, 0)
    assert threshold == pytest.approx(0.5 * faintest.min())
    present = np.asarray(telescope_presence(images, 0, threshold))
    expected = np.ones((6, 2))
    expected[1::2, 1] = 0
    np.testing.assert_array_equal(present, expected)


def test_threshold_needs_stereo_events_with_an_image():
    images, _ = _events()
    with pytest.raises(ValueError, match=r"expected \(n, T, H, W, C\)"):
        presence_threshold(images[:, 0], 0)
    with pytest.raises(ValueError, match="every telescope slot is empty"):
        presence_threshold(np.zeros_like(images), 0)


def test_presence_uses_the_first_charge_channel_of_stereo_events_only():
    images, _ = _events()
    swapped = images[..., ::-1]
    channel, threshold = stereo_presence(swapped, ("peak_time", "image"))
    assert channel == 1
    assert threshold == pytest.approx(presence_threshold(images, 0))
    assert stereo_presence(images[:, 0], ("image", "peak_time")) == (None, 0.0)
    assert stereo_presence(images, ("peak_time", "relative_peak_time")) == (None, 0.0)


def test_present_telescopes_keep_present_images_with_their_event_labels():
    images, labels = _events()
    flat, flat_labels = present_telescopes(images, labels, 0, 0.01)
    assert len(flat) == 6 + 3  # slot 0 of all six events, slot 1 of three
    np.testing.assert_array_equal(flat[:2], images[0])
    np.testing.assert_array_equal(flat_labels[:2], labels[[0, 0]])
    np.testing.assert_array_equal(flat[2], images[1, 0])
    np.testing.assert_array_equal(flat_labels[2], labels[1])
    every, _ = present_telescopes(images, labels, None, 0.0)
    assert len(every) == 12
    mono, mono_labels = present_telescopes(images[:, 0], labels, 0, 0.01)
    assert mono is not None and len(mono) == 6 and mono_labels is labels


def test_label_loss_scores_the_present_telescopes_only():
    images, labels = _events()
    masked = _gan(presence_channel=0)
    every = _gan(presence_channel=None)
    every.predictor.set_weights(masked.predictor.get_weights())
    flat = images.reshape(-1, *SHAPE[1:])
    errors = _mean_squared_errors(masked, flat, np.repeat(labels, 2, axis=0))
    present = np.ones(12, bool)
    present[3::4] = False  # slot 1 of the odd events
    got = masked._label_losses(tf.constant(images), tf.constant(labels))
    got_every = every._label_losses(tf.constant(images), tf.constant(labels))
    for task, error in errors.items():
        assert float(got[task]) == pytest.approx(error[present].mean(), rel=1e-5)
        assert float(got_every[task]) == pytest.approx(error.mean(), rel=1e-5)
        assert float(got[task]) != pytest.approx(float(got_every[task]), rel=1e-3)


def test_empty_slots_get_no_label_gradient():
    images, labels = _events()
    gan = _gan(presence_channel=0)
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        losses = gan._label_losses(x, tf.constant(labels))
        total = losses["energy"] + losses["cameradirection"]
    grad = tape.gradient(total, x).numpy()
    assert np.abs(grad[1::2, 1]).max() == 0.0  # empty slots: untouched
    assert np.abs(grad[1::2, 0]).max() > 0.0  # their present partners: pushed
    assert np.abs(grad[0::2, 1]).max() > 0.0


def test_presence_is_refused_for_mono_and_kept_in_the_config():
    generator = Generator(SHAPE[1:], len(COLUMNS), latent_dim=4, base_filters=16)
    critic = Critic(SHAPE[1:], len(COLUMNS), filters=(8,))
    with pytest.raises(ValueError, match="presence_channel applies to stereo"):
        ConditionalWGAN(
            generator, critic, latent_dim=4, label_columns=COLUMNS, presence_channel=0
        )
    config = _gan(presence_channel=0, threshold=0.02).get_config()
    assert (config["presence_channel"], config["presence_threshold"]) == (0, 0.02)


def test_present_slots_keep_the_brightest_telescope_of_an_empty_event():
    images, _ = _events()
    np.testing.assert_array_equal(
        present_slots(images, 0, 0.01), np.asarray(telescope_presence(images, 0, 0.01))
    )
    images[0, 1, ..., 0] *= 3  # event 0: slot 1 brighter
    none = present_slots(images, 0, 1e9)
    np.testing.assert_array_equal(none[:2], [[False, True], [True, False]])
    assert (none.sum(axis=1) == 1).all()
    assert present_slots(images, None, 0.0).all()
