"""Where the shower envelope sits: the image distance of the training images.

With ``model.generator.envelope_centre: fitted`` the envelope's centre is not
learned (learned, the label losses pull it onto the source: RESULTS.md, probes
32-33) but held at the distance from the source at which the training images
have their light, as a function of the labels. Per training image the centroid
of the light above a threshold is taken on the square grid and its distance from
the requested source (the camera model's label -> grid map) is measured, in grid
pixels; ``log(distance)`` is fitted by least squares with a quadratic in the
standardised labels (:func:`ctgans.models.envelope.label_features`), and the spread
of the residuals is kept, so that the generator draws the distance at given
labels as the data scatter it (:func:`ctgans.models.envelope.envelope_distance`).
With ``model.generator.envelope_length: fitted`` the window's length is held the
same way, at ``model.generator.envelope_length_factor`` (default
:data:`LENGTH_FACTOR`) times the training images' rms length along their axis (a
cap: the network can draw shorter showers inside it, not light that reaches back
to the source; learned, the length grows until it does: probe 35). With
``model.generator.envelope_length_spread: true`` the held length is not the
median at the labels but drawn, log-normally with the residuals' spread, and
correlated with the drawn distance as the training images' residuals are
(``distance_correlation``): the windows of the most compact showers at given
labels are as short as those showers.
With ``model.generator.shower_intensity: fitted`` the image's total light is
held likewise (:func:`fit_intensity`): the network draws only where the light
goes, and the camera layer scales it to a total drawn from the training images'
log-normal spread at these labels (:func:`ctgans.models.envelope.shower_intensity`).
With ``model.generator.shower_angle: contained`` the radius from the camera's
centre within which the training images' light centroids lie is fitted
(:func:`fit_containment`): the image axis' angle around the source is drawn
among those that keep the held window's centre there
(:func:`ctgans.models.envelope.contained_angle`).
Nothing of the simulator is read: the same fit runs on a user's files.
"""

from __future__ import annotations

import numpy as np

from ctgans.exceptions import CtgansInputError
from ctgans.models.camera import image_moments, source_position
from ctgans.models.envelope import label_features

__all__ = ["fit_containment", "fit_envelope", "fit_intensity", "image_geometry"]

#: Centroids closer to the source than this (grid pixels) have no defined distance.
MIN_DISTANCE = 0.25
#: Fewer usable images than this do not determine the fit.
MIN_IMAGES = 50
#: Pixels count above this many standard deviations of the pedestal.
THRESHOLD_SIGMAS = 3.0
#: A held envelope length is this many times the training images' rms length
#: (the default of ``model.generator.envelope_length_factor``).
LENGTH_FACTOR = 2.0
#: A deblurred rms length (``envelope_length_deblur``) is at least this (grid
#: pixels), and so is the held window's length then.
MIN_DEBLURRED = 0.25
#: The containment radius is this quantile of the light centroids' radii.
CONTAINMENT_QUANTILE = 0.99


def image_geometry(charges, source_rc, threshold_pe: float):
    """Distance of each image's light centroid from its source and the light's rms
    length along its major axis, both in grid pixels, ``(n,)`` each.

    ``charges`` ``(n, H, W)`` in p.e.; pixels count with ``charge - threshold``
    where above it (:func:`ctgans.models.camera.image_moments`). Images without
    such a pixel get NaN."""
    charges = np.asarray(charges, np.float32)
    moments = np.asarray(
        image_moments(charges, np.asarray(source_rc, np.float32), threshold_pe)
    )
    side = charges.shape[1]
    empty = moments[:, 0] <= 0.0  # log10(1 + size) / 4
    distance = np.where(empty, np.nan, moments[:, 3] * side)
    length = np.where(empty, np.nan, moments[:, 4] * side)
    return distance, length


def fit_log_quadratic(values, labels, unit: str = "px") -> dict:
    """Least-squares fit of ``log(values)`` with a quadratic in the standardised
    ``labels`` (:func:`ctgans.models.envelope.label_features`), and the spread of its
    residuals; ``median_<unit>`` is the values' median."""
    design = np.asarray(label_features(labels), np.float64)
    target = np.log(values)
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = log_residuals(values, labels, {"coefficients": coefficients})
    return {
        "coefficients": coefficients.tolist(),
        "residual_sd": float(np.std(residual)),
        "n_images": int(len(values)),
        f"median_{unit}": float(np.median(values)),
    }


def log_residuals(values, labels, fit: dict):
    """``log(values)`` less a :func:`fit_log_quadratic` fit at ``labels``."""
    design = np.asarray(label_features(labels), np.float64)
    return np.log(values) - design @ np.asarray(fit["coefficients"], np.float64)


