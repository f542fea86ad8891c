"""The shower envelope and the held fits: what limits where and how much light
the generator draws in the source frame.

``shower_envelope``
    One Gaussian window per image around the shower in the source frame (its
    centre, length and width from a dense layer of z and the labels, or the
    centre and length held at fits of the training images).
``envelope_distance``, ``envelope_length``, ``shower_intensity``
    The held fits (:mod:`ctgans.train.envelope_fit`): log-quadratic in the
    standardised labels, drawn log-normally with one noise column each.
``contained_angle``
    The image axis' angle around the source drawn uniformly among those that
    keep the held window's centre where the training images' light lies.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

#: Initial envelope in grid pixels: centre 8 px from the source along the axis,
#: 6 px long and 3 px wide (1 sigma): wider than any toy shower at 43 x 43.
ENVELOPE_INIT = (8.0, 6.0, 3.0)


def shower_envelope(
    height: int, width: int, origin_rc, params, scale: int = 1, centre=None, length=None
):
    """A Gaussian window around one shower in the source frame, ``(B, H, W, 1)``.

    ``params`` ``(B, 3)`` (free network outputs) give, in grid pixels, the
    window's centre along the axis from the source ``softplus(p0)``, its length
    ``1 + softplus(p1)`` and width ``0.5 + softplus(p2)`` (standard deviations).
    ``centre`` and ``length`` ``(B,)`` (grid pixels), when given, replace
    ``softplus(p0)`` and ``1 + softplus(p1)`` (:func:`envelope_distance`,
    :func:`envelope_length`). The canvas (``scale`` times the grid's
    resolution, source at ``origin_rc`` in grid pixels, axis along +column) is
    multiplied by it, so light far from the one shower (a second blob) cannot be
    drawn.
    """
    offset = (scale - 1.0) / 2.0
    rows = (ops.arange(height, dtype="float32") - offset) / scale - origin_rc[0]
    cols = (ops.arange(width, dtype="float32") - offset) / scale - origin_rc[1]
    geometry = envelope_geometry(params, centre, length)
    window = envelope_window(cols[None, None, :], rows[None, :, None], geometry)
    return window[..., None]


#: The narrowest window (grid pixels, 1 sigma) on the canvas, and evaluated at the
#: camera pixels' sample points (``envelope_at: pixels``), where it is exact.
MIN_WIDTH = {"canvas": 0.5, "pixels": 0.05}


def envelope_geometry(params, centre=None, length=None, min_width: float = 0.5):
    """The :func:`shower_envelope` window's centre, length and width, ``(B,)``
    grid pixels each, from its ``params`` ``(B, 3)`` (or the held ``centre`` and
    ``length``); the width is at least ``min_width``."""
    if centre is None:
        centre = ops.softplus(params[:, 0])
    if length is None:
        length = 1.0 + ops.softplus(params[:, 1])
    width = min_width + ops.softplus(params[:, 2])
    return tuple(ops.cast(v, "float32") for v in (centre, length, width))


def label_features(labels):
    """``(B, F)`` terms of a quadratic in the standardised ``labels`` ``(B, L)``:
    1, each label, and each product of two (``i <= j``); ``F = 1 + L + L(L+1)/2``."""
    labels = ops.cast(labels, "float32")
    terms = [ops.ones_like(labels[:, :1]), labels]
    for i in range(labels.shape[-1]):
        terms.append(labels[:, i : i + 1] * labels[:, i:])
    return ops.concatenate(terms, axis=-1)


#: A held envelope centre stays within these grid pixels of the source.
ENVELOPE_CENTRE_RANGE = (0.25, 40.0)


def _log_quadratic(labels, fit: dict):
    coefficients = ops.convert_to_tensor(
        np.asarray(fit["coefficients"], "float32")[:, None]
    )
    return ops.matmul(label_features(labels), coefficients)[:, 0]


def envelope_distance(labels, noise, fit: dict):
    """``(B,)`` envelope centres (grid pixels from the source) held at the image
    distance of the training images: ``exp(label_features(labels) @ c + s * noise)``
    with ``fit`` = ``{"coefficients": c, "residual_sd": s}``
    (:func:`ctgans.train.envelope_fit.fit_envelope`), ``noise`` ``(B,)``
    standard normal: a log-normal spread at given labels, as the data scatter."""
    log_distance = _log_quadratic(labels, fit)
    log_distance = log_distance + float(fit["residual_sd"]) * ops.cast(noise, "float32")
    return ops.clip(ops.exp(log_distance), *ENVELOPE_CENTRE_RANGE)


def envelope_length(labels, fit: dict, noise=None):
    """``(B,)`` envelope lengths (grid pixels) held at ``fit["factor"]`` times the
    training images' rms length at these labels, ``exp(label_features(labels) @ c)``
    (:func:`ctgans.train.envelope_fit.fit_envelope`), at least ``fit["min_px"]``
    (1 pixel unless the fit is deblurred). Where
    ``fit["spread"]``, the length is drawn: ``exp(... + s * noise)`` with the
    residuals' spread ``s`` and ``noise`` ``(B,)`` standard normal
    (:func:`length_noise`)."""
    log_length = _log_quadratic(labels, fit)
    if fit.get("spread", False):
        if noise is None:
            raise ValueError("envelope_length: a fit with spread needs the noise")
        log_length = log_length + float(fit["residual_sd"]) * ops.cast(noise, "float32")
    length = float(fit["factor"]) * ops.exp(log_length)
    return ops.clip(length, float(fit.get("min_px", 1.0)), ENVELOPE_CENTRE_RANGE[1])


def length_noise(distance_noise, own_noise, fit: dict):
    """``(B,)`` standard normal noise of a drawn length, correlated with the drawn
    distance's noise as the training images' residuals are
    (``fit["distance_correlation"]``): ``rho * d + sqrt(1 - rho^2) * e``."""
    rho = float(np.clip(fit.get("distance_correlation", 0.0), -1.0, 1.0))
    return rho * ops.cast(distance_noise, "float32") + float(
        np.sqrt(1.0 - rho**2)
    ) * ops.cast(own_noise, "float32")


#: A held image intensity stays within these p.e.
INTENSITY_RANGE = (1.0, 1e6)


def shower_intensity(labels, noise, fit: dict):
    """``(B,)`` total expected light (p.e., camera pixels) held at the training
    images': ``factor * exp(label_features(labels) @ c + s * noise)`` with ``fit``
    = ``{"coefficients": c, "residual_sd": s, "factor": f}``
    (:func:`ctgans.train.envelope_fit.fit_intensity`), ``noise`` ``(B,)`` standard
    normal: the log-normal spread of the light at given labels, as the data
    scatter it."""
    log_light = _log_quadratic(labels, fit)
    log_light = log_light + float(fit["residual_sd"]) * ops.cast(noise, "float32")
    return ops.clip(float(fit["factor"]) * ops.exp(log_light), *INTENSITY_RANGE)


def contained_angle(source, distance, noise, fit: dict):
    """``(B,)`` angles of the image axis around the source (as the source-frame
    rotation takes them: the window's centre lies at ``source + distance (sin a,
    cos a)``), uniform among the angles that keep that centre within
    ``fit["radius"]`` of ``fit["centre"]``
    (:func:`ctgans.train.envelope_fit.fit_containment`).

    ``source`` ``(B, 2)`` (row, column), ``distance`` ``(B,)`` and the fit in one
    frame's pixels; ``noise`` ``(B, 2)`` standard normal, whose polar angle is
    uniform. The training images passed the cuts on leakage and intensity: near
    the camera's edge their light lies inward of the source. A uniform angle
    puts such showers off the camera; this draws the uniform angle *given* that
    the centre stays inside, in closed form: with ``s`` the source's offset from
    the centre (polar angle ``phi``), the centre's squared radius is
    ``s^2 + d^2 + 2 s d cos(a - phi)``, so ``a - phi`` must lie in ``[t, 2 pi - t]``,
    ``t = arccos((R^2 - s^2 - d^2) / (2 s d))`` (clipped: every angle when the
    circle of radius ``d`` lies inside, straight inward when none does). The
    noise's angle relative to ``phi`` is squeezed linearly onto that arc, so
    where every angle is allowed the angle is the noise's own."""
    centre = ops.convert_to_tensor(np.asarray(fit["centre"], "float32"))
    offset = ops.cast(source, "float32") - centre[None, :]
    radius_sq = ops.sum(ops.square(offset), axis=-1)
    along = ops.sqrt(radius_sq)
    phi = ops.arctan2(offset[:, 0], offset[:, 1])
    distance = ops.cast(distance, "float32")
    limit = (float(fit["radius"]) ** 2 - radius_sq - ops.square(distance)) / (
        2.0 * ops.maximum(along, 1e-6) * ops.maximum(distance, 1e-6)
    )
    edge = ops.arccos(ops.clip(limit, -1.0, 1.0))
    noise = ops.cast(noise, "float32")
    # The noise's own angle relative to phi, uniform on [0, 2 pi), squeezed onto
    # the allowed arc: where every angle is allowed, it is the noise's angle.
    free = ops.arctan2(noise[:, 0], noise[:, 1])
    relative = ops.mod(free - phi, 2.0 * np.pi)
    share = 1.0 - edge / np.pi
    return ops.stop_gradient(phi + edge + relative * share)


def softplus_inverse(value: float) -> float:
    """The ``x`` with ``softplus(x) == value`` (an initial bias)."""
    return float(np.log(np.expm1(value)))


def envelope_window(along, across, geometry):
    """The window at source-frame points ``along`` / ``across`` the axis (grid
    pixels from the source, ``(B, ...)``), for ``geometry`` = (centre, length,
    width), ``(B,)`` each (:func:`envelope_geometry`)."""
    centre, length, width = (
        ops.reshape(v, (-1,) + (1,) * (len(along.shape) - 1)) for v in geometry
    )
    return ops.exp(
        -0.5 * (ops.square((along - centre) / length) + ops.square(across / width))
    )


def envelope_layer(rate: float = 1.0, min_width: float = 0.5) -> keras.layers.Dense:
    """The dense layer (z, labels) -> :func:`shower_envelope` parameters divided
    by ``rate``, which starts at :data:`ENVELOPE_INIT` for every image."""
    centre, length, width = ENVELOPE_INIT
    return keras.layers.Dense(
        3,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(
            [
                softplus_inverse(centre) / rate,
                softplus_inverse(length - 1.0) / rate,
                softplus_inverse(width - min_width) / rate,
            ]
        ),
        name="generator_envelope",
        dtype="float32",
    )
