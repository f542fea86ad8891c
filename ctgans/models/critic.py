"""The conditional Wasserstein critic: (images, labels) -> one score per image."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ctgans.choices import CONDITIONING
from ctgans.models.camera import image_moments, network_charges, source_position
from ctgans.models.layers import check_image_shape, layer_dtype

MOMENT_UNITS = 64
LOG_WEIGHT_SCALE = 100.0  # network units -> moment weights of order 10-100


@keras.saving.register_keras_serializable(package="ctgans")
class Critic(keras.Model):
    """Strided-convolution critic without batch normalisation.

    Batch normalisation would make each score depend on the rest of the batch, which
    the per-sample gradient penalty of WGAN-GP forbids; LeakyReLU(0.2) follows each
    convolution.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W, C)``, or ``(T, H, W, C)`` for stereo events (telescopes are folded
        into the channel axis).
    n_labels : int
        Width of the label vector.
    filters : tuple of int
        Filters of the stride-2 convolution blocks.
    conditioning : {"projection", "channels", "none"}
        ``"projection"``: projection discriminator (Miyato & Koyama 2018) for
        continuous labels, ``score = dense(h) + <h, embed(labels)>``.
        ``"channels"``: labels appended to the image as constant channels.
        ``"none"``: unconditional (the 2022 prototype); labels are ignored.
    spectral_norm : bool
        Wrap every convolution and dense layer in ``SpectralNormalization``.
    moments : dict, optional
        Mono, charge in channel 0: ``{"charge_scale", "charge_divisor",
        "threshold_pe", "label_index", "affine"}``. The critic also scores the
        image's differentiable moments relative to the requested source
        (:func:`~ctgans.models.camera.image_moments` of the normalised, i.e.
        logarithmic, charges above ``threshold_pe``: size, centroid offset,
        length, width, the source's miss distance from the axis, alignment) with
        the labels, through a small dense branch added to the score.
    minibatch_std : bool
        Append the batch's mean standard deviation of the last convolution's
        features as one more feature map (Karras et al. 2018, used there with
        WGAN-GP): a batch of too-alike images is told apart by it. The images of
        one call form the group: call the critic on real and generated images
        separately (the train step does).
    source_coordinates : dict, optional
        Mono: ``{"label_index": [ix, iy], "affine": [[...3], [...3]]}`` (as the
        generator's ``source_frame``). Three channels are appended to the image:
        each pixel's row and column offset from the requested source and its
        distance, in image sizes (CoordConv relative to the source). The
        convolutions can then relate where the light is to where the source is
        (the distance and orientation of the shower), which a label projection,
        linear in the labels, cannot. They depend on the labels only, so the
        gradient penalty is unchanged.
    charge_views : dict, optional
        Mono, charge in channel 0: ``{"charge_scale", "charge_divisor",
        "scales"}``. One channel per scale ``s`` (p.e.) is appended to the image:
        the same charges ``q`` seen through another signed logarithm,
        ``sign(q) log1p(|q| / s) / log1p(q1 / s)`` (``q1`` the charge of network
        value 1), computed from channel 0 by undoing its transform
        (``charge_scale``, ``charge_divisor``). A small ``s`` spreads the dim
        rim of a shower over the input's range, a large one its bright core:
        the critic sees both, where one transform trades one against the other
        (RESULTS.md, probes 77-83). The map from channel 0 is smooth with a
        bounded slope, so the gradient penalty is unchanged in kind.
    mapper_views : dict, optional
        Mono, charge in channel 0: ``{"charge_scale", "charge_divisor",
        "mappers"}``. One channel per mapper name is appended to the image: the
        same camera charges as mapped by that mapper (e.g. a
        ``NearestNeighborMapper``, whose grid keeps each pixel's peak where the
        data's ``BilinearMapper`` spreads it over its neighbours), in the charge
        transform of channel 0. Channel 0's charges are taken back to camera
        pixels by the data mapper's inverse and mapped again: one fixed linear
        map ``view_matrix`` ``(H*W, n_views*H*W)`` of the p.e. charges, exact for
        every image the data mapper can make (the real and generated images),
        stored as a non-trainable weight (saved with the critic's weights).
    view_matrix : numpy.ndarray, optional
        The map of ``mapper_views``, given when the critic is created for
        training, absent when it is re-created from its config (its weights file
        holds it).
    precision : {"float32", "bfloat16"}
        ``"bfloat16"``: the convolutions compute in bfloat16 (variables float32);
        the score, the label projection and the moments stay float32.
    """

    def __init__(
        self,
        image_shape,
        n_labels: int,
        filters=(64, 128, 256),
        conditioning: str = "projection",
        spectral_norm: bool = False,
        moments=None,
        minibatch_std: bool = False,
        source_coordinates=None,
        precision: str = "float32",
        charge_views=None,
        mapper_views=None,
        view_matrix=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.precision = precision
        dtype = layer_dtype(precision)
        self.image_shape = check_image_shape(image_shape, "Critic")
        if conditioning not in CONDITIONING:
            raise ValueError(
                f"Critic: `conditioning` must be one of {CONDITIONING}; "
                f"received {conditioning!r}"
            )
        self.filters = tuple(int(f) for f in filters)
        if not self.filters or min(self.filters) < 1:
            raise ValueError(
                "Critic: `filters` must be a non-empty tuple of positive integers; "
                f"received {filters!r}"
            )
        self.n_labels = int(n_labels)
        self.conditioning = conditioning
        # Without labels there is nothing to condition on.
        self._conditioning = conditioning if self.n_labels else "none"
        self.spectral_norm = bool(spectral_norm)
        self.minibatch_std = bool(minibatch_std)
        self.source_coordinates = (
            None if source_coordinates is None else dict(source_coordinates)
        )
        if self.source_coordinates is not None and len(self.image_shape) != 3:
            raise ValueError(
                "Critic: `source_coordinates` needs mono images (H, W, C); "
                f"received image_shape {self.image_shape}"
            )
        self.charge_views = None if charge_views is None else dict(charge_views)
        if self.charge_views is not None:
            scales = [float(s) for s in self.charge_views["scales"]]
            if len(self.image_shape) != 3 or not scales or min(scales) <= 0:
                raise ValueError(
                    "Critic: `charge_views` needs mono images (H, W, C) and "
                    f"positive scales; received image_shape {self.image_shape}, "
                    f"scales {scales}"
                )
            self.charge_views["scales"] = scales
        self.mapper_views = None if mapper_views is None else dict(mapper_views)
        self._view_matrix = view_matrix
        if self.mapper_views is not None:
            mappers = [str(m) for m in self.mapper_views["mappers"]]
            if len(self.image_shape) != 3 or not mappers:
                raise ValueError(
                    "Critic: `mapper_views` needs mono images (H, W, C) and at "
                    f"least one mapper; received image_shape {self.image_shape}, "
                    f"mappers {mappers}"
                )
            self.mapper_views["mappers"] = mappers

        self.convs = [
            self._wrap(
                keras.layers.Conv2D(
                    f,
                    4,
                    strides=2,
                    padding="same",
                    name=f"critic_block{i}_conv",
                    dtype=dtype,
                )
            )
            for i, f in enumerate(self.filters, start=1)
        ]
        self.moments = None if moments is None else dict(moments)
        self.moment_layers = []
        if self.moments is not None:
            if len(self.image_shape) != 3:
                raise ValueError(
                    "Critic: `moments` needs mono images (H, W, C); received "
                    f"image_shape {self.image_shape}"
                )
            self.moment_layers = [
                self._wrap(keras.layers.Dense(MOMENT_UNITS, name="critic_moments1")),
                self._wrap(keras.layers.Dense(MOMENT_UNITS, name="critic_moments2")),
                self._wrap(keras.layers.Dense(1, name="critic_moments_score")),
            ]
        self.flatten = keras.layers.Flatten(name="critic_flatten")
        self.score = self._wrap(keras.layers.Dense(1, name="critic_score"))
        self.embedding = None
        if self._conditioning == "projection":
            self.embedding = self._wrap(
                keras.layers.Dense(
                    self._feature_size(), use_bias=False, name="critic_label_embedding"
                )
            )

    def _wrap(self, layer):
        if not self.spectral_norm:
            return layer
        return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn")

    def _feature_size(self) -> int:
        height, width = self.image_shape[-3:-1]
        for _ in self.filters:
            height, width = -(-height // 2), -(-width // 2)
        return height * width * (self.filters[-1] + int(self.minibatch_std))

    def build(self, input_shape):
        # Run call on symbolic tensors: every sub-layer builds on its real input.
        image_shape, label_shape = input_shape
        if self.mapper_views is not None:
            size = self.image_shape[0] * self.image_shape[1]
            shape = (size, size * len(self.mapper_views["mappers"]))
            value = self._view_matrix
            if value is not None and tuple(np.shape(value)) != shape:
                raise ValueError(
                    f"Critic: `view_matrix` must have shape {shape} (H*W, "
                    f"n_views*H*W); received {tuple(np.shape(value))}"
                )
            self.view_matrix = self.add_weight(
                name="view_matrix",
                shape=shape,
                initializer=(
                    "zeros"
                    if value is None
                    else keras.initializers.Constant(np.asarray(value, np.float32))
                ),
                trainable=False,
            )
            self._view_matrix = None  # the weight holds it now
        self.call((keras.KerasTensor(image_shape), keras.KerasTensor(label_shape)))

    def fold_telescopes(self, images):
        """(B, T, H, W, C) -> (B, H, W, T*C); mono images pass unchanged."""
        if len(self.image_shape) == 3:
            return images
        telescopes, height, width, channels = self.image_shape
        images = ops.transpose(images, (0, 2, 3, 1, 4))
        return ops.reshape(images, (-1, height, width, telescopes * channels))

    @property
    def penalty_on_views(self) -> bool:
        """Whether the gradient penalty is taken in the space of the image and
        its views (:meth:`with_views`) rather than of the image alone: the
        mapper views' slope is unbounded (a dim pixel beside a bright one is a
        difference of large charges), so a penalty through them would fight
        the critic wherever a shower is bright."""
        return self.mapper_views is not None

    def with_views(self, images):
        """The images as the convolutions see them: telescopes folded into the
        channels, then the charge and mapper views appended."""
        x = self.fold_telescopes(images)
        if self.charge_views is not None:
            x = ops.concatenate([x, self._charge_views(x, x.dtype)], axis=-1)
        if self.mapper_views is not None:
            x = ops.concatenate([x, self._mapper_views(x, x.dtype)], axis=-1)
        return x

    def call(self, inputs, training=None, viewed=False):
        """``viewed``: the images are :meth:`with_views` of images already."""
        images, labels = inputs
        x = images if viewed else self.with_views(images)
        if self._conditioning == "channels":
            height, width = self.image_shape[-3:-1]
            planes = ops.broadcast_to(
                labels[:, None, None, :],
                (ops.shape(x)[0], height, width, self.n_labels),
            )
            x = ops.concatenate([x, ops.cast(planes, x.dtype)], axis=-1)
        if self.source_coordinates is not None:
            x = ops.concatenate([x, self._source_planes(labels, x.dtype)], axis=-1)
        for conv in self.convs:
            x = ops.leaky_relu(conv(x, training=training), 0.2)
        if self.minibatch_std:
            x = ops.concatenate([x, batch_spread(x)], axis=-1)
        features = ops.cast(self.flatten(x), "float32")
        score = self.score(features, training=training)
        if self.embedding is not None:
            projection = self.embedding(labels, training=training)
            score = score + ops.sum(features * projection, axis=-1, keepdims=True)
        if self.moment_layers:
            score = score + self._moment_score(images, labels, training)
        return score

    def _source_planes(self, labels, dtype):
        """``(B, H, W, 3)``: row and column offsets of each pixel from the
        requested source, and their length, in units of the image height."""
        frame = self.source_coordinates
        height, width = self.image_shape[:2]
        source = source_position(labels, frame["label_index"], frame["affine"])
        rows = ops.arange(height, dtype="float32")[None, :, None]
        cols = ops.arange(width, dtype="float32")[None, None, :]
        d_row = (rows - source[:, 0, None, None]) / height + 0.0 * cols
        d_col = (cols - source[:, 1, None, None]) / height + 0.0 * rows
        distance = ops.sqrt(d_row**2 + d_col**2 + 1e-12)
        return ops.cast(ops.stack([d_row, d_col, distance], axis=-1), dtype)

    def _charge_views(self, x, dtype):
        """``(B, H, W, n_scales)``: channel 0's charges through each view."""
        v = self.charge_views
        a, b = v["charge_scale"], v["charge_divisor"]
        y = ops.cast(x[..., :1], "float32")
        # |q| / a, from the network value: expm1(b |y|).
        relative = ops.expm1(ops.abs(y) * b)
        views = [
            ops.sign(y)
            * ops.log1p(relative * (a / s))
            / math.log1p(math.expm1(b) * a / s)
            for s in v["scales"]
        ]
        return ops.cast(ops.concatenate(views, axis=-1), dtype)

    def _mapper_views(self, x, dtype):
        """``(B, H, W, n_views)``: channel 0's camera charges as each view
        mapper maps them, in channel 0's transform."""
        v = self.mapper_views
        a, b = v["charge_scale"], v["charge_divisor"]
        height, width = self.image_shape[:2]
        y = ops.cast(ops.reshape(x[..., 0], (-1, height * width)), "float32")
        charge = network_charges(y, a, b)
        mapped = ops.matmul(charge, ops.cast(self.view_matrix, "float32"))
        mapped = ops.reshape(mapped, (-1, len(v["mappers"]), height, width))
        views = ops.sign(mapped) * ops.log1p(ops.abs(mapped) / a) / b
        return ops.cast(ops.transpose(views, (0, 2, 3, 1)), dtype)

    def _moment_score(self, images, labels, training):
        m = self.moments
        # Moments of the network-unit (log) charges above the threshold: their
        # gradient is bounded, unlike that of the p.e. (exponential in y), which
        # made the gradient penalty fight the critic (penalty ~1 instead of 0.003).
        threshold = (
            math.log1p(m["threshold_pe"] / m["charge_scale"]) / m["charge_divisor"]
        )
        source = source_position(labels, m["label_index"], m["affine"])
        weights = images[..., 0] * LOG_WEIGHT_SCALE
        moments = image_moments(weights, source, threshold * LOG_WEIGHT_SCALE)
        h = ops.concatenate([moments, labels], axis=-1)
        for layer in self.moment_layers[:-1]:
            h = ops.leaky_relu(layer(h, training=training), 0.2)
        return self.moment_layers[-1](h, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            n_labels=self.n_labels,
            filters=self.filters,
            conditioning=self.conditioning,
            spectral_norm=self.spectral_norm,
            moments=self.moments,
            minibatch_std=self.minibatch_std,
            source_coordinates=self.source_coordinates,
            precision=self.precision,
            charge_views=self.charge_views,
            mapper_views=self.mapper_views,
        )
        return config


def batch_spread(x):
    """``(B, H, W, 1)``: the mean over features of the standard deviation of
    ``x`` across the batch, the same value for every image (0 for one image)."""
    std = ops.sqrt(ops.var(x, axis=0) + 1e-8)
    return ops.ones_like(x[..., :1]) * ops.mean(std)
