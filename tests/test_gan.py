"""The WGAN-GP train_step: gradient penalty, updates, label loss, distribution."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ctgans.models import ConditionalWGAN, Critic, Generator, build_predictor
from ctgans.models.gan import gradient_penalty

COLUMNS = (
    "true_shower_primary_class",
    "log_true_energy",
    "cam_coord_offset_x",
    "cam_coord_offset_y",
)
SHAPE = (11, 11, 2)
PROJECT = Path(__file__).resolve().parents[1]
LATENT = 4


def _batch(n=8, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n, *shape)).astype("float32")
    labels = rng.normal(size=(n, len(COLUMNS))).astype("float32")
    labels[:, 0] = np.arange(n) % 2
    return images, labels


def _make_gan(shape=SHAPE, weights=None, predictor=True, ema_decay=0.0, **compile_args):
    generator = Generator(
        shape,
        len(COLUMNS),
        latent_dim=LATENT,
        base_filters=16,
        channel_activations=("tanh", "linear"),
    )
    critic = Critic(shape, len(COLUMNS), filters=(8, 16))
    tasks = ["type", "energy", "cameradirection"]
    model = None
    if predictor:
        model = build_predictor(shape[-3:], tasks, architecture=((16, 1),))
    gan = ConditionalWGAN(
        generator,
        critic,
        model,
        latent_dim=LATENT,
        label_columns=COLUMNS,
        seed=5,
        ema_decay=ema_decay,
    )
    if weights is not None:
        gan.set_weights(weights)
    args = {"label_weights": {"energy": 1.0}, "critic_steps": 2, **compile_args}
    gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05), **args)
    return gan


def _values(variables):
    return [ops.convert_to_numpy(v) for v in variables]


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


# ---- gradient penalty -------------------------------------------------------------


def test_gradient_penalty_of_a_linear_critic_is_exact():
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(size=(1, 5, 5, 2)) * 0.3, tf.float32)

    def linear_critic(inputs, training=None):  # grad = w everywhere
        return ops.sum(inputs[0] * w, axis=(1, 2, 3))[:, None]

    real, fake = (rng.normal(size=(4, 5, 5, 2)).astype("float32") for _ in range(2))
    epsilon = rng.uniform(size=4).astype("float32")
    labels = np.zeros((4, 1), "float32")
    gp = gradient_penalty(linear_critic, real, fake, labels, epsilon)
    expected = (np.linalg.norm(np.asarray(w)) - 1.0) ** 2
    assert float(gp) == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_uses_one_interpolation_weight_per_sample():
    def quadratic_critic(inputs, training=None):  # f = |x|^2 / 2, grad = x
        return 0.5 * ops.sum(ops.square(inputs[0]), axis=(1, 2, 3))[:, None]

    rng = np.random.default_rng(1)
    fake = rng.normal(size=(3, 4, 4, 1)).astype("float32")
    real = np.zeros_like(fake)
    epsilon = np.array([0.25, 0.5, 1.0], "float32")
    gp = gradient_penalty(
        quadratic_critic, real, fake, np.zeros((3, 1), "float32"), epsilon
    )
    norms = epsilon * np.linalg.norm(fake.reshape(3, -1), axis=1)
    assert float(gp) == pytest.approx(np.mean((norms - 1.0) ** 2), rel=1e-5)


def test_gradient_penalty_has_a_finite_gradient_where_the_input_gradient_vanishes():
    scale = tf.Variable(0.0)

    def flat_critic(inputs, training=None):
        return scale * ops.sum(inputs[0], axis=(1, 2, 3))[:, None]

    real, fake = _batch(2)[0], _batch(2, seed=1)[0]
    with tf.GradientTape() as tape:
        gp = gradient_penalty(flat_critic, real, fake, None, np.full(2, 0.5, "float32"))
    assert float(gp) == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(float(tape.gradient(gp, scale)))


# ---- one training step -------------------------------------------------------------


def test_train_step_updates_both_players_and_reports_finite_metrics():
    gan = _make_gan()
    generator = _values(gan.generator.trainable_weights)
    critic = _values(gan.critic.trainable_weights)
    predictor = _values(gan.predictor.weights)
    logs = gan.train_step(_batch())
    assert set(logs) == {
        "critic_loss",
        "wasserstein",
        "gradient_penalty",
        "generator_adversarial",
        "label_type",
        "label_energy",
        "label_cameradirection",
    }
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert _changed(generator, _values(gan.generator.trainable_weights))
    assert _changed(critic, _values(gan.critic.trainable_weights))
    assert not _changed(predictor, _values(gan.predictor.weights))
    assert int(gan.critic_optimizer.iterations) == 2
    assert int(gan.generator_optimizer.iterations) == 1


def test_label_weight_changes_the_generator_update_only():
    reference = _make_gan(label_weights={})
    initial = reference.get_weights()
    trained = _make_gan(weights=initial, label_weights={"energy": 5.0, "type": 1.0})
    for gan in (reference, trained):
        gan.train_step(_batch())
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in _values(reference.critic.weights)]),
        np.concatenate([w.ravel() for w in _values(trained.critic.weights)]),
    )
    assert _changed(
        _values(reference.generator.trainable_weights),
        _values(trained.generator.trainable_weights),
    )


def test_label_scale_zero_switches_the_label_loss_off():
    reference = _make_gan(label_weights={})
    initial = reference.get_weights()
    scaled_off = _make_gan(weights=initial, label_weights={"energy": 5.0})
    scaled_off.label_scale.assign(0.0)
    scaled_on = _make_gan(weights=initial, label_weights={"energy": 5.0})
    for gan in (reference, scaled_off, scaled_on):
        gan.train_step(_batch())
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in _values(reference.generator.weights)]),
        np.concatenate([w.ravel() for w in _values(scaled_off.generator.weights)]),
    )
    assert _changed(
        _values(reference.generator.trainable_weights),
        _values(scaled_on.generator.trainable_weights),
    )


def test_label_warmup_ramps_the_scale_linearly_and_resumes_on_the_ramp():
    from ctgans.train.callbacks import LabelWarmup

    gan = _make_gan()
    warmup = LabelWarmup(gan, epochs=2)
    warmup.set_params({"steps": 4})
    seen = []
    for epoch in range(3):  # a resumed run calls on_epoch_begin with its epoch
        warmup.on_epoch_begin(epoch)
        for batch in (0, 2):
            warmup.on_train_batch_begin(batch)
            seen.append(float(ops.convert_to_numpy(gan.label_scale)))
    np.testing.assert_allclose(seen, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert LabelWarmup(gan, epochs=0).factor(0, 0, 4) == 1.0


def test_test_step_changes_no_weight():
    gan = _make_gan()
    before = _values(gan.weights)
    logs = gan.test_step(_batch(n=5))  # validation batches need not divide evenly
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert not _changed(before, _values(gan.weights))


def test_sampled_labels_and_an_unconditional_run_train():
    logs = _make_gan(label_source="sampled").train_step(_batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    logs = _make_gan(predictor=False, label_weights={}).train_step(_batch())
    assert set(logs) == {
        "critic_loss",
        "wasserstein",
        "gradient_penalty",
        "generator_adversarial",
    }


def test_stereo_events_train_with_a_mono_predictor():
    gan = _make_gan(shape=(2, *SHAPE))
    logs = gan.train_step(_batch(shape=(2, *SHAPE)))
    assert all(np.isfinite(float(v)) for v in logs.values())


@pytest.mark.parametrize(
    "compile_args, match",
    [
        ({"critic_steps": 0}, "critic_steps"),
        ({"label_source": "prior"}, "label_source"),
        ({"label_weights": {"skydirection": 1.0}}, "skydirection"),
        ({"gradient_penalty_weight": -1.0}, "gradient_penalty_weight"),
    ],
)
def test_compile_rejects_bad_settings(compile_args, match):
    with pytest.raises(ValueError, match=match):
        _make_gan(**compile_args)


def test_predictor_tasks_need_label_columns():
    generator = Generator(SHAPE, 1, latent_dim=LATENT, base_filters=16)
    critic = Critic(SHAPE, 1, filters=(8,))
    predictor = build_predictor(SHAPE, ["cameradirection"], architecture=((16, 1),))
    with pytest.raises(ValueError, match="no label columns"):
        ConditionalWGAN(
            generator,
            critic,
            predictor,
            latent_dim=LATENT,
            label_columns=("log_true_energy",),
        )


def test_fit_and_keras_file_round_trip(tmp_path):
    gan = _make_gan()
    images, labels = _batch(16)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    history = gan.fit(
        dataset, epochs=1, verbose=0, shuffle=False, validation_data=dataset
    )
    assert np.isfinite(history.history["val_wasserstein"][0])
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    z = np.random.default_rng(0).normal(size=(2, LATENT)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(loaded((z, labels[:2]))), np.asarray(gan((z, labels[:2])))
    )


# ---- distribution ------------------------------------------------------------------

TWO_REPLICAS = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from ctgans.data.pipeline import make_tf_dataset
    import tests.test_gan as t

    def trainable(gan):
        return [v.numpy() for v in
                gan.generator.trainable_weights + gan.critic.trainable_weights]

    images, labels = t._batch(8)
    initial, start, after = None, None, []
    for devices in (["/cpu:0"], ["/cpu:0", "/cpu:1"]):
        with tf.distribute.MirroredStrategy(devices).scope():
            gan = t._make_gan(weights=initial,
                              label_weights={"energy": 1.0, "cameradirection": 0.5})
            initial, start = initial or gan.get_weights(), start or trainable(gan)
            dataset = make_tf_dataset(images, labels, batch_size=8, seed=0,
                                      shuffle=False)
            gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
            after.append(trainable(gan))
    one, two = after
    print("MOVED", max(np.abs(a - b).max() for a, b in zip(start, one)))
    print("DIFF", max(np.abs(a - b).max() for a, b in zip(one, two)))
    """
)


