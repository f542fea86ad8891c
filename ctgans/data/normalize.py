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
