"""The losses of :class:`~ctgans.models.gan.ConditionalWGAN` and their settings.

The WGAN-GP gradient penalty, the label predictor's per-task losses on generated
images (``loss.label_loss``: ``absolute``, ``excess``, ``matched`` or ``partner``,
against the real partner images for the last three), the image-moment loss
(``loss.moment_weight``) and the checks of the loss settings given to ``compile``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ctgans.choices import LABEL_LOSSES, LABEL_SOURCES, PAIRED_LABEL_LOSSES
from ctgans.data.presence import telescope_presence
from ctgans.models.camera import image_moments, network_charges
from ctgans.models.predictor import label_slices

GP_EPSILON = 1e-12  # inside the square root: finite gradient at a zero input gradient
MATCHED_EPSILON = 1e-6  # inside the spread's square root (a batch of equal residuals)
#: ``loss.moment_weight``: the image moments matched, as columns of
#: :func:`~ctgans.models.camera.image_moments` (log10(1 + size) / 4, length, width).
MOMENT_COLUMNS = {"size": 0, "length": 4, "width": 5}
MOMENT_LOG_FLOOR = 1e-3  # length and width (image sides) inside the logarithm


def gradient_penalty(critic, real, fake, labels, epsilon, training=True):
    """WGAN-GP penalty ``mean((||grad_x critic(x, labels)|| - 1)^2)``.

    The gradient is taken at ``x = real + epsilon * (fake - real)``; for a
    critic whose ``penalty_on_views`` is true, ``x`` are its views of the images
    (``critic.with_views``) and it is called with ``viewed=True``.

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
    call = critic
    if getattr(critic, "penalty_on_views", False):
        # Interpolate and penalise in the critic's input space (the images and
        # their views), where its convolutions are to be 1-Lipschitz.
        real = ops.convert_to_tensor(critic.with_views(real))
        fake = ops.convert_to_tensor(critic.with_views(fake))

        def call(inputs, training):
            return critic(inputs, training=training, viewed=True)

    rank = len(real.shape)
    epsilon = ops.reshape(ops.cast(epsilon, real.dtype), (-1,) + (1,) * (rank - 1))
    interpolated = real + epsilon * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = call((interpolated, labels), training=training)
    grads = tape.gradient(scores, interpolated)
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, rank))) + GP_EPSILON)
    return ops.mean(ops.square(norm - 1.0))


def task_loss(task, target, prediction):
    """Per-image loss of one predictor task (cross-entropy for ``type``)."""
    if task == "type":
        return keras.losses.sparse_categorical_crossentropy(
            ops.cast(target[:, 0], "int32"), prediction
        )
    return keras.losses.mean_squared_error(target, prediction)


def matched_loss(target, prediction, real_prediction):
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


def moment_features(images, settings):
    """``(B, 3)``: log10 of the size, length and width (image sides) of mono images
    in network units, from their differentiable moments
    (:func:`~ctgans.models.camera.image_moments`, pixels above
    ``settings["threshold_pe"]``). ``settings``: ``charge_scale`` and
    ``charge_divisor`` of channel 0's charge transform."""
    charges = network_charges(
        images[..., 0], settings["charge_scale"], settings["charge_divisor"]
    )
    source = ops.zeros((ops.shape(charges)[0], 2), "float32")  # not used
    moments = image_moments(charges, source, settings["threshold_pe"])
    columns = [
        moments[:, MOMENT_COLUMNS["size"]] * 4.0,  # log10(1 + size)
        ops.log10(moments[:, MOMENT_COLUMNS["length"]] + MOMENT_LOG_FLOOR),
        ops.log10(moments[:, MOMENT_COLUMNS["width"]] + MOMENT_LOG_FLOOR),
    ]
    return ops.stack(columns, axis=-1)


def moment_residuals(fake, real, energy):
    """``(2, K)``: per column, the mean of the paired residual ``fake - real`` and
    its slope on the energy.

    ``fake``, ``real``: ``(B, K)`` :func:`moment_features` of the generated images
    and of the real images whose labels they were given; ``energy``: ``(B,)`` the
    (standardised) energy label. The slope catches an offset that changes with
    energy (a size-energy relation too flat, showers too long only at high
    energy). The residual's own scatter is not a mismatch: at a given label the
    images differ, and the spread at the labels is left to the critic.
    """
    residual = fake - ops.stop_gradient(real)
    energy = ops.cast(energy, "float32")[:, None]
    centred = energy - ops.mean(energy)
    slope = ops.mean(centred * residual, axis=0) / (
        ops.mean(centred**2) + MATCHED_EPSILON
    )
    return ops.stack([ops.mean(residual, axis=0), slope])


def moment_loss(residuals, smoothed):
    """The generator's moment term: ``sum(smoothed * residuals)``.

    ``residuals``: this batch's :func:`moment_residuals`; ``smoothed``: their
    running average over the last steps (not differentiated). Its gradient is that
    of ``|mean residual|^2 / 2`` with the batch's mean replaced by the running one:
    at a batch of 32 images a systematic offset of 0.03 dex in the length is
    smaller than the batch's own scatter (≈ 0.1 dex), which a squared batch
    statistic would follow step by step.
    """
    return ops.sum(ops.stop_gradient(smoothed) * residuals)


