"""Independent evaluation predictors: CTLearn ResNets that never trained a generator.

The training predictor steers the generator, so a generator can learn images that
fool it; label recovery must be judged by another network. An evaluation
predictor has the run's ResNet settings but its own seed, is trained on the
simulated training split only, and is cached like the training predictor in the
run's predictor directory, under ``eval-<key>/`` where the key hashes the role
``"evaluation"``, the cached dataset, the labels, the settings and the seed, so the
two kinds never collide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from ctgans.config import PredictorConfig
from ctgans.data.cache import CachedDataset
from ctgans.exceptions import DataError

__all__ = ["EVALUATION_SEED_OFFSET", "evaluation_key", "get_evaluation_predictor"]

log = logging.getLogger(__name__)

#: The evaluation predictor's seed is the run's seed plus this.
EVALUATION_SEED_OFFSET = 7919


def evaluation_key(dataset: CachedDataset, settings: PredictorConfig, seed: int) -> str:
    """Hash of the role, the cached dataset, the labels, the settings and the seed."""
    state = {
        "role": "evaluation",
        "dataset": Path(dataset.path).name if dataset.path else None,
        "labels": list(dataset.label_columns),
        "predictor": dataclasses.asdict(settings) | {"directory": None},
        "seed": seed,
    }
    return hashlib.sha256(
        json.dumps(state, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def get_evaluation_predictor(
    dataset: CachedDataset, settings: PredictorConfig, run_seed: int
):
    """Load the evaluation predictor for this dataset, training and caching it once.

    Returns
    -------
    (keras.Model, dict)
        The frozen predictor and its ``predictor.json`` metadata.
    """
    import keras

    from ctgans.models.predictor import label_slices

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
        from ctgans.train.predictors import save_predictor_atomic

        model, meta = _train(dataset, settings, seed, tasks, key)
        save_predictor_atomic(model, meta, folder)
    model.trainable = False
    return model, meta


def _train(dataset: CachedDataset, settings: PredictorConfig, seed, tasks, key):
    from ctgans.train.predictors import fit_predictor

    model, meta = fit_predictor(
        dataset, settings, tasks, seed, name="evaluation_predictor"
    )
    return model, {"key": key, "role": "evaluation", "seed": seed} | meta