def test_two_replicas_make_the_same_update_as_one():
    result = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = dict(
        line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("MOVED", "DIFF"))
    )
    assert float(values["MOVED"]) > 1e-3
    assert float(values["DIFF"]) < 1e-5


# ---- excess label loss --------------------------------------------------------------


def test_excess_label_loss_is_the_excess_over_the_real_partner():
    gan = _make_gan(label_loss="excess")
    images, labels = _batch()
    fake = images[::-1].copy()
    absolute = gan._label_losses(fake, labels)
    # Against itself there is no excess; against its real partners at most the
    # absolute loss, and exactly relu(loss(fake) - loss(real)) per image.
    itself = gan._label_losses(fake, labels, reference=fake)
    assert float(itself["energy"]) == 0.0
    excess = gan._label_losses(fake, labels, reference=images)
    per_fake = gan.predictor(fake)["energy"][:, 0] - labels[:, 1]
    per_real = gan.predictor(images)["energy"][:, 0] - labels[:, 1]
    expected = np.maximum(
        np.asarray(per_fake) ** 2 - np.asarray(per_real) ** 2, 0.0
    ).mean()
    assert float(excess["energy"]) == pytest.approx(expected, rel=1e-4)
    assert float(excess["energy"]) < float(absolute["energy"])


@pytest.mark.parametrize("label_loss", ["excess", "matched", "partner"])
def test_paired_label_losses_train_and_need_real_labels(label_loss):
    gan = _make_gan(label_loss=label_loss)
    before = _values(gan.generator.trainable_weights)
    logs = gan.train_step(_batch())
    assert np.isfinite(float(logs["label_energy"]))
    assert _changed(before, _values(gan.generator.trainable_weights))
    with pytest.raises(ValueError, match=f"'{label_loss}' needs mono images"):
        _make_gan(label_loss=label_loss, label_source="sampled")


