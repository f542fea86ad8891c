"""Where the shower envelope sits: the image distance of the training images.

With ``model.generator.envelope_centre: fitted`` the envelope's centre is not
learned (learned, the label losses pull it onto the source: RESULTS.md, probes
32-33) but held at the distance from the source at which the training images
have their light, as a function of the labels. Per training image the centroid
of the light above a threshold is taken on the square grid and its distance from
the requested source (the camera model's label -> grid map) is measured, in grid
pixels; ``log(distance)`` is fitted by least squares with a quadratic in the
standardised labels (:func:`ctgans.models.camera.label_features`), and the spread
of the residuals is kept, so that the generator draws the distance at given
labels as the data scatter it (:func:`ctgans.models.camera.envelope_distance`).
Nothing of the simulator is read: the same fit runs on a user's files.
"""

from __future__ import annotations

import numpy as np

from ctgans.exceptions import CtgansInputError
from ctgans.models.camera import label_features, source_position

__all__ = ["fit_envelope_distance", "image_distances"]

#: Centroids closer to the source than this (grid pixels) have no defined distance.
MIN_DISTANCE = 0.25
#: Fewer usable images than this do not determine the fit.
MIN_IMAGES = 50
#: Pixels count above this many standard deviations of the pedestal.
THRESHOLD_SIGMAS = 3.0


def image_distances(charges, source_rc, threshold_pe: float) -> np.ndarray:
    """Distance (grid pixels) of each image's light centroid from its source.

    ``charges`` ``(n, H, W)`` in p.e.; pixels count with ``charge - threshold``
    where above it. Images without such a pixel get NaN."""
    charges = np.asarray(charges, np.float64)
    weights = np.maximum(charges - threshold_pe, 0.0)
    size = weights.sum(axis=(1, 2))
    rows, cols = np.indices(charges.shape[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        row = (weights * rows).sum(axis=(1, 2)) / size
        col = (weights * cols).sum(axis=(1, 2)) / size
    source_rc = np.asarray(source_rc, np.float64)
    return np.hypot(row - source_rc[:, 0], col - source_rc[:, 1])


def fit_envelope_distance(
    charges, labels, label_index, affine, threshold_pe: float
) -> dict:
    """The fit :func:`ctgans.models.camera.envelope_distance` reads.

    ``charges`` ``(n, H, W)`` p.e. of training images, ``labels`` ``(n, L)`` their
    standardised labels, ``label_index``/``affine`` the camera model's direction
    columns and label -> grid map. Returns ``coefficients`` (of log distance),
    ``residual_sd``, ``n_images`` used and the ``median_distance_px``."""
    labels = np.asarray(labels, np.float32)
    source = np.asarray(source_position(labels, label_index, affine))
    distance = image_distances(charges, source, threshold_pe)
    usable = np.isfinite(distance) & (distance > MIN_DISTANCE)
    if usable.sum() < MIN_IMAGES:
        raise CtgansInputError(
            f"model.generator.envelope_centre fitted: {int(usable.sum())} training "
            f"images with light away from the source; expected >= {MIN_IMAGES}"
        )
    design = np.asarray(label_features(labels[usable]), np.float64)
    target = np.log(distance[usable])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    return {
        "coefficients": coefficients.tolist(),
        "residual_sd": float(np.std(residual)),
        "n_images": int(usable.sum()),
        "median_distance_px": float(np.median(distance[usable])),
    }
