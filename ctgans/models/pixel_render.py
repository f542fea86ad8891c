"""The source-frame canvas sampled at the camera's own pixels (``render: pixels``).

With ``model.generator.render: grid`` the rotated canvas is resampled onto the
square grid and taken to camera pixels by the mapper's regularised inverse,
which is a deconvolution: a shower narrower than a pixel comes out with negative
lobes (down to -30 % of its peak, clipped to 0) and positive ringing around it
(5-15 % of the peak), so it is drawn 1.6-3 times as wide as the toy simulator's
own pixel-integrated image of the same shower (RESULTS.md, "the mapper's
inverse rings"). Here each
camera pixel instead averages the canvas at ``K`` points spread over its area
(the pixel's centre and a ring whose spread matches the pixel shape's), which is
what a camera does: it integrates the light over the pixel.

The rotation is done in an *isotropic* frame: the square grid of a hexagonal
camera is not square in metres (MAGIC at 43 x 43: 0.0238 m a row, 0.0278 m a
column), so a shower rotated in grid pixels would change its width in metres
with its orientation. Canvas pixels are ``sqrt(row * column)`` metres on a side
(the grid pixel's area), and lengths drawn on the canvas mean the same in every
direction. The held envelope fits (:mod:`ctgans.train.envelope_fit`) are measured
in grid pixels; on this canvas they are off by the grid's anisotropy (MAGIC: up
to 8 %, depending on the shower's orientation).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ctgans.models.envelope import envelope_window

__all__ = ["RENDER_POINTS", "bilinear_sample", "pixel_points", "render_on_pixels"]

#: Sample points per camera pixel: the centre and a ring of six.
RENDER_POINTS = 7


def pixel_points(
    geometry, grid_fit, scale: int = 1, canvas_spread: bool = True
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Where each camera pixel samples the canvas.

    Parameters
    ----------
    geometry : ctapipe.instrument.CameraGeometry
        The mapper's (rotated) copy of the camera, in whose frame the grid lies.
    grid_fit : numpy.ndarray
        ``(3, 2)``: ``(x, y, 1) @ grid_fit`` is the (row, column) of a camera
        position (m) on the square grid.
    scale : int
        The canvas' resolution in isotropic pixels (``canvas_scale``).
    canvas_spread : bool
        The shape comes from the bilinearly sampled canvas, which spreads it
        already (the ring makes up the rest of the pixel's variance). False: from
        a window evaluated exactly at the points (``envelope_at: pixels``), so
        the ring carries the pixel's whole variance.

    Returns
    -------
    points : numpy.ndarray
        ``(n_pixels, RENDER_POINTS, 2)`` float32 (row, column) in isotropic canvas
        pixels (the grid's rows and columns rescaled by ``iso_scale``).
    weights : numpy.ndarray
        ``(n_pixels,)`` float32: a pixel's area over a grid pixel's, so that a
        canvas in p.e. per grid pixel gives p.e. per camera pixel.
    iso_scale : list of float
        ``[row, column]`` factors taking grid pixels to isotropic pixels.
    """
    linear = np.asarray(grid_fit, np.float64)[:2].T  # (row, col) per (x, y)
    to_metres = np.linalg.inv(linear)  # columns: metres per row, per column
    per_row, per_col = np.hypot(to_metres[0], to_metres[1])
    cell = np.sqrt(per_row * per_col)
    iso_scale = np.array([per_row / cell, per_col / cell])
    area = geometry.pix_area.to_value("m2")
    # A ring of six at radius rho plus the centre has a per-axis variance of
    # 3 rho^2 / 7. Bilinear sampling of a canvas of pixel h already spreads by
    # h^2 / 6 (a triangle kernel); the ring adds what the pixel shape's variance
    # (hexagon 5 A / (36 sqrt 3), square A / 12, circle A / (4 pi)) needs more.
    shape = str(getattr(geometry.pix_type, "value", geometry.pix_type)).lower()
    variance = {
        "hexagon": 5.0 * area / (36.0 * np.sqrt(3.0)),
        "circle": area / (4.0 * np.pi),
    }.get(shape, area / 12.0)
    if canvas_spread:
        variance = np.maximum(variance - (cell / scale) ** 2 / 6.0, 0.0)
    rho = np.sqrt(7.0 * variance / 3.0)
    angles = np.deg2rad(30.0 + 60.0 * np.arange(6))
    unit = np.concatenate([[[0.0, 0.0]], np.stack([np.cos(angles), np.sin(angles)], 1)])
    x = geometry.pix_x.to_value("m")[:, None] + rho[:, None] * unit[None, :, 0]
    y = geometry.pix_y.to_value("m")[:, None] + rho[:, None] * unit[None, :, 1]
    xy1 = np.stack([x, y, np.ones_like(x)], -1)
    points = (xy1 @ np.asarray(grid_fit, np.float64)) * iso_scale
    weights = area / (per_row * per_col)
    return points.astype(np.float32), weights.astype(np.float32), iso_scale.tolist()


