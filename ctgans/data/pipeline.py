"""The tf.data chain that feeds training from the cached arrays.

In memory (:func:`make_tf_dataset`): a shuffled index stream, batched, gathered
from the numpy arrays. From the cache file when the images are
:class:`~ctgans.data.cache.DiskImages` (:mod:`ctgans.data.disk_pipeline`);
:func:`split_dataset` picks the one that fits the dataset.
"""

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
    rows: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)``; reshuffled every epoch when ``shuffle``.

    ``rows`` (default: all) are the examples of ``images`` to use, so a split is
    fed without copying it out of the arrays. Shuffling permutes indices and
    gathers whole batches from the numpy arrays (no tensor copy of them), so the
    cost per epoch is one vectorised copy per batch, not a Python step per image.
    ``batch_size`` is the global batch: pass the dataset to
    ``strategy.experimental_distribute_dataset``.
    """
    n = len(images) if rows is None else len(rows)
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size, drop_remainder=drop_remainder)

    def gather(idx):
        where = idx if rows is None else rows[idx]
        return images[where], labels[where]

    batch_dim = batch_size if drop_remainder else None

    def gather_op(idx):
        x, y = tf.numpy_function(
            gather, [idx], (tf.as_dtype(images.dtype), tf.as_dtype(labels.dtype))
        )
        x.set_shape((batch_dim, *images.shape[1:]))
        y.set_shape((batch_dim, *labels.shape[1:]))
        return x, y

    dataset = batches.map(
        gather_op, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    # Multi-worker: every worker builds the same seeded stream and keeps its
    # replicas' share of each global batch (FILE sharding needs files, not tensors).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def split_dataset(
    dataset,
    mask: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    drop_remainder: bool = True,
    shards: tuple[int, int] = (1, 0),
) -> tf.data.Dataset:
    """The examples of a :class:`~ctgans.data.cache.CachedDataset` where ``mask``.

    In memory: :func:`make_tf_dataset` (``shards`` unused: every worker keeps
    its share of each batch). On disk: :func:`~ctgans.data.disk_pipeline.
    make_disk_dataset`, each of ``shards = (count, index)`` workers reading its
    own chunks.
    """
    from ctgans.data.cache import DiskImages

    rows = np.flatnonzero(mask)
    if not isinstance(dataset.images, DiskImages):
        return make_tf_dataset(
            dataset.images,
            dataset.labels,
            batch_size,
            seed,
            shuffle=shuffle,
            drop_remainder=drop_remainder,
            rows=rows,
        )
    from ctgans.data.disk_pipeline import make_disk_dataset

    return make_disk_dataset(
        dataset.images,
        dataset.labels,
        rows,
        batch_size,
        seed,
        shuffle=shuffle,
        drop_remainder=drop_remainder,
        num_shards=shards[0],
        shard_index=shards[1],
    )


def train_and_validation(dataset, batch_size: int, seed: int):
    """The (training, validation) tf.data datasets of a :class:`CachedDataset`."""
    val = dataset.is_validation
    train = split_dataset(dataset, ~val, batch_size, seed)
    validation = split_dataset(
        dataset, val, batch_size, seed, shuffle=False, drop_remainder=False
    )
    return train, validation