def test_matched_label_loss_compares_residual_mean_and_spread_with_the_real_batch():
    gan = _make_gan(label_loss="matched", label_weights={"energy": 1.0, "type": 1.0})
    images, labels = _batch()
    fake = images[::-1].copy()
    # The same images as their own partners: nothing to match.
    assert float(gan._label_losses(fake, labels, reference=fake)["energy"]) < 1e-5
    matched = gan._label_losses(fake, labels, reference=images)
    fake_res = np.asarray(gan.predictor(fake)["energy"])[:, 0] - labels[:, 1]
    real_res = np.asarray(gan.predictor(images)["energy"])[:, 0] - labels[:, 1]
    expected = (fake_res.mean() - real_res.mean()) ** 2 + (
        np.sqrt(fake_res.var() + 1e-6) - np.sqrt(real_res.var() + 1e-6)
    ) ** 2
    assert float(matched["energy"]) == pytest.approx(expected, rel=1e-3)
    # Unlike the absolute loss, fakes read exactly right are penalised too (by the
    # square of the real residuals' spread): they are read better than simulation.
    from ctgans.models.gan_losses import matched_loss

    target = labels[:, 1:2]
    real = target + np.linspace(-0.3, 0.3, len(target), dtype="float32")[:, None]
    exact = float(matched_loss(target, target, real))
    spread = np.sqrt(np.var(real - target) + 1e-6)
    assert exact == pytest.approx((spread - np.sqrt(1e-6)) ** 2, rel=1e-4)
    assert exact > 0.03
    # type is not a regression: it falls back to the per-image excess.
    gan.label_loss = "excess"
    excess = gan._label_losses(fake, labels, reference=images)
    assert float(matched["type"]) == pytest.approx(float(excess["type"]), rel=1e-6)
    assert float(matched["energy"]) != pytest.approx(float(excess["energy"]))


