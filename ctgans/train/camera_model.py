"""The camera model of a run, fitted from its training data and camera geometry.

What :class:`ctgans.models.camera.CameraResponse` and the source-frame warp need:

* the mapper's matrix (camera pixels -> square grid), built by mapping the identity
  with dl1-data-handler's own mapper, and its regularised inverse
  (:class:`ctgans.generate.inverse_mapping.InverseMapper`);
* the pedestal distribution: charges of *signal-free* camera pixels of training
  images (the NSB matching of IACT analyses). Per image, pixels above 4 robust
  standard deviations of its own charges and two rings of neighbours around them
  are dropped; the rest are pooled and stored as a quantile table. No simulator
  setting is read: the same code runs on a user's files;
* the affine map from standardised ``cam_coord_offset_x/y`` labels to (row,
  column) of the square grid, fitted from the camera positions of the grid pixels
  (the mapper's weights times the pixel positions). dl1-data-handler computes
  these labels in a ``CameraFrame`` rotated by the camera's ``pix_rotation``, the
  frame of the mapper's (rotated) geometry, so the positions are taken there: in
  the unrotated geometry's frame the source would be off the image axis (MAGIC:
  by 70.9 degrees of rotation);
* with ``model.generator.envelope_centre`` / ``envelope_length: fitted``, the
  image distance from the source and the image length as functions of the
  labels (:mod:`ctgans.train.envelope_fit`); with
  ``model.generator.shower_intensity: fitted``, the images' light likewise;
  with ``model.generator.shower_angle: contained``, the radius within which their
  light lies (:func:`ctgans.train.envelope_fit.fit_containment`);
* with ``model.generator.render: pixels``, where each camera pixel samples the
  source-frame canvas (:func:`ctgans.models.pixel_render.pixel_points`).

All of it is written to the run folder as ``camera_model.json`` (the matrices are
recomputed from the geometry and saved with the generator's weights).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ctapipe.instrument import SubarrayDescription

from ctgans.exceptions import CtgansInputError
from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
from ctgans.models.pixel_render import pixel_points
from ctgans.train.envelope_fit import (
    THRESHOLD_SIGMAS,
    fit_containment,
    fit_envelope,
    fit_intensity,
)

__all__ = ["CameraModel", "fit_camera_model", "mapper_view_matrix", "pedestal_sigma"]

log = logging.getLogger(__name__)

N_QUANTILES = 1024
N_PEDESTAL_IMAGES = 2000
SIGNAL_SIGMAS = 4.0
DILATE_RINGS = 2
DIRECTION_COLUMNS = ("cam_coord_offset_x", "cam_coord_offset_y")


@dataclass
class CameraModel:
    """Everything the camera-aware generator is built from."""

    to_camera: np.ndarray  # (H*W, n_pixels)
    to_square: np.ndarray  # (n_pixels, H*W)
    pedestal_quantiles: np.ndarray  # (N_QUANTILES,) p.e.
    affine: np.ndarray | None  # (2, 3): standardised (x, y, 1) -> (row, col)
    label_index: tuple[int, int] | None
    n_pedestal_values: int
    envelope_distance: dict | None = None  # envelope_fit.fit_envelope
    envelope_length: dict | None = None
    shower_intensity: dict | None = None  # envelope_fit.fit_intensity
    # render: pixels (ctgans.models.pixel_render.pixel_points)
    pixel_points: np.ndarray | None = None  # (n_pixels, K, 2)
    pixel_weights: np.ndarray | None = None  # (n_pixels,)
    iso_scale: list | None = None  # [row, column]
    containment: dict | None = None  # envelope_fit.fit_containment

    def summary(self) -> dict:
        q = self.pedestal_quantiles
        return {
            "pedestal": {
                "n_values": self.n_pedestal_values,
                "quantiles_pe": q.tolist(),
                "median_pe": float(np.median(q)),
                "std_pe": float(np.std(q)),
            },
            "source_affine": None if self.affine is None else self.affine.tolist(),
            "label_index": None if self.label_index is None else list(self.label_index),
            "envelope_distance": self.envelope_distance,
            "envelope_length": self.envelope_length,
            "shower_intensity": self.shower_intensity,
            "render_iso_scale": self.iso_scale,
            "shower_containment": self.containment,
        }


def pedestal_sigma(quantiles) -> float:
    """Half the 16-84 % range of the pedestal quantile table (p.e.)."""
    levels = np.linspace(0, 1, len(quantiles))
    low, high = np.interp([0.16, 0.84], levels, quantiles)
    return float(high - low) / 2.0


def square_matrix(mapper, n_pixels: int) -> np.ndarray:
    """``(n_pixels, H*W)``: camera image ``x`` maps to ``x @ matrix`` (row-major)."""
    eye = np.eye(n_pixels, dtype=np.float32)
    mapped = np.asarray(mapper.map_image(eye), np.float32)  # (H, W, n_pixels)
    return mapped.reshape(-1, n_pixels).T.copy()


def data_mapper(cfg, dataset):
    """``(geometry, mapper)``: the camera of ``dataset``'s telescopes and the
    data's dl1-data-handler mapper of it (:func:`build_mapper`)."""
    subarray = SubarrayDescription.from_hdf(
        cfg.data.signal[0], focal_length_choice=cfg.data.focal_length_choice
    )
    geometry = subarray.tel[dataset.tel_ids[0]].camera.geometry
    return geometry, build_mapper(geometry, cfg.data.mapper, cfg.data.image_shape)


