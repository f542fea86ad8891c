"""Building blocks shared by the generator and the critic: shape checks, the
upsampling plan, compute precision, normalisation layers, depth-to-space."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ctgans.choices import PRECISIONS

MIN_SEED_SIZE = 4


def check_image_shape(image_shape, owner: str) -> tuple[int, ...]:
    """``(H, W, C)`` (mono) or ``(T, H, W, C)`` (stereo) as a tuple of ints."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise ValueError(
            f"{owner}: `image_shape` must be (height, width, channels) or "
            f"(telescopes, height, width, channels); received {image_shape!r}"
        )
    return shape


def upsampling_plan(height: int, width: int) -> tuple[int, int, int]:
    """``(n_blocks, seed_height, seed_width)`` for a grid doubled ``n_blocks`` times.

    As many doublings as keep the seed grid at least 4 pixels on its short side;
    the doubled grid covers ``(height, width)`` and is cropped centrally.
    """
    n_blocks = 0
    while math.ceil(min(height, width) / 2 ** (n_blocks + 1)) >= MIN_SEED_SIZE:
        n_blocks += 1
    scale = 2**n_blocks
    return n_blocks, math.ceil(height / scale), math.ceil(width / scale)


def layer_dtype(precision: str):
    """The dtype policy of the convolution and dense layers for ``precision``
    (None: the global policy, float32 by default)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}; received {precision!r}"
        )
    return "mixed_bfloat16" if precision == "bfloat16" else None


def normalization_layer(kind: str, name: str, dtype=None):
    """The normalisation layer of ``kind`` (None for ``"none"``)."""
    if kind == "batch":
        # Synchronised statistics: two replicas normalise like one global batch.
        return keras.layers.BatchNormalization(
            synchronized=True, name=name, dtype=dtype
        )
    if kind == "layer":
        return keras.layers.LayerNormalization(name=name, dtype=dtype)
    return None


def depth_to_space2(x):
    """``(B, H, W, 4)`` -> ``(B, 2H, 2W, 1)``: channel ``2 i + j`` is the
    sub-pixel in row ``i``, column ``j`` of each 2 x 2 cell."""
    height, width = x.shape[1], x.shape[2]
    x = ops.reshape(x, (-1, height, width, 2, 2))
    x = ops.transpose(x, (0, 1, 3, 2, 4))
    return ops.reshape(x, (-1, 2 * height, 2 * width, 1))


def fixed_pixel_arrays(fixed_mask, fixed_values, image_shape):
    """``(1 - mask, mask * values)`` as float32 arrays of ``image_shape``, or
    ``(None, None)`` without a mask: the generator's output is
    ``x * free + fixed``, so the masked pixels hold their values."""
    if (fixed_mask is None) != (fixed_values is None):
        raise ValueError(
            "Generator: `fixed_mask` and `fixed_values` go together; received "
            f"mask {'set' if fixed_mask is not None else 'None'}, values "
            f"{'set' if fixed_values is not None else 'None'}"
        )
    if fixed_mask is None:
        return None, None
    mask = np.asarray(fixed_mask, dtype="float32")
    if mask.shape != tuple(image_shape):
        raise ValueError(
            f"Generator: `fixed_mask` must have shape {tuple(image_shape)}; "
            f"received {mask.shape}"
        )
    return 1.0 - mask, mask * np.asarray(fixed_values, dtype="float32")


def film_layer(after: str, filters: int, dtype=None):
    """The dense layer of a FiLM scale and shift (``2 * filters`` outputs,
    starting at zero) for the features of the layer named ``after``."""
    return keras.layers.Dense(
        2 * filters, kernel_initializer="zeros", name=f"{after}_film", dtype=dtype
    )


def apply_film(x, labels, dense):
    """``x * (1 + scale) + shift`` per channel, ``(scale, shift) = dense(labels)``."""
    scale, shift = ops.split(dense(labels), 2, axis=-1)
    scale = ops.cast(scale, x.dtype)[:, None, None, :]
    shift = ops.cast(shift, x.dtype)[:, None, None, :]
    return x * (1.0 + scale) + shift


def upsampling_block(
    prefix: str, filters: int, upsampling: str, normalization: str, use_bias, dtype
) -> list:
    """The layers of one generator block: the grid doubled (strided transposed
    convolution, or nearest-neighbour upsampling and a convolution), then a
    convolution, each followed by ``normalization`` and a leaky ReLU."""

    def conv3(name: str):
        return keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=use_bias, name=name, dtype=dtype
        )

    if upsampling == "transpose":
        upsample = [
            keras.layers.Conv2DTranspose(
                filters,
                4,
                strides=2,
                padding="same",
                use_bias=use_bias,
                name=f"{prefix}_upconv",
                dtype=dtype,
            )
        ]
    else:
        upsample = [
            keras.layers.UpSampling2D(2, name=f"{prefix}_upsample", dtype=dtype),
            conv3(f"{prefix}_upconv"),
        ]
    layers = upsample + [
        normalization_layer(normalization, f"{prefix}_norm1", dtype),
        keras.layers.LeakyReLU(0.2, name=f"{prefix}_act1", dtype=dtype),
        conv3(f"{prefix}_conv"),
        normalization_layer(normalization, f"{prefix}_norm2", dtype),
        keras.layers.LeakyReLU(0.2, name=f"{prefix}_act2", dtype=dtype),
    ]
    return [layer for layer in layers if layer is not None]
