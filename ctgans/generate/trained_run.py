"""Open a finished run folder: its data selection, label scaling and generator.

A run folder (written by ``python -m ctgans.train``) holds ``generator.keras``,
``dataset.json`` (label columns, image shape, normalisation, label scaler, cache
path) and ``config.yml`` (the resolved config), read here through
:mod:`ctgans.runs` (the validated config, paths resolved from the run folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctgans.config import Config, DataConfig
from ctgans.data.normalize import ImageNormalization, LabelScaler
from ctgans.exceptions import DataError
from ctgans.runs.files import read_config, read_dataset
from ctgans.runs.folder import recorded_config_hash
from ctgans.runs.layout import (
    CONFIG,
    DATASET,
    GENERATOR,
    checkpoint_epoch,
    complete_epochs,
    epoch_checkpoint,
    latest_checkpoint,
)

__all__ = ["TrainedRun", "inference_function", "load_generator", "open_run"]

log = logging.getLogger(__name__)

REQUIRED_FILES = (GENERATOR, DATASET, CONFIG)


@dataclass(frozen=True)
class TrainedRun:
    """What generation needs from a run folder.

    Attributes
    ----------
    folder : pathlib.Path
        The run folder.
    data : ctgans.config.DataConfig
        The run's data selection (files, telescopes, channels, mapper, cuts).
    normalization : ctgans.data.normalize.ImageNormalization
        Network units <-> p.e. / ns.
    label_scaler : ctgans.data.normalize.LabelScaler
        Physical <-> standardised labels; its columns are the generator's labels.
    image_shape : tuple of int
        ``(H, W, C)`` of the generated images, ``(T, H, W, C)`` in stereo.
    tel_ids : tuple of int
        Telescopes the training examples came from; in stereo, the order of the
        ``T`` axis.
    label_ranges : dict of str to (float, float)
        Range of each label column in the training data (or mean +- 3 std when the
        cache file is gone).
    presence : (int or None, float)
        Stereo: the charge channel and threshold that tell a present telescope from
        an empty slot (:mod:`ctgans.data.presence`); ``(None, 0.0)``: every
        telescope is present (mono runs, and runs trained before it was recorded).
    config_hash : str or None
        The hash of the run's settings (``run.json``); None if it has none.
    generator_epoch : int or None
        Epoch of the newest complete checkpoint, the one ``generator.keras`` was
        saved from; None without checkpoints.
    config : ctgans.config.Config or None
        The run's whole validated config (``data`` is its ``data``).
    """

    folder: Path
    data: DataConfig
    normalization: ImageNormalization
    label_scaler: LabelScaler
    image_shape: tuple[int, ...]
    tel_ids: tuple[int, ...]
    label_ranges: dict[str, tuple[float, float]]
    presence: tuple[int | None, float] = (None, 0.0)
    config_hash: str | None = None
    generator_epoch: int | None = None
    config: Config | None = None

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The generator's label columns, in order."""
        return self.label_scaler.columns

    @property
    def stereo(self) -> bool:
        """Whether the generator makes the images of all ``T`` telescopes at once."""
        return self.data.mode == "stereo"


