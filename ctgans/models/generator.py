"""The conditional generator: (noise, labels) -> camera images."""

from __future__ import annotations

import keras
from keras import ops

from ctgans.choices import WINDOW_CHANNELS
from ctgans.models.camera import (
    CameraResponse,
    expected_signal,
    source_frame_warp,
    source_position,
)
from ctgans.models.envelope import (
    MIN_WIDTH,
    contained_angle,
    envelope_distance,
    envelope_geometry,
    envelope_layer,
    envelope_length,
    length_noise,
    shower_envelope,
    shower_intensity,
)
from ctgans.models.generator_options import check_generator_options
from ctgans.models.layers import (
    apply_film,
    check_image_shape,
    depth_to_space2,
    film_layer,
    fixed_pixel_arrays,
    layer_dtype,
    normalization_layer,
    upsampling_block,
    upsampling_plan,
)

MIN_FILTERS = 16
GATE_BIAS = 2.0  # sigmoid(2) = 0.88: telescopes start lit


@keras.saving.register_keras_serializable(package="ctgans")
class Generator(keras.Model):
    """Conditional DCGAN-style generator.

    The noise and the labels are concatenated, projected by a dense layer to a small
    seed grid, doubled in size by ``n_blocks`` upsampling blocks (filters halved each
    block, at least 16), cropped centrally to ``image_shape`` and passed through one
    activation per channel.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W, C)``, or ``(T, H, W, C)`` for stereo events (``T * C`` channels are
        generated and reshaped). ``H`` and ``W`` may be odd.
    n_labels : int
        Width of the label vector (0 for an unconditional generator).
    latent_dim : int
        Width of the noise vector.
    base_filters : int
        Filters of the seed grid.
    upsampling : {"transpose", "upsample"}
        Strided transposed convolution, or nearest-neighbour upsampling followed by a
        convolution.
    normalization : {"batch", "layer", "none"}
        Normalisation after each convolution.
    channel_activations : tuple of str, optional
        One Keras activation per channel: ``"tanh"`` for charge channels scaled to
        [-1, 1], ``"linear"`` for standardised time channels. Default: all ``tanh``.
    fixed_mask, fixed_values : nested lists of shape ``image_shape``, optional
        Pixels that hold the same value in every training image (the square grid
        outside the camera, where the mapper puts exactly 0) and those values. The
        output is ``fixed_values`` there, so the generator cannot draw light where a
        camera has no pixel.
    empty_values : sequence of float, optional
        Stereo only: the value of each channel in an empty telescope slot (a
        telescope whose image failed the cuts: zero charge and peak time, in network
        units). Given, the generator also outputs one gate per telescope,
        ``g = sigmoid(dense(z, labels))``, and draws ``g * image + (1 - g) * empty``:
        it can then leave a telescope empty (to float precision), as 61 % of
        simulated MAGIC stereo events have one, which a convolution output alone
        does not reach. Gates start near 1 (bias 2).
    camera : dict, optional
        Mono, one charge channel: the convolutions draw the *expected* signal
        (``a * expm1(b * softplus(x))`` p.e., ``a``, ``b`` of the charge
        normalisation) and a :class:`~ctgans.models.camera.CameraResponse` built
        from these settings adds the camera noise per camera pixel and normalises.
        ``camera_arrays`` gives its matrices and pedestal table when training starts.
    source_frame : dict, optional
        Needs ``camera``. ``{"label_index": [ix, iy], "affine": [[...3], [...3]],
        "origin": [row, col]}``: the signal is drawn in a frame with the source at
        ``origin`` and the image axis along +column, then rotated by
        ``atan2(z0 + m0(labels), z1 + m1(labels))`` and moved to the source pixel
        ``affine @ (label_x, label_y, 1)`` (standardised labels ``ix``, ``iy``)
        (:func:`~ctgans.models.camera.source_frame_warp`).
    shower_envelope : bool
        Needs ``source_frame``: the source-frame signal is multiplied by one
        Gaussian window per image (:func:`~ctgans.models.envelope.shower_envelope`,
        its centre, length and width a dense function of z and the labels).
    envelope_rate : float
        The envelope's dense outputs are this factor times the layer's (its
        initial bias divided by it): Adam moves every weight by about the
        learning rate per step, so at 1 the window's centre and sizes (grid
        pixels) cannot move more than ~0.4 pixels in 2 000 steps.
    envelope_distance : dict, optional
        Needs ``shower_envelope``. ``{"coefficients": [...], "residual_sd": s}``
        (:func:`ctgans.train.envelope_fit.fit_envelope`): the window's centre is
        not learned but held at the training images' distance from the source at
        these labels, drawn log-normally with the noise ``z[:, 2]``
        (:func:`~ctgans.models.envelope.envelope_distance`).
    envelope_length : dict, optional
        Needs ``shower_envelope``. The same kind of fit, of the training images'
        rms length, with a ``"factor"``: the window's length is held at that many
        times it (:func:`~ctgans.models.envelope.envelope_length`). The width learns.
        With ``"spread": true`` the length is drawn log-normally at the labels with
        the noise ``z[:, 4]``, correlated with the distance's ``z[:, 2]`` as
        ``"distance_correlation"`` says (:func:`~ctgans.models.envelope.length_noise`).
    shower_intensity : dict, optional
        Needs ``camera``. The fit of the training images' light (p.e.) at these
        labels (:func:`ctgans.train.envelope_fit.fit_intensity`): the camera layer
        scales the drawn expected light to a total drawn log-normally with the
        noise ``z[:, 3]`` (:func:`~ctgans.models.envelope.shower_intensity`), so the
        network draws only where the light goes.
    shower_containment : dict, optional
        Needs ``envelope_distance`` and rendering on camera pixels.
        ``{"centre": [row, col], "radius": r}`` (isotropic pixels;
        :func:`ctgans.train.envelope_fit.fit_containment`): the image axis' angle
        around the source is drawn uniformly among those that keep the held
        window's centre within ``r`` of the camera's centre, where the training
        images' light lies (:func:`~ctgans.models.envelope.contained_angle`),
        instead of from ``z[:, :2]`` with a learned shift.
    window_coordinates : bool
        Needs ``shower_envelope``. The output convolution also reads four
        channels of each image's window in the source frame
        (:meth:`_window_channels`), so that it can place light relative to the
        window its output is multiplied by.
    window_channels : sequence of str
        Which of them (:data:`ctgans.choices.WINDOW_CHANNELS`, all by default).
    envelope_at : {"canvas", "pixels"}
        Where the shower envelope multiplies the signal: on the canvas (width at
        least 0.5 grid pixels), or, with rendering on camera pixels
        (``source_frame`` ``iso_scale``), exactly at each pixel's sample points,
        where a window narrower than a canvas pixel (width down to 0.05) is drawn
        as narrow as it is.
    canvas_scale : {1, 2}
        Needs ``source_frame``. 2: the source-frame canvas has twice the grid's
        resolution (the output convolution draws 4 sub-pixels per grid pixel,
        rearranged depth-to-space), and each grid pixel averages the rotated
        canvas at its 2 x 2 sub-pixel centres. A bilinear rotation of a canvas at
        the grid's own resolution widens narrow showers (Hillas width of simulated
        images rotated so: +28 %, RESULTS.md); at twice the resolution it does not.
    label_film : bool
        Labels at every block (FiLM, Perez et al. 2018; conditional normalisation):
        after each normalisation (each convolution without one) the features are
        scaled and shifted per channel, ``x * (1 + g(labels)) + b(labels)``, with
        ``g``, ``b`` dense layers starting at zero (the unconditioned network).
    precision : {"float32", "bfloat16"}
        ``"bfloat16"``: the dense, convolution and normalisation layers compute in
        bfloat16 (variables float32, Keras' ``mixed_bfloat16``); inputs, the
        camera layer, the source-frame warp and the output stay float32.
    """

    def __init__(
        self,
        image_shape,
        n_labels: int,
        latent_dim: int = 128,
        base_filters: int = 128,
        upsampling: str = "transpose",
        normalization: str = "batch",
        channel_activations=None,
        fixed_mask=None,
        fixed_values=None,
        empty_values=None,
        camera=None,
        source_frame=None,
        camera_arrays=None,
        precision: str = "float32",
        label_film: bool = False,
        canvas_scale: int = 1,
        shower_envelope: bool = False,
        envelope_rate: float = 1.0,
        envelope_distance=None,
        envelope_length=None,
        shower_intensity=None,
        envelope_at: str = "canvas",
        shower_containment=None,
        window_coordinates: bool = False,
        window_channels=WINDOW_CHANNELS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = check_image_shape(image_shape, "Generator")
        channel_activations = check_generator_options(
            image_shape=self.image_shape,
            n_labels=n_labels,
            latent_dim=latent_dim,
            upsampling=upsampling,
            normalization=normalization,
            channel_activations=channel_activations,
            camera=camera,
            source_frame=source_frame,
            label_film=bool(label_film),
            canvas_scale=int(canvas_scale),
            shower_envelope=bool(shower_envelope),
            envelope_distance=envelope_distance,
            envelope_length=envelope_length,
            shower_intensity=shower_intensity,
            envelope_at=envelope_at,
            shower_containment=shower_containment,
            window_coordinates=bool(window_coordinates),
            window_channels=tuple(window_channels),
        )
        self.window_coordinates = bool(window_coordinates)
        self.window_channels = tuple(window_channels)
        self.envelope_at = envelope_at
        self.shower_containment = shower_containment
        self.label_film = bool(label_film)
        self.film_layers = []
        self._film_after = {}
        self.canvas_scale = int(canvas_scale)
        self.shower_envelope = bool(shower_envelope)
        self.envelope_distance = envelope_distance
        self.envelope_length = envelope_length
        self.shower_intensity = shower_intensity
        self.precision = precision
        self._dtype = layer_dtype(precision)
        channels = self.image_shape[-1]
        self.n_labels = int(n_labels)
        self.latent_dim = int(latent_dim)
        self.base_filters = int(base_filters)
        self.upsampling = upsampling
        self.normalization = normalization
        self.channel_activations = channel_activations
        self._activations = [keras.activations.get(a) for a in channel_activations]
        self.fixed_mask = fixed_mask
        self.fixed_values = fixed_values
        self._free, self._fixed = fixed_pixel_arrays(
            fixed_mask, fixed_values, self.image_shape
        )

        self.empty_values = None
        self.gate = None
        if empty_values is not None:
            self.empty_values = [float(v) for v in empty_values]
            if len(self.image_shape) != 4 or len(self.empty_values) != channels:
                raise ValueError(
                    "Generator: `empty_values` needs stereo images (T, H, W, C) and "
                    f"one value per channel; received image_shape {self.image_shape} "
                    f"and {len(self.empty_values)} values"
                )
            self.gate = keras.layers.Dense(
                self.image_shape[0],
                bias_initializer=keras.initializers.Constant(GATE_BIAS),
                name="generator_telescope_gate",
            )

        self.camera = None if camera is None else dict(camera)
        self.source_frame = None if source_frame is None else dict(source_frame)
        self.camera_response = self.angle_shift = None
        if self.camera is not None:
            self.camera_response = CameraResponse(
                **self.camera,
                **(camera_arrays or {}),
                name="generator_camera",
                dtype="float32",
            )
        if self.source_frame is not None and shower_containment is None:
            self.angle_shift = keras.layers.Dense(
                2,
                kernel_initializer="zeros",
                name="generator_angle_shift",
                dtype="float32",
            )
        self.envelope_rate = float(envelope_rate)
        self.envelope = (
            envelope_layer(self.envelope_rate, MIN_WIDTH[envelope_at])
            if self.shower_envelope
            else None
        )

        height, width = self.image_shape[-3:-1]
        n_blocks, seed_h, seed_w = upsampling_plan(height, width)
        self.n_blocks = n_blocks
        self.seed_shape = (seed_h, seed_w, self.base_filters)
        use_bias = normalization == "none"

        self.project = keras.layers.Dense(
            seed_h * seed_w * self.base_filters,
            use_bias=use_bias,
            name="generator_project",
            dtype=self._dtype,
        )
        self.project_norm = normalization_layer(
            normalization, "generator_project_norm", self._dtype
        )
        self.body = []
        filters = self.base_filters
        for i in range(1, n_blocks + 1):
            filters = max(filters // 2, MIN_FILTERS)
            self.body.extend(self._block(i, filters, use_bias))
        padded = (seed_h * 2**n_blocks, seed_w * 2**n_blocks)
        telescopes = self.image_shape[0] if len(self.image_shape) == 4 else 1
        self.to_image = keras.layers.Conv2D(
            channels * telescopes * self.canvas_scale**2,
            3,
            padding="same",
            name="generator_output_conv",
            dtype=self._dtype,
        )
        crop_h, crop_w = padded[0] - height, padded[1] - width
        self._padded, self._crop_offset = padded, (crop_h // 2, crop_w // 2)
        self.crop = keras.layers.Cropping2D(
            ((crop_h // 2, crop_h - crop_h // 2), (crop_w // 2, crop_w - crop_w // 2)),
            name="generator_crop",
        )

    def _block(self, index: int, filters: int, use_bias: bool) -> list:
        layers = upsampling_block(
            f"generator_block{index}",
            filters,
            self.upsampling,
            self.normalization,
            use_bias,
            self._dtype,
        )
        if self.label_film:
            # After each normalisation, or each convolution where there is none.
            none = self.normalization == "none"
            kinds = ("_upconv", "_conv") if none else ("_norm1", "_norm2")
            for layer in (la for la in layers if la.name.endswith(kinds)):
                self._film_after[layer.name] = len(self.film_layers)
                self.film_layers.append(film_layer(layer.name, filters, self._dtype))
        return layers

    def build(self, input_shape):
        # Run call on symbolic tensors: every sub-layer builds on its real input.
        z_shape, label_shape = input_shape
        self.call((keras.KerasTensor(z_shape), keras.KerasTensor(label_shape)))

    def call(self, inputs, training=None, pixels=False):
        """``(z, labels)`` -> images; ``pixels`` (camera-aware, mono): the camera
        pixels' charges in p.e., ``(B, n_pixels)``, before the grid mapping."""
        z, labels = inputs
        conditions = ops.concatenate([z, labels], axis=-1) if self.n_labels else z
        x = self.project(conditions)
        if self.project_norm is not None:
            x = self.project_norm(x, training=training)
        x = ops.leaky_relu(ops.reshape(x, (-1, *self.seed_shape)), 0.2)
        for layer in self.body:
            x = layer(x, training=training)
            if layer.name in self._film_after:
                x = apply_film(
                    x, labels, self.film_layers[self._film_after[layer.name]]
                )
        if self.window_coordinates:
            window = self._window_channels(z, labels)
            x = ops.concatenate([x, ops.cast(window, x.dtype)], axis=-1)
        x = ops.cast(self.crop(self.to_image(x)), "float32")
        if self.camera_response is not None:
            return self._through_camera(x, z, labels, pixels)
        if len(self.image_shape) == 4:
            telescopes, height, width, channels = self.image_shape
            x = ops.reshape(x, (-1, height, width, telescopes, channels))
            x = ops.transpose(x, (0, 3, 1, 2, 4))
        x = ops.concatenate(
            [act(x[..., i : i + 1]) for i, act in enumerate(self._activations)],
            axis=-1,
        )
        if self.gate is not None:
            gate = ops.sigmoid(self.gate(conditions))[:, :, None, None, None]
            empty = ops.convert_to_tensor(self.empty_values, dtype=x.dtype)
            x = gate * x + (1.0 - gate) * empty
        if self._free is not None:
            x = x * self._free + self._fixed
        return x

    def source_position(self, labels):
        """``(B, 2)`` (row, column) of the requested source on the square grid."""
        frame = self.source_frame
        return source_position(labels, frame["label_index"], frame["affine"])

    def _envelope_inputs(self, z, labels):
        # The envelope layer's outputs, and the held centre and length (or None).
        params = self.envelope_rate * self.envelope(
            ops.concatenate([z, labels], axis=-1)
        )
        centre = length = None
        if self.envelope_distance is not None:
            centre = envelope_distance(labels, z[:, 2], self.envelope_distance)
        if self.envelope_length is not None:
            noise = None
            if self.envelope_length.get("spread", False):
                # Correlated with the drawn distance only where one is drawn.
                fit = self.envelope_length
                if self.envelope_distance is None:
                    fit = {**fit, "distance_correlation": 0.0}
                noise = length_noise(z[:, 2], z[:, 4], fit)
            length = envelope_length(labels, self.envelope_length, noise)
        return params, centre, length

    def envelope_window(self, z, labels):
        """The shower envelope's centre, length and width, ``(B,)`` grid pixels
        each, for these inputs (needs ``shower_envelope``)."""
        return envelope_geometry(
            *self._envelope_inputs(z, labels), MIN_WIDTH[self.envelope_at]
        )

    def _window_channels(self, z, labels):
        """``(B, H', W', C)`` on the network's padded grid, the
        ``window_channels`` of these (all four by default): the held window of
        each image in the source frame (``exp(-(a^2 + b^2) / 2)``), its profiles
        along (``exp(-a^2 / 2)``) and across (``exp(-b^2 / 2)``) the axis, and
        ``tanh(a)`` (which end of the window), with ``a`` the offset along the
        axis from the window's centre in units of its length and ``b`` the
        offset across it in units of its width (CoordConv-style: the output
        convolution places light relative to the window it is multiplied by,
        which a convolution cannot infer from a dense seed)."""
        centre, length, width = (
            v[:, None, None] for v in self.envelope_window(z, labels)
        )
        top, left = self._crop_offset
        origin_row, origin_col = self.source_frame["origin"]
        rows = ops.arange(self._padded[0], dtype="float32") - (top + origin_row)
        cols = ops.arange(self._padded[1], dtype="float32") - (left + origin_col)
        along = (cols[None, None, :] - centre) / length  # (B, 1, W')
        across = rows[None, :, None] / width  # (B, H', 1)
        profile_along = ops.exp(-0.5 * ops.square(along))
        profile_across = ops.exp(-0.5 * ops.square(across))
        ones = ops.ones_like(profile_along * profile_across)
        channels = {
            "window": lambda: profile_along * profile_across,
            "along": lambda: profile_along * ones,
            "across": lambda: profile_across * ones,
            "end": lambda: ops.tanh(along) * ones,
        }
        return ops.stack([channels[name]() for name in self.window_channels], -1)

    def _through_camera(self, raw, z, labels, pixels=False):
        if self.canvas_scale == 2:
            raw = depth_to_space2(raw)
        signal = expected_signal(raw, self.camera)
        window = None
        if self.envelope is not None and self.envelope_at == "pixels":
            window = self.envelope_window(z, labels)
        elif self.envelope is not None:
            params, centre, length = self._envelope_inputs(z, labels)
            origin = tuple(self.source_frame["origin"])
            signal = signal * shower_envelope(
                *signal.shape[1:3],
                origin,
                params,
                scale=self.canvas_scale,
                centre=centre,
                length=length,
            )
        intensity = None
        if self.shower_intensity is not None:
            intensity = shower_intensity(labels, z[:, 3], self.shower_intensity)
        if self.source_frame is None:
            x = self.camera_response(signal, intensity=intensity, pixels=pixels)
        else:
            origin = tuple(self.source_frame["origin"])
            source = self.source_position(labels)
            if self.shower_containment is None:
                shift = self.angle_shift(labels)
                angle = ops.arctan2(z[:, 0] + shift[:, 0], z[:, 1] + shift[:, 1])
            if "iso_scale" in self.source_frame:  # render: pixels
                source = source * ops.convert_to_tensor(
                    self.source_frame["iso_scale"], "float32"
                )
                if self.shower_containment is not None:
                    centre = envelope_distance(labels, z[:, 2], self.envelope_distance)
                    angle = contained_angle(
                        source, centre, z[:, :2], self.shower_containment
                    )
                x = self.camera_response(
                    signal,
                    intensity=intensity,
                    source=source,
                    angle=angle,
                    frame=(origin, self.canvas_scale),
                    window=window,
                    pixels=pixels,
                )
            else:
                signal = source_frame_warp(
                    signal, source, angle, origin, scale=self.canvas_scale
                )
                x = self.camera_response(signal, intensity=intensity, pixels=pixels)
        if self._free is not None and not pixels:
            x = x * self._free + self._fixed
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            n_labels=self.n_labels,
            latent_dim=self.latent_dim,
            base_filters=self.base_filters,
            upsampling=self.upsampling,
            normalization=self.normalization,
            channel_activations=self.channel_activations,
            fixed_mask=self.fixed_mask,
            fixed_values=self.fixed_values,
            empty_values=self.empty_values,
            camera=self.camera,
            source_frame=self.source_frame,
            precision=self.precision,
            label_film=self.label_film,
            canvas_scale=self.canvas_scale,
            envelope_at=self.envelope_at,
            shower_envelope=self.shower_envelope,
            envelope_rate=self.envelope_rate,
            envelope_distance=self.envelope_distance,
            envelope_length=self.envelope_length,
            shower_intensity=self.shower_intensity,
            shower_containment=self.shower_containment,
            window_coordinates=self.window_coordinates,
            window_channels=list(self.window_channels),
        )
        return config
