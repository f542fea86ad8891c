"""The conditional WGAN-GP: one Keras model whose ``train_step`` trains both players.

It runs under ``tf.distribute.MirroredStrategy`` through ``fit``; how two replicas
make the same update as one: :mod:`ctgans.models.replicas`. Losses and their
settings: :mod:`ctgans.models.gan_losses`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ctgans.choices import PAIRED_LABEL_LOSSES
from ctgans.config_types import LABEL_COLUMNS
from ctgans.models.gan_losses import (
    check_loss_settings,
    gradient_penalty,
    matched_loss,
    moment_features,
    moment_loss,
    moment_residuals,
    predictor_losses,
    predictor_tasks,
    telescope_images,
)
from ctgans.models.replicas import multi_worker, replica_rows, replica_scale

__all__ = ["ConditionalWGAN", "gradient_penalty", "matched_loss"]

ENERGY_COLUMN = LABEL_COLUMNS["energy"][0]  # the moment loss' energy trend
#: Decay of the moment residuals' running average (≈ 100 generator steps).
MOMENT_DECAY = 0.99


@keras.saving.register_keras_serializable(package="ctgans")
class ConditionalWGAN(keras.Model):
    """Conditional WGAN-GP with an optional frozen label predictor.

    Create it, its optimizers and call :meth:`compile` inside ``strategy.scope()``.
    ``fit`` must receive batches of ``critic_steps * batch_size`` real
    ``(images, labels)``: each of the ``critic_steps`` critic updates of one
    ``train_step`` takes a fresh real sub-batch, the rows ``k::critic_steps``
    (strided, so that replicas together use the same rows as a single device).

    Parameters
    ----------
    generator : keras.Model
        ``generator((z, labels))`` -> images; has ``image_shape``.
    critic : keras.Model
        ``critic((images, labels))`` -> ``(B, 1)`` scores.
    predictor : keras.Model or None
        Frozen model mapping one telescope image to ``{task: output}`` (see
        :func:`ctgans.models.predictor.build_predictor`); ``None``: no label loss.
    latent_dim : int
        Width of the generator noise.
    label_columns : sequence of str
        Columns of the label matrix, in order.
    seed : int
        Seed of the noise, interpolation weights and label resampling.
    presence_channel : int or None
        Stereo only: the charge channel that tells present telescopes from empty
        slots (:mod:`ctgans.data.presence`). The label loss then scores the
        present telescopes of each generated event only; ``None`` scores every
        telescope slot.
    presence_threshold : float
        Mean ``|charge|`` (network units) above which a telescope is present.
    ema_decay : float
        With ``0 < ema_decay < 1``, ``ema_generator`` keeps an exponential moving
        average of the generator's weights, ``w_ema <- d w_ema + (1 - d) w`` for
        every float weight (batch-normalisation statistics included), updated after
        every step by :class:`ctgans.train.callbacks.GeneratorEMA`; it is what
        :attr:`sampler` returns (samples, evaluation, ``generator.keras``).
    """

    def __init__(
        self,
        generator,
        critic,
        predictor=None,
        latent_dim=128,
        label_columns=(),
        seed=0,
        presence_channel=None,
        presence_threshold=0.0,
        ema_decay=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.ema_decay = float(ema_decay)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(
                f"ConditionalWGAN: ema_decay must be in [0, 1); received {ema_decay!r}"
            )
        self.ema_generator = None
        if self.ema_decay:
            # Same config, same starting weights (set in build).
            self.ema_generator = type(generator).from_config(generator.get_config())
            self.ema_generator.trainable = False
        self.critic = critic
        self.predictor = predictor
        self.latent_dim = int(latent_dim)
        self.label_columns = tuple(label_columns)
        self.seed = int(seed)
        self.image_shape = tuple(generator.image_shape)
        self.presence_channel = (
            None if presence_channel is None else int(presence_channel)
        )
        self.presence_threshold = float(presence_threshold)
        if self.presence_channel is not None and len(self.image_shape) != 4:
            raise ValueError(
                "ConditionalWGAN: presence_channel applies to stereo images "
                f"(T, H, W, C); received image shape {self.image_shape}"
            )
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="gan_seed")
        self.validation_seed_generator = keras.random.SeedGenerator(
            self.seed + 1, name="gan_validation_seed"
        )
        self.label_tasks = {}
        if predictor is not None:
            predictor.trainable = False
            self.label_tasks = predictor_tasks(
                predictor, self.image_shape, self.label_columns
            )
        names = [
            "critic_loss",
            "wasserstein",
            "gradient_penalty",
            "generator_adversarial",
            "moment_loss",  # reported only with a moment_weight (see metrics)
        ] + [f"label_{t}" for t in self.label_tasks]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # Multiplies every label weight; a warm-up callback ramps it from 0 to 1.
        self.label_scale = keras.Variable(
            1.0, trainable=False, name="label_scale", dtype="float32"
        )
        # Running average of the moment residuals (mean, slope) x (size, length,
        # width), bias-corrected by the step count; used with a moment_weight.
        self.moment_running = keras.Variable(
            ops.zeros((2, 3)),
            trainable=False,
            name="moment_running",
            dtype="float32",
            aggregation="mean",
        )
        self.build()

    @property
    def sampler(self):
        """The generator that samples, is evaluated and saved: the EMA one if any."""
        return self.ema_generator or self.generator

    def build(self, input_shape=None):
        n_labels = len(self.label_columns)
        if not self.generator.built:
            self.generator.build(((None, self.latent_dim), (None, n_labels)))
        if not self.critic.built:
            self.critic.build(((None, *self.image_shape), (None, n_labels)))
        if self.ema_generator is not None and not self.ema_generator.built:
            self.ema_generator.build(((None, self.latent_dim), (None, n_labels)))
            self.ema_generator.set_weights(self.generator.get_weights())

    def call(self, inputs, training=None):
        """The generator: ``(z, labels)`` -> images."""
        return self.generator(inputs, training=training)

    def compile(
        self,
        generator_optimizer,
        critic_optimizer,
        label_weights=None,
        gradient_penalty_weight=10.0,
        critic_steps=5,
        label_source="real",
        label_loss="absolute",
        moment_weight=0.0,
        moments=None,
        **kwargs,
    ):
        """Set the two optimizers and the loss weights.

        Parameters
        ----------
        generator_optimizer, critic_optimizer : keras.optimizers.Optimizer
            ``generator_optimizer`` is also ``self.optimizer``, so its
            ``iterations`` count generator updates (training steps).
        label_weights : dict of str to float, optional
            Weight of each predictor task in the generator loss; a task without a
            weight is monitored (``label_<task>``) but not trained.
        gradient_penalty_weight : float
            lambda of WGAN-GP.
        critic_steps : int
            Critic updates per generator update.
        label_source : {"real", "sampled"}
            Conditioning labels of the fakes: those of the real sub-batch, or drawn
            with replacement from all real labels of the replica's batch.
        label_loss : {"absolute", "excess", "matched"}
            The predictor's loss on each generated image, or (mono, ``label_source``
            ``real``) compared with the real image whose labels the fake was given:
            see :func:`ctgans.models.gan_losses.predictor_losses`.
        moment_weight : float
            Weight of :func:`~ctgans.models.gan_losses.moment_loss` in the
            generator loss (0: off): the generated images' size, length and width
            against their real partners' (mono, ``label_source`` ``real``, a
            ``log_true_energy`` label column), through the running average of the
            residuals (``moment_running``, decay ``MOMENT_DECAY``); ramped with the
            label weights by ``label_scale``.
        moments : dict, optional
            Needed with ``moment_weight``: ``charge_scale`` and ``charge_divisor``
            of channel 0's charge transform and the pixel threshold
            ``threshold_pe`` (:func:`~ctgans.models.gan_losses.moment_features`).
        **kwargs
            Passed to ``keras.Model.compile`` (e.g. ``jit_compile``).
        """
        check_loss_settings(
            self.label_tasks,
            label_weights or {},
            critic_steps=critic_steps,
            gradient_penalty_weight=gradient_penalty_weight,
            label_source=label_source,
            label_loss=label_loss,
            image_shape=self.image_shape,
        )
        label_weights = dict(label_weights or {})
        self.label_loss = label_loss
        self.label_source = label_source
        self.moment_weight = float(moment_weight)
        self.moments = None
        if self.moment_weight:
            self._check_moments(moments)
            self.moments = dict(moments)
            self.energy_column = self.label_columns.index(ENERGY_COLUMN)
        super().compile(optimizer=generator_optimizer, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.critic_optimizer = critic_optimizer
        self.label_weights = {
            task: float(label_weights.get(task, 0.0)) for task in self.label_tasks
        }
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.critic_steps = int(critic_steps)
        # Optimizer state now, in the strategy scope, not lazily inside a replica.
        generator_optimizer.build(self.generator.trainable_variables)
        critic_optimizer.build(self.critic.trainable_variables)

    def _check_moments(self, moments):
        if self.moment_weight < 0:
            raise ValueError(
                "ConditionalWGAN: moment_weight must be >= 0; received "
                f"{self.moment_weight!r}"
            )
        if len(self.image_shape) != 3 or self.label_source != "real":
            raise ValueError(
                "ConditionalWGAN: moment_weight needs mono images and label_source "
                f"'real'; received image shape {self.image_shape}, label_source "
                f"{self.label_source!r}"
            )
        if ENERGY_COLUMN not in self.label_columns:
            raise ValueError(
                f"ConditionalWGAN: moment_weight needs a {ENERGY_COLUMN} label "
                f"column; received {self.label_columns}"
            )
        missing = {"charge_scale", "charge_divisor", "threshold_pe"} - set(
            moments or {}
        )
        if missing:
            raise ValueError(
                f"ConditionalWGAN: moment_weight needs moments with {sorted(missing)}; "
                f"received {moments!r}"
            )

    @property
    def metrics(self):
        return [
            tracker
            for name, tracker in self.trackers.items()
            if name != "moment_loss" or getattr(self, "moments", None) is not None
        ]

    def train_step(self, data):
        real_images, real_labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        for step in range(self.critic_steps):
            images = real_images[step :: self.critic_steps]
            labels = real_labels[step :: self.critic_steps]
            fake_labels = self._conditioning_labels(labels, real_labels)
            self._critic_update(images, labels, fake_labels)
        fake_labels = self._conditioning_labels(
            real_labels[:: self.critic_steps], real_labels
        )
        reference = None
        if (
            getattr(self, "label_loss", "absolute") in PAIRED_LABEL_LOSSES
            or self.moments is not None
        ):
            reference = real_images[:: self.critic_steps]
        self._generator_update(fake_labels, reference)
        return self._step_logs()

    def test_step(self, data):
        real_images, real_labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        fake_labels = self._conditioning_labels(
            real_labels, real_labels, self.validation_seed_generator
        )
        batch = ops.shape(real_images)[0]
        z = self._replica_rows(
            keras.random.normal,
            (batch, self.latent_dim),
            self.validation_seed_generator,
        )
        epsilon = self._replica_rows(
            keras.random.uniform, (batch,), self.validation_seed_generator
        )
        fake_images = self.generator((z, fake_labels), training=False)
        real_scores = self.critic((real_images, real_labels), training=False)
        fake_scores = self.critic((fake_images, fake_labels), training=False)
        gp = gradient_penalty(
            self.critic, real_images, fake_images, fake_labels, epsilon, training=False
        )
        wasserstein = ops.mean(real_scores) - ops.mean(fake_scores)
        self._track(
            critic_loss=-wasserstein + self.gradient_penalty_weight * gp,
            wasserstein=wasserstein,
            gradient_penalty=gp,
            generator_adversarial=-ops.mean(fake_scores),
        )
        self._track_labels(self._label_losses(fake_images, fake_labels))
        if self.moments is not None:  # label_source real: the fakes' partners
            residuals = self._moment_residuals(fake_images, real_images, fake_labels)
            self._track(moment_loss=ops.sum(ops.square(residuals)))
        return self._step_logs()

    def _step_logs(self) -> dict:
        logs = {m.name: m.result() for m in self.metrics}
        if multi_worker(tf.distribute.get_strategy()):
            # Keras 3 reduces multi-worker step outputs along axis 0, which fails
            # on scalars (tensorflow/tensorflow#72388): give each a length-1 axis.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _critic_update(self, real_images, real_labels, fake_labels):
        batch = ops.shape(real_images)[0]
        z = self._replica_rows(keras.random.normal, (batch, self.latent_dim))
        epsilon = self._replica_rows(keras.random.uniform, (batch,))
        fake_images = self.generator((z, fake_labels), training=True)
        with tf.GradientTape() as tape:
            real_scores = self.critic((real_images, real_labels), training=True)
            fake_scores = self.critic((fake_images, fake_labels), training=True)
            gp = gradient_penalty(
                self.critic, real_images, fake_images, fake_labels, epsilon
            )
            wasserstein = ops.mean(real_scores) - ops.mean(fake_scores)
            critic_loss = -wasserstein + self.gradient_penalty_weight * gp
            scaled_loss = replica_scale(critic_loss)
        self._apply(tape, scaled_loss, self.critic, self.critic_optimizer)
        self._track(
            critic_loss=critic_loss, wasserstein=wasserstein, gradient_penalty=gp
        )

    def _generator_update(self, labels, reference=None):
        batch = ops.shape(labels)[0]
        z = self._replica_rows(keras.random.normal, (batch, self.latent_dim))
        with tf.GradientTape() as tape:
            fake_images = self.generator((z, labels), training=True)
            fake_scores = self.critic((fake_images, labels), training=False)
            adversarial = -ops.mean(fake_scores)
            paired = getattr(self, "label_loss", "absolute") in PAIRED_LABEL_LOSSES
            label_losses = self._label_losses(
                fake_images, labels, reference if paired else None
            )
            label_loss = ops.zeros((), adversarial.dtype)
            for task, loss in label_losses.items():
                label_loss += self.label_weights[task] * loss
            label_loss *= ops.cast(self.label_scale, label_loss.dtype)
            total = adversarial + label_loss
            if self.moments is not None:
                residuals = self._moment_residuals(fake_images, reference, labels)
                running = MOMENT_DECAY * self.moment_running + (
                    1.0 - MOMENT_DECAY
                ) * ops.stop_gradient(residuals)
                steps = ops.cast(self.generator_optimizer.iterations + 1, "float32")
                smoothed = running / (1.0 - MOMENT_DECAY**steps)
                moments = moment_loss(residuals, smoothed) * ops.cast(
                    self.label_scale, "float32"
                )
                total += self.moment_weight * ops.cast(moments, total.dtype)
            scaled_loss = replica_scale(total)
        self._apply(tape, scaled_loss, self.generator, self.generator_optimizer)
        self._track(generator_adversarial=adversarial)
        if self.moments is not None:
            self.moment_running.assign(running)
            self._track(moment_loss=ops.sum(ops.square(residuals)))
        self._track_labels(label_losses)

    def _moment_residuals(self, fake_images, real_images, labels):
        """:func:`~ctgans.models.gan_losses.moment_residuals` of ``fake_images``
        against ``real_images``, the real images of the same labels.

        Under several replicas each replica compares its own rows; the running
        average is the mean over replicas."""
        return moment_residuals(
            moment_features(fake_images, self.moments),
            moment_features(ops.stop_gradient(real_images), self.moments),
            labels[:, self.energy_column],
        )

    def _label_losses(self, images, labels, reference=None) -> dict:
        """``{task: loss}`` of the frozen predictor on generated images.

        With ``reference`` (mono: the real images whose labels the fakes were
        given) the paired ``label_loss`` compares with them (:func:`.predictor_losses`).

        Stereo: every telescope image carries the event's labels; with a
        ``presence_channel`` the loss is the mean over present telescopes only
        (the presence is not differentiated: it selects, it is not a target).
        Under several replicas each replica averages over its own present
        telescopes, so the global loss is a mean of replica means. A batch without
        a present telescope has label losses 0.
        """
        if not self.label_tasks:
            return {}
        weights = None
        if len(self.image_shape) == 4:  # stereo
            images, labels, weights = telescope_images(
                images, labels, self.presence_channel, self.presence_threshold
            )
        real = None
        if reference is not None:
            real = self.predictor(ops.stop_gradient(reference), training=False)
        return predictor_losses(
            self.label_tasks,
            labels,
            self.predictor(images, training=False),
            real,
            label_loss=getattr(self, "label_loss", "absolute"),
            weights=weights,
        )

    def _conditioning_labels(self, labels, all_labels, seed_generator=None):
        """The labels of the fakes: ``labels``, or rows drawn from ``all_labels``."""
        if self.label_source == "real":
            return labels
        rows = keras.random.randint(
            (ops.shape(labels)[0],),
            0,
            ops.shape(all_labels)[0],
            seed=seed_generator or self.seed_generator,
        )
        return ops.take(all_labels, rows, axis=0)

    def _replica_rows(self, draw, shape, seed_generator=None):
        return replica_rows(draw, shape, seed_generator or self.seed_generator)

    @staticmethod
    def _apply(tape, scaled_loss, model, optimizer):
        grads = tape.gradient(scaled_loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))

    def _track(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)

    def _track_labels(self, label_losses):
        for task, loss in label_losses.items():
            self.trackers[f"label_{task}"].update_state(loss)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Built in __init__ and compile, no compiled losses: nothing to build from a
        # data batch. (Keras' version fails on multi-worker batches: it reduces the
        # (images, labels) tuple with MultiWorkerMirroredStrategy.reduce.)
        return

    def get_compile_config(self):
        # Optimizers and weights are given to compile() again after loading.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            critic=keras.saving.serialize_keras_object(self.critic),
            predictor=(
                None
                if self.predictor is None
                else keras.saving.serialize_keras_object(self.predictor)
            ),
            latent_dim=self.latent_dim,
            label_columns=self.label_columns,
            seed=self.seed,
            presence_channel=self.presence_channel,
            presence_threshold=self.presence_threshold,
            ema_decay=self.ema_decay,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "critic", "predictor"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