def mapper_view_matrix(cfg, dataset) -> np.ndarray:
    """``(H*W, n_views*H*W)``: square images of the data's mapper (p.e.) -> the
    same camera charges mapped by each of ``model.critic.mapper_views``.

    The data mapper's regularised inverse takes a square image back to camera
    pixels (exact at 43 x 43 for MAGIC: every pixel is sampled); each view
    mapper's own matrix maps them again. Raises CtgansInputError where a view
    mapper's grid differs from the data's."""
    geometry, mapper = data_mapper(cfg, dataset)
    to_camera = InverseMapper(mapper, geometry).matrix
    size = int(mapper.image_shape)
    views = []
    for name in cfg.model.critic.mapper_views:
        view = build_mapper(geometry, name, cfg.data.image_shape)
        if int(view.image_shape) != size:
            raise CtgansInputError(
                f"model.critic.mapper_views: {name} maps camera "
                f"{geometry.name} to {view.image_shape}x{view.image_shape}; "
                f"expected the data mapper's {size}x{size}"
            )
        views.append(to_camera @ square_matrix(view, geometry.n_pixels))
    return np.concatenate(views, axis=1).astype(np.float32)


def signal_free(pixels: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Mask of pixels far from any signal, per image (``pixels``: (n, n_pixels))."""
    median = np.median(pixels, axis=1, keepdims=True)
    mad = np.median(np.abs(pixels - median), axis=1, keepdims=True)
    signal = pixels > median + SIGNAL_SIGMAS * 1.4826 * np.maximum(mad, 1e-6)
    grown = signal.astype(np.float32)
    for _ in range(DILATE_RINGS):
        grown = ((grown + grown @ neighbours) > 0).astype(np.float32)
    return grown == 0


def grid_fit(to_square, geometry, size) -> tuple[np.ndarray, float]:
    """``(3, 2)`` least-squares map ``(x, y, 1) -> (row, column)`` from camera
    positions (m, ``geometry``'s frame) to the square grid, fitted on the grid
    pixels' weighted camera positions, and its rms residual (grid pixels)."""
    weights = to_square.sum(axis=0)
    inside = weights > 0.5
    x = (to_square.T @ geometry.pix_x.to_value("m")) / np.maximum(weights, 1e-9)
    y = (to_square.T @ geometry.pix_y.to_value("m")) / np.maximum(weights, 1e-9)
    rows, cols = np.divmod(np.arange(size * size), size)
    design = np.stack([x, y, np.ones_like(x)], 1)[inside]
    target = np.stack([rows, cols], 1)[inside].astype(np.float64)
    fit, *_ = np.linalg.lstsq(design, target, rcond=None)  # (3, 2)
    return fit, float(np.sqrt(np.mean((design @ fit - target) ** 2)))


def grid_blur(to_square, geometry, size) -> float:
    """The variance per axis (grid pixels²) that the camera adds to a shower
    drawn before it: a pixel's area (``A / 12`` per axis, a square's; a regular
    hexagon's is 4 % less) and the mapper's spreading of one pixel's charge over
    the grid (the second moment of its grid image about its centroid, half the
    trace, median over the pixels inside the grid)."""
    linear = grid_fit(to_square, geometry, size)[0][:2]
    area = float(np.median(geometry.pix_area.to_value("m2")))
    footprint = area * abs(float(np.linalg.det(linear))) / 12.0
    rows, cols = np.divmod(np.arange(size * size), size)
    total = to_square.sum(axis=1)
    inside = total > 0.5
    w = to_square[inside] / total[inside, None]
    mean_r, mean_c = w @ rows, w @ cols
    spread = (
        w * ((rows[None] - mean_r[:, None]) ** 2 + (cols[None] - mean_c[:, None]) ** 2)
    ).sum(axis=1) / 2.0
    return footprint + float(np.median(spread))


def _affine(to_square, geometry, size, scaler, columns):
    if not all(c in columns for c in DIRECTION_COLUMNS):
        return None, None
    fit, residual = grid_fit(to_square, geometry, size)
    if residual > 0.5:
        raise CtgansInputError(
            f"model.generator.source_frame: the square grid is not an affine image "
            f"of the camera (residual {residual:.2f} pixels; expected <= 0.5)"
        )
    ix, iy = (columns.index(c) for c in DIRECTION_COLUMNS)
    # Standardised labels -> metres -> grid.
    scale = np.diag([scaler.std[ix], scaler.std[iy]])
    offset = np.array([scaler.mean[ix], scaler.mean[iy]])
    linear = fit[:2].T @ scale
    shift = fit[:2].T @ offset + fit[2]
    return np.concatenate([linear, shift[:, None]], 1), (ix, iy)


def fit_camera_model(cfg, dataset, seed: int) -> CameraModel:
    """Fit the camera model of ``cfg`` (a :class:`ctgans.config.Config`) from the
    training split of ``dataset`` (a :class:`ctgans.data.CachedDataset`)."""
    geometry, mapper = data_mapper(cfg, dataset)
    inverse = InverseMapper(mapper, geometry)
    to_square = square_matrix(mapper, geometry.n_pixels)
    size = int(mapper.image_shape)

    train = np.flatnonzero(~dataset.is_validation)
    rng = np.random.default_rng(seed)
    take = rng.choice(train, min(N_PEDESTAL_IMAGES, len(train)), replace=False)
    charges = dataset.normalization.inverse(dataset.images[np.sort(take)])
    pixels = inverse(charges)[..., 0]
    free = signal_free(pixels, geometry.neighbor_matrix.astype(np.float32))
    values = pixels[free]
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, N_QUANTILES))
    # The mapper rotates its copy of the geometry by the camera's pix_rotation;
    # dl1-data-handler computes cam_coord_offset_x/y in that rotated frame too.
    affine, label_index = _affine(
        to_square,
        mapper.geometry,
        size,
        dataset.label_scaler,
        list(dataset.label_columns),
    )
    g = cfg.model.generator
    distance = length = None
    if "fitted" in (g.envelope_centre, g.envelope_length):
        distance, length = fit_envelope(
            charges[..., 0],
            dataset.labels[np.sort(take)],
            label_index,
            affine,
            THRESHOLD_SIGMAS * pedestal_sigma(quantiles),
            centre=g.envelope_centre == "fitted",
            length=g.envelope_length == "fitted",
            length_factor=g.envelope_length_factor,
            length_spread=g.envelope_length_spread,
            length_blur=(
                grid_blur(to_square, mapper.geometry, size)
                if g.envelope_length_deblur
                else None
            ),
        )
        for name, fit in (("centre", distance), ("length", length)):
            if fit is not None:
                log.info(
                    "camera model: envelope %s fitted on %d training images "
                    "(median %.2f grid pixels, log-normal spread %.2f)",
                    name,
                    fit["n_images"],
                    fit["median_px"],
                    fit["residual_sd"],
                )
        if length is not None and "blur_px2" in length:
            log.info(
                "camera model: envelope length deblurred by %.3f grid pixels^2 "
                "(a pixel's area and the mapper)",
                length["blur_px2"],
            )
        if length is not None and length["spread"]:
            log.info(
                "camera model: envelope length drawn with its spread, correlation "
                "%.2f with the distance at given labels",
                length["distance_correlation"],
            )
    intensity = None
    if g.shower_intensity == "fitted":
        intensity = fit_intensity(
            pixels,
            dataset.labels[np.sort(take)],
            THRESHOLD_SIGMAS * pedestal_sigma(quantiles),
            float(np.mean(values)),
        )
        log.info(
            "camera model: image light fitted on %d training images (median "
            "%.0f p.e. above threshold, log-normal spread %.2f, factor %.2f)",
            intensity["n_images"],
            intensity["median_pe"],
            intensity["residual_sd"],
            intensity["factor"],
        )
    log.info(
        "camera model: %d signal-free pixel charges from %d training images "
        "(median %.3f p.e., 16-84%% %.3f..%.3f p.e.)",
        len(values),
        len(take),
        np.median(values),
        *np.quantile(values, [0.16, 0.84]),
    )
    points = weights = iso_scale = containment = None
    if g.render == "pixels":
        camera_to_grid = grid_fit(to_square, mapper.geometry, size)[0]
        points, weights, iso_scale = pixel_points(
            mapper.geometry,
            camera_to_grid,
            g.canvas_scale,
            canvas_spread=g.envelope_at != "pixels",
        )
        if g.shower_angle == "contained":
            containment = fit_containment(
                charges[..., 0],
                THRESHOLD_SIGMAS * pedestal_sigma(quantiles),
                camera_to_grid[2],  # (x, y) = (0, 0): the camera's centre
                iso_scale,
            )
            log.info(
                "camera model: the training images' light lies within %.2f "
                "isotropic pixels of the camera's centre (%d images, quantile %.2f)",
                containment["radius"],
                containment["n_images"],
                containment["quantile"],
            )
    return CameraModel(
        inverse.matrix.astype(np.float32),
        to_square,
        quantiles.astype(np.float32),
        affine,
        label_index,
        int(len(values)),
        distance,
        length,
        intensity,
        points,
        weights,
        iso_scale,
        containment,
    )
