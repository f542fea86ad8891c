"""Settings that can only be checked against the data: batch sizes vs examples.

:func:`check_dataset` runs on the dataset in memory, before its cache is written
(:func:`ctgans.data.prepare_dataset`'s ``check``), so that a refusal leaves no
cache, no predictor and no run folder behind.
"""

from __future__ import annotations

from ctgans.config import Config
from ctgans.data.cache import CachedDataset
from ctgans.data.presence import present_telescopes, stereo_presence
from ctgans.exceptions import ConfigError


def check_dataset(cfg: Config, dataset: CachedDataset) -> None:
    """Refuse batches larger than the training split; reads and writes nothing.

    One generator step takes ``train.batch_size`` x ``loss.critic_steps`` training
    examples; the predictor's batches are telescope images (stereo: the present
    telescopes of each event). An epoch of either would have no step.
    """
    train = ~dataset.is_validation
    n_train = int(train.sum())
    batch, steps = cfg.train.batch_size, cfg.loss.critic_steps
    if n_train < batch * steps:
        raise ConfigError(
            f"`train.batch_size` x `loss.critic_steps` (the examples of one "
            f"generator step) must be at most the {n_train} training examples; "
            f"received {batch} x {steps} = {batch * steps} ({cfg.source})"
        )
    n_images = n_train
    if dataset.images.ndim == 5:  # stereo
        images = dataset.images[train]
        presence = stereo_presence(images, cfg.data.channels)
        n_images = len(present_telescopes(images, dataset.labels[train], *presence)[0])
    if n_images < cfg.model.predictor.batch_size:
        raise ConfigError(
            "`model.predictor.batch_size` must be at most the "
            f"{n_images} training telescope images; received "
            f"{cfg.model.predictor.batch_size} ({cfg.source})"
        )
