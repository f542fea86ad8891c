"""The conditional WGAN-GP: one Keras model whose ``train_step`` trains both players.

Distribution
------------
The model runs under ``tf.distribute.MirroredStrategy`` through ``fit``. Keras'
TensorFlow optimizer *sums* gradients over replicas (``all_reduce(SUM)`` in
``apply_gradients``), so every loss is the replica's mean divided by the number of
replicas: the sum is then the global-batch mean, and two replicas make the same
update as one. Noise and interpolation weights are drawn for the global batch and
each replica keeps its own rows, and generator batch normalisation is synchronised,
so that equivalence holds sample by sample, not only on average.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ctgans.choices import LABEL_LOSSES, LABEL_SOURCES, PAIRED_LABEL_LOSSES
from ctgans.data.presence import telescope_presence
from ctgans.models.predictor import label_slices

GP_EPSILON = 1e-12  # inside the square root: finite gradient at a zero input gradient
MATCHED_EPSILON = 1e-6  # inside the spread's square root (a batch of equal residuals)


def gradient_penalty(critic, real, fake, labels, epsilon, training=True):
    """WGAN-GP penalty ``mean((||grad_x critic(x, labels)|| - 1)^2)``.

    The gradient is taken at ``x = real + epsilon * (fake - real)``.

    Parameters
    ----------
    critic : callable
        ``critic((images, labels), training=...)`` -> ``(B, 1)`` scores; one score
        must depend on one image only (no batch normalisation).
    real, fake : tensor
        Image batches of the same shape ``(B, ...)``.
    labels : tensor
        ``(B, L)`` conditioning labels given to the critic.
    epsilon : tensor
        ``(B,)`` interpolation weights, drawn from U(0, 1) per sample.
    training : bool
        Passed to the critic.

    Returns
    -------
    tensor
        The scalar penalty (mean over the batch).
    """
    real = ops.convert_to_tensor(real)
    fake = ops.convert_to_tensor(fake)
    rank = len(real.shape)
    epsilon = ops.reshape(ops.cast(epsilon, real.dtype), (-1,) + (1,) * (rank - 1))
    interpolated = real + epsilon * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = critic((interpolated, labels), training=training)
    grads = tape.gradient(scores, interpolated)
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, rank))) + GP_EPSILON)
    return ops.mean(ops.square(norm - 1.0))


def _task_loss(task, target, prediction):
    """Per-image loss of one predictor task (cross-entropy for ``type``)."""
    if task == "type":
        return keras.losses.sparse_categorical_crossentropy(
            ops.cast(target[:, 0], "int32"), prediction
        )
    return keras.losses.mean_squared_error(target, prediction)


def _matched_loss(target, prediction, real_prediction):
    """Squared differences of the residuals' mean and spread, fake against real.

    ``prediction - target`` on the generated images against the same on their real
    partners (constants), per column, summed: the generator is asked to be read as
    well *and as badly* as simulation is, not better, so a label need not fix the
    image (the spread at a given label is left to the critic).
    """
    fake = prediction - target
    real = ops.stop_gradient(real_prediction - target)

    def spread(residual):
        return ops.sqrt(ops.var(residual, axis=0) + MATCHED_EPSILON)

    return ops.sum(
        ops.square(ops.mean(fake, axis=0) - ops.mean(real, axis=0))
        + ops.square(spread(fake) - spread(real))
    )


def _replica_scale(loss):
    # Keras sums replica gradients: replica means / replicas sum to the global mean.
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


def _multi_worker(strategy) -> bool:
    resolver = strategy.cluster_resolver
    if resolver is None:
        return False
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values()) > 1


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
            self.label_tasks = self._predictor_tasks(predictor)
        names = [
            "critic_loss",
            "wasserstein",
            "gradient_penalty",
            "generator_adversarial",
        ] + [f"label_{t}" for t in self.label_tasks]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # Multiplies every label weight; a warm-up callback ramps it from 0 to 1.
        self.label_scale = keras.Variable(
            1.0, trainable=False, name="label_scale", dtype="float32"
        )
        self.build()

    def _predictor_tasks(self, predictor) -> dict[str, slice]:
        outputs = predictor.output
        if not isinstance(outputs, dict):
            raise ValueError(
                "ConditionalWGAN: the predictor must return a dict {task: output} "
                "(use ctgans.models.predictor.build_predictor); received a model "
                f"with output {outputs!r}"
            )
        if tuple(predictor.input_shape[1:]) != self.image_shape[-3:]:
            raise ValueError(
                f"ConditionalWGAN: predictor input shape {predictor.input_shape[1:]} "
                f"differs from the image shape {self.image_shape[-3:]}"
            )
        slices = label_slices(self.label_columns)
        missing = [task for task in outputs if task not in slices]
        if missing:
            raise ValueError(
                f"ConditionalWGAN: predictor tasks {missing} have no label columns; "
                f"received label_columns={self.label_columns!r}"
            )
        return {task: slices[task] for task in outputs}

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
            ``absolute``: the predictor's loss on each generated image.
            ``excess``: ``relu(loss(generated) - loss(real))`` per image, against the
            real image whose labels the fake was given (mono, ``label_source``
            ``real``): the predictor is biased and scatters on simulated images too,
            and the generator is only penalised where it does worse.
            ``matched``: the mean and spread of the predictor's residuals on the
            fakes against those on their real partners (same conditions); ``type``
            falls back to ``excess``.
        **kwargs
            Passed to ``keras.Model.compile`` (e.g. ``jit_compile``).
        """
        label_weights = dict(label_weights or {})
        unknown = [
            t
            for t, w in label_weights.items()
            if t not in self.label_tasks and float(w) != 0.0
        ]
        if unknown:
            raise ValueError(
                f"ConditionalWGAN: label_weights name tasks {unknown} that the "
                f"predictor does not output (predictor tasks: "
                f"{tuple(self.label_tasks)})"
            )
        if int(critic_steps) != critic_steps or critic_steps < 1:
            raise ValueError(
                f"ConditionalWGAN: critic_steps must be a positive integer; "
                f"received {critic_steps!r}"
            )
        if gradient_penalty_weight < 0:
            raise ValueError(
                "ConditionalWGAN: gradient_penalty_weight must be >= 0; "
                f"received {gradient_penalty_weight!r}"
            )
        if label_source not in LABEL_SOURCES:
            raise ValueError(
                f"ConditionalWGAN: label_source must be one of {LABEL_SOURCES}; "
                f"received {label_source!r}"
            )
        if label_loss not in LABEL_LOSSES:
            raise ValueError(
                f"ConditionalWGAN: label_loss must be one of {LABEL_LOSSES}; "
                f"received {label_loss!r}"
            )
        if label_loss in PAIRED_LABEL_LOSSES and (
            label_source != "real" or len(self.image_shape) != 3
        ):
            raise ValueError(
                f"ConditionalWGAN: label_loss {label_loss!r} needs mono images and "
                f"label_source 'real'; received image shape {self.image_shape}, "
                f"label_source {label_source!r}"
            )
        self.label_loss = label_loss
        super().compile(optimizer=generator_optimizer, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.critic_optimizer = critic_optimizer
        self.label_weights = {
            task: float(label_weights.get(task, 0.0)) for task in self.label_tasks
        }
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.critic_steps = int(critic_steps)
        self.label_source = label_source
        # Optimizer state now, in the strategy scope, not lazily inside a replica.
        generator_optimizer.build(self.generator.trainable_variables)
        critic_optimizer.build(self.critic.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

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
        if getattr(self, "label_loss", "absolute") in PAIRED_LABEL_LOSSES:
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
        return self._step_logs()

    def _step_logs(self) -> dict:
        logs = {m.name: m.result() for m in self.metrics}
        if _multi_worker(tf.distribute.get_strategy()):
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
            scaled_loss = _replica_scale(critic_loss)
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
            label_losses = self._label_losses(fake_images, labels, reference)
            label_loss = ops.zeros((), adversarial.dtype)
            for task, loss in label_losses.items():
                label_loss += self.label_weights[task] * loss
            label_loss *= ops.cast(self.label_scale, label_loss.dtype)
            scaled_loss = _replica_scale(adversarial + label_loss)
        self._apply(tape, scaled_loss, self.generator, self.generator_optimizer)
        self._track(generator_adversarial=adversarial)
        self._track_labels(label_losses)

    def _label_losses(self, images, labels, reference=None) -> dict:
        """``{task: loss}`` of the frozen predictor on generated images.

        With ``reference`` (mono: the real images whose labels the fakes were
        given), each image's loss is its excess over the loss on its real partner,
        ``relu(loss(fake) - loss(real))`` (``excess``), or the residuals' mean and
        spread are matched to the partners' (``matched``, :func:`_matched_loss`).

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
            if self.presence_channel is not None:
                weights = ops.reshape(
                    ops.stop_gradient(
                        telescope_presence(
                            images, self.presence_channel, self.presence_threshold
                        )
                    ),
                    (-1,),
                )
                n_present = ops.maximum(ops.sum(weights), 1.0)
            images = ops.reshape(images, (-1, *self.image_shape[1:]))
            labels = ops.repeat(labels, self.image_shape[0], axis=0)
        predictions = self.predictor(images, training=False)
        real = None
        if reference is not None:
            real = self.predictor(ops.stop_gradient(reference), training=False)
        losses = {}
        for task, columns in self.label_tasks.items():
            target = labels[:, columns]
            if real is not None and task != "type" and self.label_loss == "matched":
                losses[task] = _matched_loss(target, predictions[task], real[task])
                continue
            loss = _task_loss(task, target, predictions[task])
            if real is not None:
                loss = ops.relu(
                    loss - ops.stop_gradient(_task_loss(task, target, real[task]))
                )
            if weights is None:
                losses[task] = ops.mean(loss)
            else:
                losses[task] = ops.sum(ops.cast(weights, loss.dtype) * loss) / ops.cast(
                    n_present, loss.dtype
                )
        return losses

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
        """Draw for the whole global batch; keep this replica's rows.

        Every replica draws the same numbers, so replicas get different noise and one
        device gets exactly the noise that several replicas share out.
        """
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        values = draw(
            (shape[0] * replicas, *shape[1:]),
            seed=seed_generator or self.seed_generator,
        )
        first = shape[0] * context.replica_id_in_sync_group
        return values[first : first + shape[0]]

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
