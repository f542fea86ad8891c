"""Frozen label predictors: found in the predictor directory or trained there once.

Two kinds share one directory (``model.predictor.directory``, ``predictors/`` by
default) and never collide:

* the **training predictor**, ``<key>/``, steers the generator. Its key hashes what
  it depends on: the cached dataset (data selection, input files, split seed), the
  labels and the ResNet settings. It is trained under the run's strategy.
* the **evaluation predictor**, ``eval-<key>/``, judges label recovery in the
  fidelity report. A generator can learn images that fool the network that
  steered it, so this one never trained a generator: the run's ResNet settings,
  its own seed (run seed + :data:`EVALUATION_SEED_OFFSET`), trained on the
  simulated training split; its key hashes the role ``"evaluation"``, the cached
  dataset, the labels, the settings and the seed.

Each folder holds ``predictor.keras`` and ``predictor.json`` (settings, validation
metrics); a missing one is trained with :func:`~ctgans.predictor.fit.fit_predictor`
and written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import keras

from ctgans.config import Config, PredictorConfig
from ctgans.config_types import CONDITION_LABELS
from ctgans.data.cache import CachedDataset, cache_key
from ctgans.exceptions import DataError
from ctgans.models.predictor import label_slices
from ctgans.predictor.fit import fit_predictor, save_predictor_atomic

__all__ = [
    "EVALUATION_SEED_OFFSET",
    "check_predictor",
    "evaluation_key",
    "get_evaluation_predictor",
    "get_predictor",
    "predictor_key",
]

log = logging.getLogger(__name__)

#: The evaluation predictor's seed is the run's seed plus this.
EVALUATION_SEED_OFFSET = 7919


def _digest(state: dict) -> str:
    return hashlib.sha256(
        json.dumps(state, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def predictor_key(cfg: Config) -> str:
    """Hash of the data the training predictor learns from and of its architecture.

    Condition labels (``impact``) are left out: no task reads them, so a run that
    adds one uses the predictor of the same run without it.
    """
    labels = tuple(label for label in cfg.data.labels if label not in CONDITION_LABELS)
    state = {
        "data": cache_key(dataclasses.replace(cfg.data, labels=labels), cfg.seed),
        "labels": labels,
        "predictor": dataclasses.asdict(cfg.model.predictor),
        "seed": cfg.seed,
    }
    if cfg.data.mode == "stereo":
        # Trained on the present telescopes of each event (empty slots dropped by
        # charge, not by every channel: a peak-time slot is never all-zero).
        state["telescopes"] = "present"
    state["predictor"].pop("directory")
    return _digest(state)


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
    """Load the training predictor matching ``cfg``, training and caching it if
    missing."""
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


def _train(cfg: Config, dataset, folder: Path, key: str, tasks, strategy):
    model, meta = fit_predictor(
        dataset, cfg.model.predictor, tasks, cfg.seed, strategy=strategy
    )
    save_predictor_atomic(model, {"key": key} | meta, folder)
    model.trainable = False
    return model


def evaluation_key(dataset: CachedDataset, settings: PredictorConfig, seed: int) -> str:
    """Hash of the role, the cached dataset, the labels, the settings and the seed."""
    return _digest(
        {
            "role": "evaluation",
            "dataset": Path(dataset.path).name if dataset.path else None,
            "labels": list(dataset.label_columns),
            "predictor": dataclasses.asdict(settings) | {"directory": None},
            "seed": seed,
        }
    )


def get_evaluation_predictor(
    dataset: CachedDataset, settings: PredictorConfig, run_seed: int
):
    """Load the evaluation predictor for this dataset, training and caching it once.

    Returns
    -------
    (keras.Model, dict)
        The frozen predictor and its ``predictor.json`` metadata.
    """
    seed = run_seed + EVALUATION_SEED_OFFSET
    key = evaluation_key(dataset, settings, seed)
    folder = Path(settings.directory) / f"eval-{key}"
    tasks = list(label_slices(dataset.label_columns))
    if (folder / "predictor.keras").is_file():
        log.info("using evaluation predictor %s", folder)
        meta = json.loads((folder / "predictor.json").read_text())
        if meta.get("key") != key or meta.get("tasks") != tasks:
            raise DataError(
                f"{folder}/predictor.json: made for key {meta.get('key')} and "
                f"tasks {meta.get('tasks')}; expected key {key} and tasks {tasks}"
            )
        model = keras.saving.load_model(folder / "predictor.keras", compile=False)
    else:
        log.info("no evaluation predictor %s: training it on simulation", folder)
        model, meta = fit_predictor(
            dataset, settings, tasks, seed, name="evaluation_predictor"
        )
        meta = {"key": key, "role": "evaluation", "seed": seed} | meta
        save_predictor_atomic(model, meta, folder)
    model.trainable = False
    return model, meta