def open_run(folder: str | Path) -> TrainedRun:
    """Read a run folder's ``dataset.json`` and ``config.yml``.

    Raises
    ------
    DataError
        If the folder or one of its files is missing or unreadable, or its image
        shape does not fit its mode (``(H, W, C)`` mono, ``(T, H, W, C)`` stereo).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"run folder {folder} does not exist; expected a folder "
            "written by python -m ctgans.train"
        )
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise DataError(
                f"run folder {folder}: no {name}; expected a finished training run"
            )
    config = read_config(folder)
    record = read_dataset(folder)
    data, image_shape, tel_ids = config.data, record.image_shape, record.tel_ids
    expected_rank = 3 if data.mode == "mono" else 4
    if len(image_shape) != expected_rank or (
        data.mode == "stereo" and image_shape[0] != len(tel_ids)
    ):
        raise DataError(
            f"run folder {folder}: dataset.json image_shape {list(image_shape)} "
            f"does not fit a {data.mode} run of telescopes {list(tel_ids)}; "
            "expected (H, W, C) for mono, (T, H, W, C) with T telescopes for stereo"
        )
    return TrainedRun(
        folder,
        data,
        record.normalization,
        record.label_scaler,
        image_shape,
        tel_ids,
        _label_ranges(record.cache, record.label_scaler),
        record.presence,
        recorded_config_hash(folder),
        _generator_epoch(folder),
        config,
    )


def _generator_epoch(folder: Path) -> int | None:
    checkpoint = latest_checkpoint(folder)
    return None if checkpoint is None else checkpoint_epoch(checkpoint)


def _label_ranges(cache: Path, scaler: LabelScaler) -> dict[str, tuple[float, float]]:
    if cache.is_file():
        import tables

        with tables.open_file(str(cache), "r") as h5:
            physical = h5.root.physical_labels.read()
        return {
            c: (float(physical[:, i].min()), float(physical[:, i].max()))
            for i, c in enumerate(scaler.columns)
        }
    log.info("cache %s not found: training label ranges taken as mean +- 3 std", cache)
    mean, std = np.asarray(scaler.mean), np.asarray(scaler.std)
    return {
        c: (float(m - 3 * s), float(m + 3 * s))
        for c, m, s in zip(scaler.columns, mean, std)
    }


def load_generator(
    run: TrainedRun, epoch: int | None = None, seed: int | None = None, fold=True
):
    """The run's Keras generator, for sampling (TensorFlow is imported here).

    ``epoch``: the generator of the checkpoint after that many epochs (the
    averaged one where the run keeps a generator EMA) instead of the final
    ``generator.keras``, whose architecture and camera constants it shares.
    ``seed``: reseeds a camera-aware generator's noise (``--seed`` of the
    command), so that two seeds also draw different camera noise.
    ``fold``: batch normalisation folded into the layers before it
    (:func:`ctgans.models.folding.fold_batch_norm`: the same function, a fifth
    cheaper; the generator can then only sample, never train).
    """
    import keras

    import ctgans.models  # noqa: F401  registers the ctgans Keras classes

    path = run.folder / GENERATOR
    try:
        generator = keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot load the generator ({err})") from None
    if epoch is not None:
        _load_epoch(generator, run.folder, epoch)
    camera = getattr(generator, "camera_response", None)
    if seed is not None and camera is not None:
        camera.reseed(seed)
    expected = tuple(run.image_shape)
    if tuple(generator.image_shape) != expected:
        raise DataError(
            f"{path}: generator makes images of shape "
            f"{tuple(generator.image_shape)}; dataset.json says {expected}"
        )
    if fold:
        from ctgans.models.folding import fold_batch_norm

        fold_batch_norm(generator)
    return generator


def inference_function(generator, pixels: bool = False):
    """``(z, labels) -> images`` of ``generator`` in inference mode, traced once
    into a TensorFlow graph for any batch size. ``pixels`` (a camera-aware mono
    generator): ``(z, labels) -> (B, n_pixels)`` camera charges in p.e., the
    charges the images are mapped from.

    The same images as calling the generator eagerly (its camera noise draws the
    same sequence), but TensorFlow's graph optimisations (fused convolution,
    bias and activation kernels) make the network 1.25-1.35x cheaper on this
    CPU (BENCHMARKS.md, "Generating DL1 files").
    """
    import tensorflow as tf

    spec = (
        tf.TensorSpec((None, generator.latent_dim), tf.float32),
        tf.TensorSpec((None, generator.n_labels), tf.float32),
    )
    return tf.function(
        lambda z, labels: generator((z, labels), training=False, pixels=pixels),
        input_signature=spec,
    )


def _load_epoch(generator, folder, epoch: int) -> None:
    checkpoint = epoch_checkpoint(folder, epoch)
    if checkpoint is None:
        raise DataError(
            f"run folder {folder}: --epoch {epoch} has no complete checkpoint; "
            f"expected one of {complete_epochs(folder)}"
        )
    with np.load(checkpoint / "state.npz") as arrays:
        ema = sorted(
            (k for k in arrays.files if k.startswith("generator_ema/")),
            key=lambda k: int(k.split("/")[1]),
        )
        if ema:  # the run samples with its averaged generator
            for variable, key in zip(generator.weights, ema):
                variable.assign(arrays[key])
            return
    generator.load_weights(checkpoint / "generator.weights.h5")
