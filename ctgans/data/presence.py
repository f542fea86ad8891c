"""Which telescopes of a stereo event hold an image.

A stereo example stacks the images of ``T`` telescopes, ``(T, H, W, C)``; a telescope
whose image failed the quality cuts is an all-zero slot (zero charge in network
units, see :mod:`ctgans.data.reader`). A generator makes its own empty slots. A
telescope is *present* when the mean absolute charge of its image, in network
units, exceeds a threshold set from the training data: half the smallest value
among the present telescopes of the training events. Night-sky noise lights every
camera pixel of a real image, so present and empty slots lie far apart (toy MAGIC
data: >= 0.028 against exactly 0, the mean taken over the whole square grid).

The label loss scores present telescopes only (an empty slot carries no label
information), the training label recovery compares present telescopes, and
generated stereo events are written with their present telescopes.
"""

from __future__ import annotations

import numpy as np

from ctgans.data.normalize import CHARGE_CHANNELS

__all__ = [
    "mean_abs_charge",
    "present_slots",
    "present_telescopes",
    "presence_threshold",
    "stereo_presence",
    "telescope_presence",
]


def mean_abs_charge(images: np.ndarray, channel: int) -> np.ndarray:
    """``(..., T)`` mean ``|charge|`` per telescope of ``(..., T, H, W, C)`` images."""
    return np.abs(np.asarray(images)[..., channel]).mean(
        axis=(-2, -1), dtype=np.float64
    )


def telescope_presence(images, channel: int, threshold: float):
    """``(..., T)`` 1.0 where a telescope holds an image, 0.0 where its slot is empty.

    The tensor form of ``mean_abs_charge(images, channel) > threshold``, for
    ``train_step`` (Keras is imported here only: generation and data preparation
    use the numpy functions without loading TensorFlow).
    """
    from keras import ops

    measure = ops.mean(ops.abs(images[..., channel]), axis=(-2, -1))
    return ops.cast(measure > threshold, "float32")


def presence_threshold(images: np.ndarray, channel: int) -> float:
    """Half the smallest mean ``|charge|`` of the present telescopes of ``images``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(n, T, H, W, C)`` training events in network units.
    channel : int
        Index of a charge channel (``image`` or ``cleaned_image``).

    Raises
    ------
    ValueError
        If no telescope of any event holds an image.
    """
    if images.ndim != 5:
        raise ValueError(
            f"presence_threshold: expected (n, T, H, W, C) stereo events; received "
            f"shape {images.shape}"
        )
    measure = mean_abs_charge(images, channel)
    present = measure[measure > 0]
    if present.size == 0:
        raise ValueError(
            "presence_threshold: every telescope slot is empty (all-zero charge); "
            "expected at least one telescope image"
        )
    return float(0.5 * present.min())


def stereo_presence(images: np.ndarray, channels) -> tuple[int | None, float]:
    """``(charge channel, threshold)`` for the training ``images``.

    ``(None, 0.0)`` for mono images and for stereo without a charge channel: every
    telescope slot then counts.
    """
    charge = [i for i, c in enumerate(channels) if c in CHARGE_CHANNELS]
    if images.ndim != 5 or not charge:
        return None, 0.0
    return charge[0], presence_threshold(images, charge[0])


def present_slots(images: np.ndarray, channel: int | None, threshold: float):
    """``(n, T)`` bool: the telescopes to write for each generated stereo event.

    The present telescopes; an event with none keeps its brightest slot, so every
    event has an image. ``channel`` None: every slot.
    """
    images = np.asarray(images)
    if channel is None:
        return np.ones(images.shape[:2], bool)
    measure = mean_abs_charge(images, channel)
    present = measure > threshold
    none = np.flatnonzero(~present.any(axis=1))
    present[none, measure[none].argmax(axis=1)] = True
    return present


def present_telescopes(
    images: np.ndarray, labels: np.ndarray, channel: int | None, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Stereo ``(n, T, H, W, C)`` -> the present telescope images and their labels.

    Every telescope image carries its event's labels. ``channel`` None keeps every
    slot (see :mod:`ctgans.data.presence`); mono images are returned unchanged.
    """
    if images.ndim != 5:
        return images, labels
    n, n_tel = images.shape[:2]
    flat = images.reshape(n * n_tel, *images.shape[2:])
    labels = np.repeat(labels, n_tel, axis=0)
    if channel is None:
        return flat, labels
    keep = (mean_abs_charge(images, channel) > threshold).ravel()
    return flat[keep], labels[keep]
