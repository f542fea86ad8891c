"""Camera-aware generator stages: the camera response and the source frame.

Both are fixed (non-trained) differentiable maps between what the generator's
convolutions draw and what the critic sees; their constants come from the training
data and the camera geometry (:mod:`ctgans.train.camera_model`) and are saved as
non-trainable weights, so a loaded ``generator.keras`` needs nothing else.

``CameraResponse``
    The generator draws the *expected* Cherenkov signal per square-grid pixel
    (p.e., non-negative); this layer takes it to camera pixels (the mapper's
    regularised inverse), adds the camera's noise per camera pixel, and maps back
    with the mapper's own matrix, then applies the charge normalisation. Noise per
    pixel: photon statistics with an excess-noise factor, ``mu + sqrt(F^2 mu) n``
    with ``n ~ N(0, 1)`` (reparameterised, so gradients reach ``mu``), plus a
    pedestal (night-sky background and electronics) drawn from the empirical
    distribution of signal-free pixel charges of the training images (inverse-CDF
    sampling of stored quantiles). ``F^2`` is learned (it is not observable
    without the true signal); the pedestal is measured.

``source_frame_warp``
    The generator draws the shower in a frame centred on the requested source
    position with the image axis along +x; the warp rotates that canvas by an angle
    drawn from the noise (and shifted by the labels) and translates it to the source
    position in the camera. The image axis then points back to the source by
    construction, as the Hillas axis of a gamma-ray shower does.

The shower envelope and the held fits are in :mod:`ctgans.models.envelope`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ctgans.models.pixel_render import bilinear_sample, render_on_pixels

__all__ = [
    "CameraResponse",
    "image_moments",
    "network_charges",
    "source_position",
    "source_frame_warp",
]

# Camera model: an untrained network (outputs ~0) starts with ~0.5 p.e. per grid
# pixel of expected signal, not with a camera full of light.
SIGNAL_OFFSET = -3.0
MIN_VARIANCE = 1e-4  # p.e.^2 inside the square root: finite gradient at mu = 0
AXIS_GUARD = 0.01  # pixels^4 (image_moments; compact gammas: (L^2 - W^2)/2 ~ 0.5)
LENGTH_GUARD = 0.01  # pixels^2
DIRECTION_GUARD = 4.0  # pixels^2
INTENSITY_GUARD = 1e-3  # p.e.: a held intensity divides by the drawn light plus this


@keras.saving.register_keras_serializable(package="ctgans")
class CameraResponse(keras.layers.Layer):
    """Expected signal on the square grid (p.e.) -> noisy, normalised square image.

    Parameters
    ----------
    image_size : int
        ``H`` (= ``W``) of the square images.
    n_pixels : int
        Camera pixels.
    n_quantiles : int
        Length of the pedestal quantile table.
    charge_scale, charge_divisor : float
        ``a`` and ``b`` of the charge normalisation ``sign(q) log1p(|q|/a) / b``.
    excess_noise_init : float
        Initial ``F^2`` of the photon statistics.
    seed : int
        Seed of the noise draws.
    render_points : int
        0: the signal is drawn on the square grid (``render: grid``). ``K > 0``
        (``render: pixels``): the layer is called with a source-frame canvas and
        samples it at ``K`` points of each camera pixel
        (:func:`ctgans.models.pixel_render.render_on_pixels`).
    to_camera, to_square, pedestal_quantiles : numpy.ndarray, optional
        ``(H*W, n_pixels)``, ``(n_pixels, H*W)`` and ``(n_quantiles,)``; given when
        the layer is created for training, absent when it is loaded (the weights
        file holds them).
    pixel_points, pixel_weights : numpy.ndarray, optional
        With ``render_points``: ``(n_pixels, K, 2)`` and ``(n_pixels,)``
        (:func:`ctgans.models.pixel_render.pixel_points`), given like the others.
    """

    def __init__(
        self,
        image_size: int,
        n_pixels: int,
        n_quantiles: int,
        charge_scale: float,
        charge_divisor: float,
        excess_noise_init: float = 1.2,
        seed: int = 0,
        render_points: int = 0,
        to_camera=None,
        to_square=None,
        pedestal_quantiles=None,
        pixel_points=None,
        pixel_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.n_pixels = int(n_pixels)
        self.n_quantiles = int(n_quantiles)
        self.charge_scale = float(charge_scale)
        self.charge_divisor = float(charge_divisor)
        self.excess_noise_init = float(excess_noise_init)
        self.seed = int(seed)
        self.render_points = int(render_points)
        self._initial = (
            to_camera,
            to_square,
            pedestal_quantiles,
            pixel_points,
            pixel_weights,
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="camera_seed")

    def _constant(self, name, shape, value):
        initializer = (
            "zeros"
            if value is None
            else keras.initializers.Constant(np.asarray(value, np.float32))
        )
        return self.add_weight(
            name=name, shape=shape, initializer=initializer, trainable=False
        )

    def build(self, input_shape):
        to_camera, to_square, quantiles, points, weights = self._initial
        size2 = self.image_size**2
        self.to_camera = self._constant("to_camera", (size2, self.n_pixels), to_camera)
        self.to_square = self._constant("to_square", (self.n_pixels, size2), to_square)
        self.pedestal = self._constant("pedestal", (self.n_quantiles,), quantiles)
        if self.render_points:
            self.pixel_points = self._constant(
                "pixel_points", (self.n_pixels, self.render_points, 2), points
            )
            self.pixel_weights = self._constant(
                "pixel_weights", (self.n_pixels,), weights
            )
        # F^2 = 1 + softplus(raw): at least Poisson.
        raw = math.log(math.expm1(max(self.excess_noise_init - 1.0, 1e-3)))
        self.excess_raw = self.add_weight(
            name="excess_noise_raw",
            shape=(),
            initializer=keras.initializers.Constant(raw),
            trainable=True,
        )
        self._initial = (None,) * 5

    def reseed(self, seed: int) -> None:
        """Restart the noise draws from ``seed`` (a loaded generator otherwise
        repeats the training seed's sequence in every process)."""
        state = self.seed_generator.state
        state.assign(np.asarray([int(seed), 0], dtype=state.dtype))

    @property
    def excess_noise(self):
        """``F^2``, the variance of the charge per p.e. of signal."""
        return 1.0 + ops.softplus(self.excess_raw)

    def expected_pixels(self, signal):
        """``(B, H, W, 1)`` expected p.e. on the grid -> ``(B, n_pixels)`` >= 0."""
        flat = ops.reshape(signal, (-1, self.image_size**2))
        return ops.relu(ops.matmul(flat, self.to_camera))

    def sample_pedestal(self, shape):
        """Pedestal charges by inverse-CDF sampling of the quantile table."""
        u = keras.random.uniform(shape, 0.0, 1.0, seed=self.seed_generator)
        position = u * (self.n_quantiles - 1)
        low = ops.cast(ops.floor(position), "int32")
        high = ops.minimum(low + 1, self.n_quantiles - 1)
        frac = position - ops.cast(low, position.dtype)
        q_low = ops.take(self.pedestal, low)
        q_high = ops.take(self.pedestal, high)
        return q_low + frac * (q_high - q_low)

    def call(
        self,
        signal,
        intensity=None,
        source=None,
        angle=None,
        frame=None,
        window=None,
        pixels=False,
    ):
        """``intensity`` ``(B,)`` p.e., when given: the expected light summed over
        the camera pixels is scaled to it (:func:`shower_intensity`), so that the
        drawn signal sets only where the light goes.

        With ``render_points``, ``signal`` is the source-frame canvas and
        ``source`` ``(B, 2)`` (isotropic pixels), ``angle`` ``(B,)`` and ``frame``
        ``(origin_rc, scale)`` place it, and ``window`` (``envelope_at: pixels``)
        is the shower envelope evaluated at the sample points
        (:func:`render_on_pixels`); otherwise ``signal`` is on the square grid.
        ``pixels``: return the camera pixels' charges (p.e., ``(B, n_pixels)``)
        instead of mapping them to the grid and normalising."""
        if self.render_points:
            origin, scale = frame
            mu = render_on_pixels(
                signal,
                self.pixel_points,
                self.pixel_weights,
                source,
                angle,
                origin,
                scale,
                window,
            )
        else:
            mu = self.expected_pixels(signal)
        if intensity is not None:
            total = ops.sum(mu, axis=-1, keepdims=True) + INTENSITY_GUARD
            mu = mu * (ops.cast(intensity, mu.dtype)[:, None] / total)
        shape = ops.shape(mu)
        normal = keras.random.normal(shape, seed=self.seed_generator)
        charge = mu + ops.sqrt(self.excess_noise * mu + MIN_VARIANCE) * normal
        charge = charge + self.sample_pedestal(shape)
        if pixels:
            return charge
        square = ops.matmul(charge, self.to_square)
        square = ops.reshape(square, (-1, self.image_size, self.image_size, 1))
        return (
            ops.sign(square)
            * ops.log1p(ops.abs(square) / self.charge_scale)
            / self.charge_divisor
        )

    def compute_output_shape(self, input_shape, *args, **kwargs):
        """``(B, H, W, 1)`` whatever the input (grid signal or canvas)."""
        return (input_shape[0], self.image_size, self.image_size, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            n_pixels=self.n_pixels,
            n_quantiles=self.n_quantiles,
            charge_scale=self.charge_scale,
            charge_divisor=self.charge_divisor,
            excess_noise_init=self.excess_noise_init,
            seed=self.seed,
            render_points=self.render_points,
        )
        return config


def source_frame_warp(canvas, source_rc, angle, origin_rc, scale: int = 1):
    """Rotate and translate canonical canvases into the camera's square grid.

    Parameters
    ----------
    canvas : tensor
        ``(B, H, W, 1)`` images drawn in the source frame: the source at pixel
        ``origin_rc`` (row, column), the image axis along +column.
    source_rc : tensor
        ``(B, 2)`` requested source positions on the output grid (row, column,
        fractional pixels).
    angle : tensor
        ``(B,)`` rotation angles (radians) of the canvas' +column axis in the
        output grid.
    origin_rc : tuple of float
        The source's pixel in the canvas.
    scale : int
        The canvas has ``scale`` times the output grid's resolution
        (``(B, scale H, scale W, 1)``; ``source_rc`` and ``origin_rc`` stay in
        output-grid pixels): each output pixel is the mean of the rotated canvas
        at its ``scale x scale`` sub-pixel centres, which keeps a narrow shower
        narrow where one bilinear sample per pixel widens it.

    Returns
    -------
    tensor
        ``(B, H, W, 1)``: output pixel ``p`` takes the canvas value at
        ``R(-angle) (p - source) + origin`` (bilinear, 0 outside the canvas).
    """
    if scale != 1:
        # A grid pixel's centre p lies at scale * p + (scale - 1) / 2 on the fine grid.
        offset = (scale - 1.0) / 2.0
        fine = source_frame_warp(
            canvas,
            source_rc * float(scale) + offset,
            angle,
            tuple(float(scale) * o + offset for o in origin_rc),
        )
        return ops.average_pool(fine, scale, strides=scale, padding="valid")
    height, width = canvas.shape[1], canvas.shape[2]
    rows = ops.arange(height, dtype="float32")[:, None] * ops.ones((1, width))
    cols = ops.ones((height, 1)) * ops.arange(width, dtype="float32")[None, :]
    d_row = rows[None] - source_rc[:, 0, None, None]
    d_col = cols[None] - source_rc[:, 1, None, None]
    cos, sin = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
    # Inverse rotation of (d_col, d_row) by the angle, in (x = column, y = row).
    c_col = cos * d_col + sin * d_row + origin_rc[1]
    c_row = -sin * d_col + cos * d_row + origin_rc[0]
    return bilinear_sample(canvas[..., 0], c_row, c_col)[..., None]


def source_position(labels, label_index, affine):
    """``(B, 2)`` (row, column) on the square grid of the source given by the
    standardised direction labels ``label_index`` (x, y), via ``affine`` (2, 3)."""
    ix, iy = label_index
    affine = ops.convert_to_tensor(np.asarray(affine, "float32"))
    labels = ops.cast(labels, "float32")
    xy1 = ops.stack(
        [labels[:, ix], labels[:, iy], ops.ones_like(labels[:, ix])], axis=-1
    )
    return ops.matmul(xy1, ops.transpose(affine))


def image_moments(charges, source_rc, threshold):
    """Differentiable Hillas-like moments of ``(B, H, W)`` charges (p.e.).

    Pixels count with weight ``relu(q - threshold)``. Returns ``(B, 8)``, in grid
    pixels divided by the image side ``H`` where a length: log10(1 + size), the
    centroid's offset from the source (row, column), its distance ``d``, length,
    width, the source's miss distance from the major axis, and
    ``cos(2 (axis - (source - centroid) direction))`` (1: the axis points to the
    source). Everything is a polynomial of the moments plus guarded square roots,
    so the gradient exists everywhere (the gradient penalty needs it).
    """
    charges = ops.cast(charges, "float32")
    height, width = charges.shape[1], charges.shape[2]
    rows = ops.arange(height, dtype="float32")[:, None] * ops.ones((1, width))
    cols = ops.ones((height, 1)) * ops.arange(width, dtype="float32")[None, :]
    w = ops.relu(charges - threshold)
    size = ops.sum(w, axis=(1, 2))
    norm = size + 1.0
    m_r = ops.sum(w * rows, axis=(1, 2)) / norm
    m_c = ops.sum(w * cols, axis=(1, 2)) / norm
    dr = rows[None] - m_r[:, None, None]
    dc = cols[None] - m_c[:, None, None]
    c_rr = ops.sum(w * dr * dr, axis=(1, 2)) / norm
    c_cc = ops.sum(w * dc * dc, axis=(1, 2)) / norm
    c_rc = ops.sum(w * dr * dc, axis=(1, 2)) / norm
    half_diff = (c_cc - c_rr) / 2.0
    # Guards in grid pixels^2: a round image or a centroid on the source has an
    # undefined axis or direction, and the gradient must stay bounded there (the
    # critic's gradient penalty sees it).
    root = ops.sqrt(half_diff**2 + c_rc**2 + AXIS_GUARD)
    mean = (c_cc + c_rr) / 2.0
    length = ops.sqrt(ops.relu(mean + root) + LENGTH_GUARD)
    width_ = ops.sqrt(ops.relu(mean - root) + LENGTH_GUARD)
    cos2, sin2 = half_diff / root, c_rc / root  # axis angle, doubled (x = column)
    # Source minus centroid, in (x = column, y = row).
    sx = source_rc[:, 1] - m_c
    sy = source_rc[:, 0] - m_r
    d2 = sx**2 + sy**2
    along = (sx**2 - sy**2) * cos2 + 2.0 * sx * sy * sin2
    miss = ops.sqrt(ops.relu(d2 - along) / 2.0 + LENGTH_GUARD)
    distance = ops.sqrt(d2 + LENGTH_GUARD)
    alignment = along / (d2 + DIRECTION_GUARD)
    side = float(height)
    return ops.stack(
        [
            ops.log10(1.0 + size) / 4.0,
            sy / side,
            sx / side,
            distance / side,
            length / side,
            width_ / side,
            miss / side,
            alignment,
        ],
        axis=-1,
    )


def network_charges(y, charge_scale: float, charge_divisor: float):
    """Network units -> p.e.: the inverse of the charge transform
    ``sign(q) log(1 + |q| / a) / b`` (:mod:`ctgans.data.normalize`), as a tensor."""
    y = ops.cast(y, "float32")
    return ops.sign(y) * charge_scale * ops.expm1(charge_divisor * ops.abs(y))


def expected_signal(raw, camera: dict):
    """Network output -> expected p.e. per grid pixel (the charge transform's
    inverse applied to ``softplus``: the same scale as the training images)."""
    y = ops.minimum(ops.softplus(raw + SIGNAL_OFFSET), 1.5)
    return camera["charge_scale"] * ops.expm1(camera["charge_divisor"] * y)
