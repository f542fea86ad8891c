"""A small CNN two-sample classifier on square images (plus labels).

FIDELITY §3 asks for a classifier strong enough to find what is there: on pixels a
PCA + trees classifier sees global intensity and shape, but not the local texture
(noise level, sub-pixel offsets, the shape of the shower edge) that convolutions
see. Split, calibration and AUC follow :func:`~ctgans.evaluate.metrics.two_sample_auc`:
each sample is split 60/20/20; the CNN is fitted on the first part, its logit
Platt-calibrated on the second (a monotonic map: the AUC of the raw scores is kept)
and scored on the third.

Seeded and deterministic: the split, the weight initialisation and the order of
the batches all come from ``rng``; no global seed is touched.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

__all__ = ["CNN_DESCRIPTION", "cnn_two_sample_auc", "signed_log"]

#: Optimiser steps a fit aims at (epochs = steps x batch / images, 3 to 30).
TARGET_STEPS = 600
BATCH_SIZE = 64
CNN_DESCRIPTION = (
    "CNN: 3 stride-2 conv layers (16, 32, 32 filters, 3x3, ReLU), flatten, "
    "+ labels, dense 32, logit; Adam 1e-3, ~600 steps of 64; Platt-calibrated"
)


def signed_log(charges: np.ndarray) -> np.ndarray:
    """``sign(q) log(1 + |q|)``: charges span decades (p.e. in, O(1) out)."""
    return np.sign(charges) * np.log1p(np.abs(charges))


def _split(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    n_fit, n_cal = int(0.6 * n), int(0.2 * n)
    return np.split(order, [n_fit, n_fit + n_cal])


def _model(image_shape, n_labels: int, seed: int):
    import keras

    def init(i):
        return keras.initializers.GlorotUniform(seed=seed + i)

    image = keras.Input(image_shape, name="image")
    labels = keras.Input((n_labels,), name="labels")
    x = image
    for i, filters in enumerate((16, 32, 32)):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer=init(i),
            name=f"two_sample_conv{i + 1}",
        )(x)
    x = keras.layers.Flatten(name="two_sample_flatten")(x)
    x = keras.layers.Concatenate(name="two_sample_with_labels")([x, labels])
    x = keras.layers.Dense(
        32, activation="relu", kernel_initializer=init(3), name="two_sample_dense"
    )(x)
    logit = keras.layers.Dense(1, kernel_initializer=init(4), name="two_sample_logit")(
        x
    )
    model = keras.Model([image, labels], logit, name="two_sample_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def cnn_two_sample_auc(
    x_images,
    y_images,
    x_labels,
    y_labels,
    rng: np.random.Generator,
) -> float:
    """ROC AUC of a calibrated CNN telling sample ``y`` from sample ``x``.

    Parameters
    ----------
    x_images, y_images : array_like
        ``(n, H, W, C)`` square images of the two samples, already on an O(1)
        scale (e.g. :func:`signed_log` of charges).
    x_labels, y_labels : array_like
        ``(n, L)`` standardised labels of the images (``L`` may be 0).
    rng : numpy.random.Generator
        Drives the split, the initial weights and the batch order: the same
        generator state gives the same AUC.

    Returns
    -------
    float
        0.5 when the samples cannot be told apart, 1 when they always can.

    Raises
    ------
    ValueError
        If the shapes disagree or a sample has fewer than 10 images.
    """
    samples = []
    for images, labels in ((x_images, x_labels), (y_images, y_labels)):
        images = np.asarray(images, np.float32)
        labels = np.asarray(labels, np.float32).reshape(len(images), -1)
        samples.append((images, labels))
    (xi, xl), (yi, yl) = samples
    if xi.ndim != 4 or xi.shape[1:] != yi.shape[1:] or xl.shape[1] != yl.shape[1]:
        raise ValueError(
            "images must be (n, H, W, C) and labels (n, L) with the same H, W, C, L "
            f"in both samples; received {xi.shape} / {xl.shape} and {yi.shape} / "
            f"{yl.shape}"
        )
    if min(len(xi), len(yi)) < 10:
        raise ValueError(
            f"each sample needs at least 10 images for a 60/20/20 split; received "
            f"{len(xi)} and {len(yi)}"
        )
    parts = [[], [], []]
    for target, (images, labels) in enumerate(samples):
        for part, rows in zip(parts, _split(len(images), rng), strict=True):
            part.append((images[rows], labels[rows], np.full(len(rows), target)))
    (fit, cal, test) = (
        tuple(np.concatenate([p[k] for p in part]) for k in range(3)) for part in parts
    )
    model = _model(xi.shape[1:], xl.shape[1], int(rng.integers(2**31 - 1 - 8)))
    n_fit = len(fit[2])
    epochs = int(np.clip(np.ceil(TARGET_STEPS * BATCH_SIZE / n_fit), 3, 30))
    for _ in range(epochs):
        order = rng.permutation(n_fit)
        model.fit(
            [fit[0][order], fit[1][order]],
            fit[2][order].astype(np.float32),
            batch_size=BATCH_SIZE,
            epochs=1,
            shuffle=False,
            verbose=0,
        )

    def logits(part):
        return model.predict([part[0], part[1]], batch_size=1024, verbose=0)

    platt = LogisticRegression().fit(logits(cal), cal[2])
    return float(roc_auc_score(test[2], platt.predict_proba(logits(test))[:, 1]))
