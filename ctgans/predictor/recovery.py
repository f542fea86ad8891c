"""The training predictor's label recovery on simulated vs generated validation
images, written to the run folder at the end of training (``label_recovery.json``).
"""

from __future__ import annotations

import numpy as np

from ctgans.data.cache import CachedDataset
from ctgans.data.presence import present_telescopes
from ctgans.predictor.figures import label_errors, predict_here

__all__ = ["label_recovery"]

BATCH = 256


def label_recovery(gan, predictor, dataset: CachedDataset, seed: int) -> dict:
    """Predictor figures of merit on simulated vs generated validation images.

    The generated images carry the validation labels and noise drawn with
    ``seed``; stereo runs are judged on their present telescopes only.
    """
    val = (
        dataset.is_validation
        if dataset.is_validation.any()
        else np.ones(len(dataset.images), bool)
    )
    images, labels = dataset.images[val], dataset.labels[val]
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((len(labels), gan.latent_dim)).astype(np.float32)
    fake = np.concatenate(
        [
            np.asarray(
                gan.sampler((z[i : i + BATCH], labels[i : i + BATCH]), training=False)
            )
            for i in range(0, len(labels), BATCH)
        ]
    )
    present = (gan.presence_channel, gan.presence_threshold)
    results = {"n_events": int(len(labels))}
    for name, x in (("simulated", images), ("generated", fake)):
        # A young stereo generator may light no telescope.
        x, y = present_telescopes(x, labels, *present)
        results[name] = (
            label_errors(predict_here(predictor, x), y, dataset.label_scaler)
            if len(x)
            else {}
        )
        if images.ndim == 5:
            results[name]["n_telescope_images"] = int(len(x))
    return results
