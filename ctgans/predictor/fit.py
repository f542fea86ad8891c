"""Train a CTLearn ResNet on a cached dataset's training split, and save it atomically.

Shared by the training predictor and the evaluation predictor
(:mod:`ctgans.predictor.store`), which differ in seed, name and cache key.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from ctgans.config import PredictorConfig
from ctgans.data.cache import CachedDataset
from ctgans.data.pipeline import make_tf_dataset
from ctgans.data.presence import present_telescopes, stereo_presence
from ctgans.models.predictor import (
    build_predictor,
    compile_predictor,
    label_slices,
    split_targets,
)
from ctgans.predictor.figures import label_errors, predict_labels

__all__ = ["fit_predictor", "save_predictor_atomic"]

log = logging.getLogger(__name__)


def fit_predictor(
    dataset: CachedDataset,
    settings: PredictorConfig,
    tasks,
    seed: int,
    strategy=None,
    name: str = "predictor",
) -> tuple[keras.Model, dict]:
    """Train a CTLearn ResNet on the training split; score it on the validation split.

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
