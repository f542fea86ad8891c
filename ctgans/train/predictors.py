"""The frozen label predictor: found in ``predictors/`` or trained there once.

A predictor is keyed by a hash of what it depends on: the cached dataset (data
selection, input files, split seed), the labels and the ResNet settings. A missing
one is trained on the training split with Keras ``fit`` under the run's strategy
and saved as ``predictors/<key>/predictor.keras`` with ``predictor.json`` (its
settings and validation metrics). Later runs with the same key reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from ctgans.config import Config, PredictorConfig
from ctgans.data.cache import CachedDataset, cache_key
from ctgans.data.pipeline import make_tf_dataset
from ctgans.data.presence import present_telescopes, stereo_presence
from ctgans.exceptions import DataError
from ctgans.models.predictor import (
    build_predictor,
    compile_predictor,
    label_slices,
    split_targets,
)
from ctgans.train.label_recovery import label_errors, predict_labels

log = logging.getLogger(__name__)


def predictor_key(cfg: Config) -> str:
    """Hash of the data the predictor learns from and of its architecture."""
    state = {
        "data": cache_key(cfg.data, cfg.seed),
        "labels": cfg.data.labels,
        "predictor": dataclasses.asdict(cfg.model.predictor),
        "seed": cfg.seed,
    }
    if cfg.data.mode == "stereo":
        # Trained on the present telescopes of each event (empty slots dropped by
        # charge, not by every channel: a peak-time slot is never all-zero).
        state["telescopes"] = "present"
    state["predictor"].pop("directory")
    return hashlib.sha256(
        json.dumps(state, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def check_predictor(cfg: Config, dataset: CachedDataset) -> None:
    """Refuse a cached predictor made for another configuration; writes nothing.

    Reads only ``predictor.json``, so that a run refused here has not created its
    run folder yet. Nothing to check when no predictor is cached for ``cfg``.
    """
    folder = cfg.model.predictor.directory / predictor_key(cfg)
    if (folder / "predictor.keras").is_file():
        _check_meta(folder, predictor_key(cfg), dataset)


def _check_meta(folder: Path, key: str, dataset: CachedDataset) -> None:
    tasks = list(label_slices(dataset.label_columns))
    shape = list(dataset.image_shape[-3:])
    try:
        meta = json.loads((folder / "predictor.json").read_text())
        made_for = (meta["key"], meta["tasks"], meta.get("image_shape", shape))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise DataError(
            f"{folder}/predictor.json: unreadable ({type(err).__name__}); expected "
            "the metadata written with predictor.keras (delete the folder to retrain)"
        ) from None
    if made_for != (key, tasks, shape):
        raise DataError(
            f"{folder}/predictor.json: made for key {made_for[0]}, tasks "
            f"{made_for[1]}, image shape {made_for[2]}; expected key {key}, tasks "
            f"{tasks}, image shape {shape} (delete the folder to retrain)"
        )


def get_predictor(cfg: Config, dataset: CachedDataset, strategy) -> keras.Model:
    """Load the predictor matching ``cfg``, training and caching it if missing."""
    key = predictor_key(cfg)
    folder = cfg.model.predictor.directory / key
    tasks = list(label_slices(dataset.label_columns))
    if (folder / "predictor.keras").is_file():
        log.info("using predictor %s", folder)
        return _load(folder, key, dataset, strategy)
    log.info(
        "no predictor for this configuration in %s: training %s",
        cfg.model.predictor.directory,
        folder,
    )
    return _train(cfg, dataset, folder, key, tasks, strategy)


def _load(folder: Path, key: str, dataset, strategy) -> keras.Model:
    _check_meta(folder, key, dataset)
    try:
        with strategy.scope():
            model = keras.saving.load_model(folder / "predictor.keras", compile=False)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(
            f"{folder}/predictor.keras: cannot load ({type(err).__name__}: {first}); "
            "delete the folder to retrain"
        ) from None
    if tuple(model.input_shape[1:]) != dataset.image_shape[-3:]:
        raise DataError(
            f"{folder}/predictor.keras: input shape {model.input_shape[1:]}; "
            f"expected {dataset.image_shape[-3:]}"
        )
    model.trainable = False
    return model


def fit_predictor(
    dataset: CachedDataset,
    settings: PredictorConfig,
    tasks,
    seed: int,
    strategy=None,
    name: str = "predictor",
) -> tuple[keras.Model, dict]:
    """Train a CTLearn ResNet on the training split; score it on the validation split.

    Shared by the training predictor and the evaluation predictor
    (:mod:`ctgans.evaluate.predictors`), which differ in seed, name and cache key.

    Returns
    -------
    (keras.Model, dict)
        The model and its ``predictor.json`` metadata without the key.
    """
    slices = label_slices(dataset.label_columns)
    keras.utils.set_random_seed(seed)
    # One example per telescope image: stereo events give their present telescopes.
    train, val = ~dataset.is_validation, dataset.is_validation
    presence = stereo_presence(dataset.images[train], dataset.normalization.channels)
    train_images, train_labels = present_telescopes(
        dataset.images[train], dataset.labels[train], *presence
    )
    val_images, val_labels = present_telescopes(
        dataset.images[val], dataset.labels[val], *presence
    )

    def as_targets(images, labels):
        return images, split_targets(labels, slices)

    train_stream = make_tf_dataset(
        train_images, train_labels, settings.batch_size, seed
    )
    val_stream = make_tf_dataset(
        val_images,
        val_labels,
        settings.batch_size,
        seed,
        shuffle=False,
        drop_remainder=False,
    )
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_predictor(
            dataset.image_shape[-3:],
            tasks,
            settings.architecture,
            settings.residual_block_type,
            settings.attention_mechanism,
            name=name,
        )
        compile_predictor(model, tasks, settings.learning_rate)
    history = model.fit(
        train_stream.map(as_targets),
        validation_data=val_stream.map(as_targets),
        epochs=settings.epochs,
        verbose=2,
    )
    metrics = label_errors(
        predict_labels(model, val_images), val_labels, dataset.label_scaler
    )
    log.info("%s validation metrics: %s", name, metrics)
    meta = {
        "tasks": list(tasks),
        "label_columns": list(dataset.label_columns),
        "image_shape": list(dataset.image_shape[-3:]),
        "settings": dataclasses.asdict(settings)
        | {"directory": str(settings.directory)},
        "dataset": str(dataset.path),
        "n_train": len(train_images),
        "n_validation": len(val_images),
        "validation_metrics": metrics,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    return model, meta


def _train(cfg: Config, dataset, folder: Path, key: str, tasks, strategy):
    model, meta = fit_predictor(
        dataset, cfg.model.predictor, tasks, cfg.seed, strategy=strategy
    )
    save_predictor_atomic(model, {"key": key} | meta, folder)
    model.trainable = False
    return model


def save_predictor_atomic(model: keras.Model, meta: dict, folder: Path) -> None:
    """Write into a temporary sibling folder, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save(tmp / "predictor.keras")
        (tmp / "predictor.json").write_text(json.dumps(meta, indent=2))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "predictor.keras").is_file():
            raise
        # Another worker of a multi-worker run saved the same predictor first.
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