def fit_envelope(
    charges,
    labels,
    label_index,
    affine,
    threshold_pe: float,
    centre: bool = True,
    length: bool = False,
    length_factor: float = LENGTH_FACTOR,
    length_spread: bool = False,
    length_blur: float | None = None,
) -> tuple[dict | None, dict | None]:
    """The fits :func:`ctgans.models.envelope.envelope_distance` and
    :func:`~ctgans.models.envelope.envelope_length` read: of the light's distance
    from the source (``centre``) and of its rms length (``length``, held at
    ``length_factor`` times it; drawn with its spread where ``length_spread``),
    None where not asked for.

    ``charges`` ``(n, H, W)`` p.e. of training images, ``labels`` ``(n, L)`` their
    standardised labels, ``label_index``/``affine`` the camera model's direction
    columns and label -> grid map. ``length_blur`` (grid pixels², per axis;
    :func:`ctgans.train.camera_model.grid_blur`): the variance that a camera
    pixel's area and the mapper add to a shower drawn before them, taken from each
    image's rms length in quadrature (at least :data:`MIN_DEBLURRED`), so that the
    window is held at the length of the light the generator draws, not of the
    blurred image the grid shows."""
    labels = np.asarray(labels, np.float32)
    source = np.asarray(source_position(labels, label_index, affine))
    distance, rms_length = image_geometry(charges, source, threshold_pe)
    if length_blur is not None:
        rms_length = np.sqrt(
            np.maximum(rms_length**2 - float(length_blur), MIN_DEBLURRED**2)
        )
    usable = np.isfinite(distance) & (distance > MIN_DISTANCE)
    if usable.sum() < MIN_IMAGES:
        raise CtgansInputError(
            f"model.generator.envelope_centre/envelope_length fitted: "
            f"{int(usable.sum())} training images with light away from the source; "
            f"expected >= {MIN_IMAGES}"
        )
    labels = labels[usable]
    distance_fit = fit_log_quadratic(distance[usable], labels)
    length_fit = None
    if length:
        length_fit = fit_log_quadratic(rms_length[usable], labels)
        length_fit["factor"] = float(length_factor)
        length_fit["spread"] = bool(length_spread)
        if length_blur is not None:
            length_fit["blur_px2"] = float(length_blur)
            length_fit["min_px"] = MIN_DEBLURRED
        # How the length scatters with the distance at given labels (the
        # correlation of the two fits' residuals): a drawn length follows it.
        residuals = (
            log_residuals(distance[usable], labels, distance_fit),
            log_residuals(rms_length[usable], labels, length_fit),
        )
        length_fit["distance_correlation"] = float(np.corrcoef(*residuals)[0, 1])
    return (distance_fit if centre else None), length_fit


def fit_intensity(pixels, labels, threshold_pe: float, pedestal_mean_pe: float) -> dict:
    """The fit :func:`ctgans.models.envelope.shower_intensity` reads: of each image's
    light, in p.e. summed over camera pixels.

    ``pixels`` ``(n, n_pixels)`` p.e. of training images (camera pixels),
    ``labels`` ``(n, L)`` their standardised labels. Per image the light is the
    sum of the pixels above ``threshold_pe`` (a sum of all pixels would carry the
    pedestal noise of every pixel into the spread); ``log`` of it is fitted with a
    quadratic in the labels, and the residuals' spread kept. One ``factor`` then
    makes the mean right: the images' summed charge above the pedestal mean
    (unbiased, its noise averaged over all images) over their summed charge above
    the threshold. It puts back the light below the threshold and takes out the
    pedestal's upward fluctuations above it (a skewed pedestal, as NSB photon
    counts give, has more of these than a Gaussian): on the toy data 0.94."""
    pixels = np.asarray(pixels, np.float64)
    labels = np.asarray(labels, np.float32)
    above = np.where(pixels > threshold_pe, pixels, 0.0).sum(axis=1)
    usable = above > 0.0
    if usable.sum() < MIN_IMAGES:
        raise CtgansInputError(
            f"model.generator.shower_intensity fitted: {int(usable.sum())} training "
            f"images with a pixel above {threshold_pe:.2f} p.e.; expected "
            f">= {MIN_IMAGES}"
        )
    fit = fit_log_quadratic(above[usable], labels[usable], unit="pe")
    total = float((pixels[usable] - pedestal_mean_pe).sum())
    if total <= 0.0:
        raise CtgansInputError(
            f"model.generator.shower_intensity fitted: the training images' summed "
            f"charge above the pedestal mean is {total:.1f} p.e.; expected > 0"
        )
    fit["factor"] = total / float(above[usable].sum())
    return fit


def fit_containment(charges, threshold_pe: float, centre_rc, iso_scale) -> dict:
    """The fit :func:`ctgans.models.envelope.contained_angle` reads: the radius
    from the camera's centre within which the training images' light lies.

    ``charges`` ``(n, H, W)`` p.e. of training images on the square grid; pixels
    count with ``charge - threshold_pe`` where above it. ``centre_rc`` is the
    camera's centre (row, column) on the grid and ``iso_scale`` the ``[row,
    column]`` factors to the isotropic frame the source-frame rotation works in
    (:func:`ctgans.models.pixel_render.pixel_points`). Returns the centre and
    the :data:`CONTAINMENT_QUANTILE` of the centroids' radii in that frame: the
    training images passed their cuts on leakage and intensity, so their light
    stays inside the camera (on the toy data 16.7 isotropic pixels, the grid's
    half-width being 21.5)."""
    charges = np.asarray(charges, np.float64)
    weights = np.clip(charges - threshold_pe, 0.0, None)
    total = weights.sum(axis=(1, 2))
    usable = total > 0.0
    if usable.sum() < MIN_IMAGES:
        raise CtgansInputError(
            f"model.generator.shower_angle contained: {int(usable.sum())} training "
            f"images with a pixel above {threshold_pe:.2f} p.e.; expected "
            f">= {MIN_IMAGES}"
        )
    weights, total = weights[usable], total[usable]
    rows, cols = np.indices(charges.shape[1:], dtype=np.float64)
    centroid = (
        np.stack(
            [(weights * rows).sum(axis=(1, 2)), (weights * cols).sum(axis=(1, 2))], 1
        )
        / total[:, None]
    )
    scale = np.asarray(iso_scale, np.float64)
    centre = np.asarray(centre_rc, np.float64) * scale
    radius = np.hypot(*(centroid * scale - centre).T)
    return {
        "centre": centre.tolist(),
        "radius": float(np.quantile(radius, CONTAINMENT_QUANTILE)),
        "quantile": CONTAINMENT_QUANTILE,
        "median_radius": float(np.median(radius)),
        "n_images": int(usable.sum()),
    }
