"""Invertible pixel normalisation and label standardisation.

Charges span four decades (a few p.e. of night-sky noise to 10^4 p.e. showers) and
are negative after pedestal subtraction, so charge channels use a signed logarithm
``y = sign(x) log(1 + |x|/s) / k`` with ``k`` chosen so that training images lie in
[-1, 1] (a ``tanh`` generator output can reach them). Time channels are standardised
to a standard deviation ``time_std`` (1 by default).
Both have an exact inverse, used to write generated images back to DL1 files.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

CHARGE_CHANNELS = ("image", "cleaned_image")


@dataclass(frozen=True)
class ChannelTransform:
    """``signed_log``: y = sign(x) log1p(|x|/a) / b; ``standard``: y = (x - a) / b."""

    kind: str
    a: float
    b: float

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "signed_log":
            return np.sign(x) * np.log1p(np.abs(x) / self.a) / self.b
        return (x - self.a) / self.b

    def inverse(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "signed_log":
            return np.sign(y) * self.a * np.expm1(np.abs(y) * self.b)
        return y * self.b + self.a


@dataclass(frozen=True)
class ImageNormalization:
    """One :class:`ChannelTransform` per channel (last axis of the images)."""

    channels: tuple[str, ...]
    transforms: tuple[ChannelTransform, ...]

    @classmethod
    def fit(
        cls, images: np.ndarray, channels, scale_pe: float, time_std: float = 1.0
    ) -> ImageNormalization:
        """Fit on (training) images whose last axis is the channel axis.

        Time channels get mean 0 and standard deviation ``time_std``.
        """
        transforms = []
        for i, channel in enumerate(channels):
            values = images[..., i].astype(np.float64)
            if channel in CHARGE_CHANNELS:
                peak = float(np.log1p(np.abs(values).max() / scale_pe))
                transforms.append(ChannelTransform("signed_log", scale_pe, peak or 1.0))
            else:
                std = float(values.std()) / time_std
                transforms.append(
                    ChannelTransform("standard", float(values.mean()), std or 1.0)
                )
        return cls(tuple(channels), tuple(transforms))

    @classmethod
    def from_moments(
        cls, moments: ExampleMoments, channels, scale_pe: float, time_std: float = 1.0
    ) -> ImageNormalization:
        """:meth:`fit` from per-example moments (a chunked build, see
        :class:`ExampleMoments`); the charge peak is the same number, the time
        mean and spread agree with :meth:`fit` to rounding."""
        transforms = []
        for i, channel in enumerate(channels):
            if channel in CHARGE_CHANNELS:
                peak = float(np.log1p(moments.peak(i) / scale_pe))
                transforms.append(ChannelTransform("signed_log", scale_pe, peak or 1.0))
            else:
                mean, std = moments.mean_std(i)
                transforms.append(
                    ChannelTransform("standard", mean, std / time_std or 1.0)
                )
        return cls(tuple(channels), tuple(transforms))

    def forward(self, images: np.ndarray) -> np.ndarray:
        """Physical units -> network units, float32."""
        out = np.empty(images.shape, np.float32)
        for i, t in enumerate(self.transforms):
            out[..., i] = t.forward(images[..., i].astype(np.float64))
        return out

    def inverse(self, images: np.ndarray) -> np.ndarray:
        """Network units -> physical units (p.e., ns), float32."""
        out = np.empty(images.shape, np.float32)
        for i, t in enumerate(self.transforms):
            out[..., i] = t.inverse(np.asarray(images[..., i], np.float64))
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "channels": self.channels,
                "transforms": [asdict(t) for t in self.transforms],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ImageNormalization:
        state = json.loads(text)
        return cls(
            tuple(state["channels"]),
            tuple(ChannelTransform(**t) for t in state["transforms"]),
        )


class ExampleMoments:
    """Per-example pixel moments, gathered chunk by chunk, pooled over a subset.

    For each example and channel: the largest ``|x|``, the pixel sum and the sum of
    squared deviations from the example's own mean. Pooling them (exact ``fsum``,
    Chan's parallel variance) over any subset gives the same result whatever the
    chunks were, so a chunked build normalises exactly as an in-memory one.
    """

    def __init__(self, n_examples: int, n_channels: int):
        self.abs_max = np.zeros((n_examples, n_channels))
        self.sums = np.zeros((n_examples, n_channels))
        self.m2 = np.zeros((n_examples, n_channels))
        self.n_pixels = 0

    def add(self, start: int, images: np.ndarray) -> None:
        """Moments of ``images`` (examples ``start`` onwards, channel last)."""
        n, channels = len(images), images.shape[-1]
        flat = np.moveaxis(images, -1, 1).reshape(n, channels, -1).astype(np.float64)
        self.n_pixels = flat.shape[-1]
        rows = slice(start, start + n)
        self.abs_max[rows] = np.abs(flat).max(axis=-1)
        self.sums[rows] = flat.sum(axis=-1)
        own_mean = self.sums[rows] / self.n_pixels
        self.m2[rows] = ((flat - own_mean[..., None]) ** 2).sum(axis=-1)

    def select(self, subset: np.ndarray) -> ExampleMoments:
        """The moments pooled over the examples where ``subset`` is True."""
        other = ExampleMoments(0, 0)
        other.abs_max, other.sums, other.m2 = (
            a[subset] for a in (self.abs_max, self.sums, self.m2)
        )
        other.n_pixels = self.n_pixels
        return other

    def peak(self, channel: int) -> float:
        return float(self.abs_max[:, channel].max())

    def mean_std(self, channel: int) -> tuple[float, float]:
        n = self.n_pixels
        total = len(self.sums) * n
        mean = math.fsum(self.sums[:, channel]) / total
        spread = (self.sums[:, channel] / n - mean) ** 2 * n
        m2 = math.fsum(self.m2[:, channel]) + math.fsum(spread)
        return mean, math.sqrt(m2 / total)


@dataclass(frozen=True)
class LabelScaler:
    """Standardise each label column; the particle class stays 0/1."""

    columns: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, labels: dict[str, np.ndarray], columns) -> LabelScaler:
        means, stds = [], []
        for column in columns:
            values = np.asarray(labels[column], np.float64)
            if column == "true_shower_primary_class":
                means.append(0.0)
                stds.append(1.0)
            else:
                means.append(float(values.mean()))
                stds.append(float(values.std()) or 1.0)
        return cls(tuple(columns), tuple(means), tuple(stds))

    def forward(self, labels: dict[str, np.ndarray]) -> np.ndarray:
        """Label dict -> standardised (n, n_columns) float32 matrix."""
        matrix = np.stack([np.asarray(labels[c], np.float64) for c in self.columns], 1)
        return ((matrix - self.mean) / self.std).astype(np.float32)

    def inverse(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Standardised matrix -> label dict in physical units."""
        values = np.asarray(matrix, np.float64) * self.std + self.mean
        return {c: values[:, i] for i, c in enumerate(self.columns)}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LabelScaler:
        state = json.loads(text)
        return cls(tuple(state["columns"]), tuple(state["mean"]), tuple(state["std"]))