def test_partner_label_loss_targets_the_predictors_reading_of_the_real_partner():
    gan = _make_gan(label_loss="partner", label_weights={"energy": 1.0, "type": 1.0})
    images, labels = _batch()
    fake = images[::-1].copy()
    # A fake read exactly as its partner is costs nothing, whatever the label.
    assert float(gan._label_losses(images, labels, reference=images)["energy"]) == 0.0
    partner = gan._label_losses(fake, labels, reference=images)
    on_fake = np.asarray(gan.predictor(fake)["energy"])[:, 0]
    on_real = np.asarray(gan.predictor(images)["energy"])[:, 0]
    expected = np.mean((on_fake - on_real) ** 2)
    assert float(partner["energy"]) == pytest.approx(expected, rel=1e-4)
    # not the absolute loss against the label, nor its excess
    gan.label_loss = "absolute"
    absolute = gan._label_losses(fake, labels, reference=images)
    assert float(partner["energy"]) != pytest.approx(float(absolute["energy"]))
    # type falls back to the per-image excess
    gan.label_loss = "excess"
    excess = gan._label_losses(fake, labels, reference=images)
    assert float(partner["type"]) == pytest.approx(float(excess["type"]), rel=1e-6)


# ---- generator EMA ------------------------------------------------------------------


def test_generator_ema_averages_every_float_weight_and_is_checkpointed(tmp_path):
    from ctgans.train.callbacks import GeneratorEMA
    from ctgans.train.checkpoint import restore_checkpoint, save_checkpoint

    gan = _make_gan(ema_decay=0.75)
    start = _values(gan.ema_generator.weights)
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in start]),
        np.concatenate([w.ravel() for w in _values(gan.generator.weights)]),
    )
    callback = GeneratorEMA(gan)
    gan.train_step(_batch())
    callback.on_train_batch_end(0)
    now = _values(gan.generator.weights)
    for ema, s, w in zip(_values(gan.ema_generator.weights), start, now):
        np.testing.assert_allclose(ema, 0.75 * s + 0.25 * w, rtol=1e-5, atol=1e-7)
    assert gan.sampler is gan.ema_generator
    averaged = _values(gan.ema_generator.weights)
    folder = save_checkpoint(tmp_path, gan, 1)
    fresh = _make_gan(ema_decay=0.75)
    restore_checkpoint(folder, fresh)
    for a, b in zip(averaged, _values(fresh.ema_generator.weights)):
        np.testing.assert_array_equal(a, b)