def predictor_losses(
    tasks, labels, predictions, real=None, label_loss="absolute", weights=None
) -> dict:
    """``{task: loss}`` of the predictor's outputs on generated images.

    ``absolute``: the predictor's loss on each generated image. ``excess``:
    ``relu(loss(generated) - loss(real))`` per image, against the real image whose
    labels the fake was given: the predictor is biased and scatters on simulated
    images too, and the generator is only penalised where it does worse.
    ``matched``: the mean and spread of the residuals on the fakes against those on
    their real partners (:func:`matched_loss`). ``partner``: the predictor's loss
    with its output on the real partner as the target, per image: a fake must be
    read as simulation is read at those labels (with ``impact`` among them, a dim
    shower far from the telescope is read low in energy, as its partner is).
    ``type`` falls back to ``excess`` for both.
    ``tasks`` maps each predictor task to its label columns, ``predictions`` and
    ``real`` are the predictor's outputs on the fakes and (paired losses) on their
    real partners; ``weights`` (``(B,)``, not differentiated) averages over the
    selected images only (stereo: the present telescopes; 0 when none is).
    """
    if weights is not None:
        n_present = ops.maximum(ops.sum(weights), 1.0)
    losses = {}
    for task, columns in tasks.items():
        target = labels[:, columns]
        if real is not None and task != "type" and label_loss == "matched":
            losses[task] = matched_loss(target, predictions[task], real[task])
            continue
        if real is not None and task != "type" and label_loss == "partner":
            loss = task_loss(task, ops.stop_gradient(real[task]), predictions[task])
        elif real is not None:  # excess (and type with the other paired losses)
            loss = ops.relu(
                task_loss(task, target, predictions[task])
                - ops.stop_gradient(task_loss(task, target, real[task]))
            )
        else:
            loss = task_loss(task, target, predictions[task])
        if weights is None:
            losses[task] = ops.mean(loss)
        else:
            losses[task] = ops.sum(ops.cast(weights, loss.dtype) * loss) / ops.cast(
                n_present, loss.dtype
            )
    return losses


def check_loss_settings(
    label_tasks,
    label_weights,
    *,
    critic_steps,
    gradient_penalty_weight,
    label_source,
    label_loss,
    image_shape,
) -> None:
    """Raise ValueError naming the first loss setting ``compile`` cannot use."""
    label_weights = dict(label_weights or {})
    unknown = [
        t for t, w in label_weights.items() if t not in label_tasks and float(w) != 0.0
    ]
    if unknown:
        raise ValueError(
            f"ConditionalWGAN: label_weights name tasks {unknown} that the "
            f"predictor does not output (predictor tasks: "
            f"{tuple(label_tasks)})"
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
        label_source != "real" or len(image_shape) != 3
    ):
        raise ValueError(
            f"ConditionalWGAN: label_loss {label_loss!r} needs mono images and "
            f"label_source 'real'; received image shape {image_shape}, "
            f"label_source {label_source!r}"
        )


def predictor_tasks(predictor, image_shape, label_columns) -> dict[str, slice]:
    """``{task: label columns}`` of a predictor's outputs; ValueError if unusable."""
    outputs = predictor.output
    if not isinstance(outputs, dict):
        raise ValueError(
            "ConditionalWGAN: the predictor must return a dict {task: output} "
            "(use ctgans.models.predictor.build_predictor); received a model "
            f"with output {outputs!r}"
        )
    if tuple(predictor.input_shape[1:]) != tuple(image_shape)[-3:]:
        raise ValueError(
            f"ConditionalWGAN: predictor input shape {predictor.input_shape[1:]} "
            f"differs from the image shape {tuple(image_shape)[-3:]}"
        )
    slices = label_slices(tuple(label_columns))
    missing = [task for task in outputs if task not in slices]
    if missing:
        raise ValueError(
            f"ConditionalWGAN: predictor tasks {missing} have no label columns; "
            f"received label_columns={tuple(label_columns)!r}"
        )
    return {task: slices[task] for task in outputs}


def telescope_images(images, labels, presence_channel=None, presence_threshold=0.0):
    """Stereo ``(B, T, H, W, C)`` as ``B * T`` telescope images with their labels.

    Returns ``(images, labels, weights)``: ``weights`` (``(B * T,)``, not
    differentiated) marks the present telescopes with a ``presence_channel``,
    else None (every slot counts).
    """
    weights = None
    if presence_channel is not None:
        presence = telescope_presence(images, presence_channel, presence_threshold)
        weights = ops.reshape(ops.stop_gradient(presence), (-1,))
    flat = ops.reshape(images, (-1, *images.shape[2:]))
    return flat, ops.repeat(labels, images.shape[1], axis=0), weights
