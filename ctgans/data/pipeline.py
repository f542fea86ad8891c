"""The tf.data chain that feeds training from the in-memory cached arrays."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_tf_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)``; reshuffled every epoch when ``shuffle``.

    Shuffling permutes indices and gathers whole batches, so the cost per epoch is
    one vectorised copy per batch, not a Python step per image. ``batch_size`` is the
    global batch: pass the dataset to ``strategy.experimental_distribute_dataset``.
    """
    n = len(images)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels)
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size, drop_remainder=drop_remainder)
    dataset = batches.map(
        lambda idx: (tf.gather(images_t, idx), tf.gather(labels_t, idx)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    # Multi-worker: every worker builds the same seeded stream and keeps its
    # replicas' share of each global batch (FILE sharding needs files, not tensors).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def train_and_validation(dataset, batch_size: int, seed: int):
    """The (training, validation) tf.data datasets of a :class:`CachedDataset`."""
    val = dataset.is_validation
    train = make_tf_dataset(
        dataset.images[~val], dataset.labels[~val], batch_size, seed
    )
    validation = make_tf_dataset(
        dataset.images[val],
        dataset.labels[val],
        batch_size,
        seed,
        shuffle=False,
        drop_remainder=False,
    )
    return train, validation