def test_generator_of_an_epoch_is_its_checkpoints_sampler(tmp_path):
    from ctgans.exceptions import DataError
    from ctgans.generate.trained_run import _load_epoch
    from ctgans.train.checkpoint import save_checkpoint

    for decay in (0.0, 0.5):
        gan = _make_gan(ema_decay=decay)
        gan.train_step(_batch())
        if decay:
            from ctgans.train.callbacks import GeneratorEMA

            GeneratorEMA(gan).on_train_batch_end(0)
        folder = tmp_path / f"run-{decay}"
        folder.mkdir()
        save_checkpoint(folder, gan, 3)
        fresh = Generator.from_config(gan.generator.get_config())
        fresh.build(((None, LATENT), (None, len(COLUMNS))))
        _load_epoch(fresh, folder, 3)
        expected = _values(gan.sampler.weights)
        assert gan.sampler is (gan.ema_generator if decay else gan.generator)
        for a, b in zip(expected, _values(fresh.weights)):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(DataError, match=r"--epoch 4 .* expected one of \[3\]"):
            _load_epoch(fresh, folder, 4)


# ---- image-moment loss (loss.moment_weight) ---------------------------------------

MOMENTS = {"charge_scale": 1.0, "charge_divisor": 1.0, "threshold_pe": 0.0}