def render_on_pixels(
    canvas, points, weights, source, angle, origin_rc, scale: int = 1, window=None
):
    """Expected p.e. per camera pixel, ``(B, n_pixels)``, from source-frame canvases.

    ``canvas`` ``(B, scale * H, scale * W, 1)`` (the source at ``origin_rc``,
    isotropic pixels of the output grid's area, the image axis along +column);
    ``points`` and ``weights`` from :func:`pixel_points`; ``source`` ``(B, 2)``
    the requested source in isotropic pixels; ``angle`` ``(B,)`` the rotation of
    the canvas' +column axis, as in
    :func:`~ctgans.models.camera.source_frame_warp`: a pixel's point ``p`` takes
    the canvas at ``R(-angle) (p - source) + origin``. ``window``, when given
    (``envelope_at: pixels``), is the shower envelope's (centre, length, width),
    ``(B,)`` each: evaluated exactly at every sample point, it multiplies the
    sampled canvas there (:func:`ctgans.models.envelope.envelope_window`).
    """
    points = ops.convert_to_tensor(points, "float32")
    d_row = points[None, :, :, 0] - source[:, 0, None, None]
    d_col = points[None, :, :, 1] - source[:, 1, None, None]
    cos, sin = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
    c_col = cos * d_col + sin * d_row + origin_rc[1]
    c_row = -sin * d_col + cos * d_row + origin_rc[0]
    offset = (scale - 1.0) / 2.0
    values = bilinear_sample(
        canvas[..., 0], scale * c_row + offset, scale * c_col + offset
    )
    if window is not None:
        along, across = c_col - origin_rc[1], c_row - origin_rc[0]
        values = values * envelope_window(along, across, window)
    return ops.mean(values, axis=-1) * ops.convert_to_tensor(weights, "float32")[None]


def bilinear_sample(images, rows, cols):
    """Sample ``(B, H, W)`` images at fractional ``(B, H', W')`` coordinates (0
    outside), with gathers on the flattened batch.

    The images are padded with zeros (one row and column before, two after) and
    the coordinates clipped to ``[-1, H]`` / ``[-1, W]``, so that the four
    neighbours of every sample lie in the padded image and a point outside
    reads zeros: no masks, and the four gathers share one index (a quarter
    cheaper forward and backward than masking each neighbour, BENCHMARKS.md)."""
    height, width = images.shape[1], images.shape[2]
    padded_width = width + 3
    flat = ops.reshape(ops.pad(images, ((0, 0), (1, 2), (1, 2))), (-1,))
    rows = ops.clip(rows, -1.0, float(height))
    cols = ops.clip(cols, -1.0, float(width))
    r0, c0 = ops.floor(rows), ops.floor(cols)
    fr, fc = rows - r0, cols - c0
    # Offset of each sample's image in the flattened padded batch.
    base = (ops.cumsum(ops.ones_like(rows[:, :1, :1]), axis=0) - 1.0) * (
        (height + 3) * padded_width
    )
    index = ops.cast(base + (r0 + 1.0) * padded_width + (c0 + 1.0), "int32")
    v00 = ops.take(flat, index)
    v01 = ops.take(flat, index + 1)
    v10 = ops.take(flat, index + padded_width)
    v11 = ops.take(flat, index + (padded_width + 1))
    top = v00 + fc * (v01 - v00)
    bottom = v10 + fc * (v11 - v10)
    return top + fr * (bottom - top)
