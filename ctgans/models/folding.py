"""Batch normalisation folded into the layer before it, for sampling only.

In inference a ``BatchNormalization`` layer is an affine map per channel,
``y = s x + b`` with ``s = gamma / sqrt(moving_variance + epsilon)`` and
``b = beta - moving_mean * s``. Multiplying the kernel of the dense or
convolution layer before it by ``s`` and replacing the normalisation by a bias
``b`` gives the same function in exact arithmetic, and TensorFlow then fuses the
convolution, the bias and the activation into one kernel: the generator's network
costs about a fifth less CPU an image (BENCHMARKS.md, "Generating DL1 files").

In ``float32`` the folded generator draws the same images to rounding. In
``bfloat16`` the folded kernel is rounded to bfloat16 once more, so the images
differ by about that rounding (measured on the default run: median 0.3 % in
pixels above 20 p.e., total charge 0.5 % median and 4 % at the 99th percentile,
well inside the photon noise), as two bfloat16 forward passes of one network
with differently ordered sums do.

The folded generator is for sampling (``training=False``) only: its
normalisation has no batch statistics left to learn, so it is marked not
trainable and must never be saved over the run's generator.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["ChannelBias", "fold_batch_norm"]


class ChannelBias:
    """``x + bias`` per channel (last axis), a folded normalisation's remainder.

    A plain callable, not a Keras layer: it holds no state to save or train, and
    a built Keras model accepts no new layers. It keeps the name of the
    normalisation it replaces, so that code keyed on layer names (the
    generator's FiLM placement) finds it.
    """

    def __init__(self, bias, name: str):
        self.name = name
        self.bias = np.asarray(bias, np.float32)

    def __call__(self, x, training=None):
        return x + ops.convert_to_tensor(self.bias, x.dtype)


def fold_batch_norm(generator) -> int:
    """Fold every batch normalisation of ``generator``'s network into the layer
    before it, in place; return how many were folded (0 unless
    ``normalization: batch``).

    The layer before each normalisation must be a dense or convolution layer
    without a bias (the generator builds them so when it normalises).
    """
    if getattr(generator, "normalization", None) != "batch":
        return 0
    folded = 0
    if isinstance(generator.project_norm, keras.layers.BatchNormalization):
        generator.project_norm = _folded(generator.project, generator.project_norm)
        folded += 1
    for i, layer in enumerate(generator.body):
        if isinstance(layer, keras.layers.BatchNormalization):
            generator.body[i] = _folded(generator.body[i - 1], layer)
            folded += 1
    generator.trainable = False
    return folded


def _folded(before, norm) -> ChannelBias:
    """Scale ``before``'s kernel by ``norm``'s ``s``; the bias that replaces it."""
    last = 1 if isinstance(before, keras.layers.Dense) else 3
    if getattr(before, "use_bias", True) or norm.axis not in (-1, last):
        raise ValueError(
            f"cannot fold {norm.name} into {before.name}: expected a dense or "
            "convolution layer without a bias before a normalisation of the last axis"
        )
    gamma = np.ones(norm.moving_mean.shape) if norm.gamma is None else norm.gamma
    beta = np.zeros(norm.moving_mean.shape) if norm.beta is None else norm.beta
    scale = np.asarray(gamma, np.float64) / np.sqrt(
        np.asarray(norm.moving_variance, np.float64) + norm.epsilon
    )
    bias = np.asarray(beta, np.float64) - np.asarray(norm.moving_mean) * scale
    kernel = np.asarray(before.kernel, np.float64)
    # Conv2DTranspose keeps its output channels on the kernel's second-last axis.
    axis = -2 if isinstance(before, keras.layers.Conv2DTranspose) else -1
    shape = [1] * kernel.ndim
    shape[axis] = -1
    before.kernel.assign((kernel * scale.reshape(shape)).astype(np.float32))
    return ChannelBias(bias, name=norm.name)