def _gaussian_images(sigmas, shape=SHAPE, angle=0.5):
    """Network-unit images (charge transform log1p) of Gaussians of (length,
    width) ``sigmas`` in grid pixels, centred, the axis at ``angle``."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype("float64")
    d_row, d_col = rows - shape[0] // 2, cols - shape[1] // 2
    along = np.cos(angle) * d_col + np.sin(angle) * d_row
    across = -np.sin(angle) * d_col + np.cos(angle) * d_row
    images = np.zeros((len(sigmas), *shape), "float32")
    for i, (length, width) in enumerate(sigmas):
        charge = 200.0 * np.exp(-0.5 * ((along / length) ** 2 + (across / width) ** 2))
        images[i, ..., 0] = np.log1p(charge)
    return images


def test_moment_features_are_the_log_size_length_and_width():
    from ctgans.models.gan_losses import moment_features

    images = _gaussian_images([(2.0, 0.8), (1.5, 1.0)])
    features = np.asarray(moment_features(images, MOMENTS))
    charge = np.expm1(images[..., 0]).sum(axis=(1, 2))
    np.testing.assert_allclose(features[:, 0], np.log10(1 + charge), rtol=1e-5)
    # Lengths in image sides (11 pixels); the small guards shift them slightly.
    np.testing.assert_allclose(
        10 ** features[:, 1] - 1e-3, np.array([2.0, 1.5]) / 11, rtol=0.03
    )
    np.testing.assert_allclose(
        10 ** features[:, 2] - 1e-3, np.array([0.8, 1.0]) / 11, rtol=0.05
    )


def test_moment_residuals_are_the_paired_mean_and_energy_trend():
    from ctgans.models.gan_losses import moment_loss, moment_residuals

    rng = np.random.default_rng(3)
    real = rng.normal(size=(16, 3)).astype("float32")
    energy = rng.normal(size=16).astype("float32")
    np.testing.assert_allclose(moment_residuals(real, real, energy), 0.0, atol=1e-6)
    # An offset in one column: its mean, no trend.
    shifted = real + np.array([0.0, 0.2, 0.0], "float32")
    np.testing.assert_allclose(
        moment_residuals(shifted, real, energy), [[0, 0.2, 0], [0, 0, 0]], atol=1e-5
    )
    # A residual growing with energy: its slope (per unit of the label).
    trend = real.copy()
    trend[:, 2] += 0.3 * energy
    residuals = np.asarray(moment_residuals(trend, real, energy))
    assert residuals[1, 2] == pytest.approx(0.3, rel=1e-3)
    assert residuals[0, 2] == pytest.approx(0.3 * energy.mean(), abs=1e-5)
    # The term: the residuals weighed by their running average, whose gradient
    # is not taken.
    smoothed = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], "float32")
    assert float(moment_loss(residuals, smoothed)) == pytest.approx(
        residuals[0, 1] + 2 * residuals[1, 2], rel=1e-5
    )
    fake = tf.Variable(shifted)
    with tf.GradientTape() as tape:
        term = moment_loss(moment_residuals(fake, real, energy), smoothed)
    grad = tape.gradient(term, fake).numpy()
    centred = energy - energy.mean()
    expected = np.stack(
        [0 * energy, np.full(16, 1 / 16), 2 * centred / 16 / np.mean(centred**2)], 1
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-6)


def test_moment_weight_trains_the_generator_and_reports_the_loss():
    gan = _make_gan(moment_weight=1.0, moments=MOMENTS)
    before = _values(gan.generator.trainable_weights)
    logs = gan.train_step(_batch())
    assert float(logs["moment_loss"]) > 0.0
    # The running residuals moved from 0: the first step's, bias-corrected.
    running = np.asarray(gan.moment_running)
    assert np.any(running != 0.0)
    assert _changed(before, _values(gan.generator.trainable_weights))
    assert "moment_loss" not in _make_gan().train_step(_batch())
    # The same start and batch without the term: another generator update.
    start = _make_gan().get_weights()
    with_term = _make_gan(weights=start, moment_weight=1.0, moments=MOMENTS)
    without = _make_gan(weights=start)
    logs_with, logs_without = (
        with_term.train_step(_batch()),
        without.train_step(_batch()),
    )
    # The real partners the term needs do not turn the absolute label loss
    # into a paired one.
    assert float(logs_with["label_energy"]) == pytest.approx(
        float(logs_without["label_energy"]), rel=1e-6
    )
    assert _changed(
        _values(with_term.generator.trainable_weights),
        _values(without.generator.trainable_weights),
    )
    # It moves the generator: the moment term's gradient reaches the weights.
    images, labels = _batch()
    z = np.random.default_rng(1).normal(size=(len(labels), LATENT)).astype("float32")
    with tf.GradientTape() as tape:
        fake = gan.generator((z, labels), training=True)
        loss = ops.sum(gan._moment_residuals(fake, images, labels) * running)
    grads = tape.gradient(loss, gan.generator.trainable_weights)
    assert any(g is not None and float(ops.max(ops.abs(g))) > 0 for g in grads)


def test_running_moment_residuals_are_checkpointed(tmp_path):
    from ctgans.models.gan import MOMENT_DECAY
    from ctgans.train.checkpoint import restore_checkpoint, save_checkpoint

    gan = _make_gan(moment_weight=1.0, moments=MOMENTS)
    gan.train_step(_batch())
    first = np.asarray(gan.moment_running)
    gan.train_step(_batch(seed=1))
    second = np.asarray(gan.moment_running)
    # An exponential average: the second step's residuals enter with 1 - decay.
    assert np.all(np.abs(second - MOMENT_DECAY * first) > 0)
    folder = save_checkpoint(tmp_path, gan, 2)
    fresh = _make_gan(moment_weight=1.0, moments=MOMENTS)
    restore_checkpoint(folder, fresh)
    np.testing.assert_array_equal(np.asarray(fresh.moment_running), second)


@pytest.mark.parametrize(
    "args,fragment",
    [
        ({"moments": None}, "needs moments with"),
        ({"moments": MOMENTS, "label_source": "sampled"}, "needs mono images"),
        ({"moments": MOMENTS, "moment_weight": -1.0}, "must be >= 0"),
    ],
)
def test_moment_weight_refuses_what_it_cannot_use(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        _make_gan(**{"moment_weight": 1.0, **args})
