"""Feed training from the cache file, chunk by chunk (``data.in_memory: false``).

The examples of a split are cut into chunks of ``chunk_examples`` consecutive
cache rows. Each epoch visits the chunks in a seeded random order (a new order
every epoch), reads each chunk with one HDF5 read, and mixes the examples of
neighbouring chunks in a seeded shuffle buffer before batching; reads run ahead
of training (prefetch). The same seed gives the same batches; each example comes
once per epoch. Memory: a few chunks, the shuffle buffer and the prefetched
batches, whatever the size of the cache.

Under ``MultiWorkerMirroredStrategy`` each of ``num_shards`` workers reads its
own chunks: the seeded chunk order is the same on every worker and worker ``i``
takes chunks ``i, i + num_shards, ...``, each worker the same number of full
chunks (the rest of an epoch's chunks, fewer than ``num_shards``, is skipped that
epoch), so all workers take the same number of steps.
"""

from __future__ import annotations

import json
import math
import os

import h5py
import numpy as np
import tensorflow as tf

from ctgans.exceptions import DataError

#: Examples per read: 4096 MAGIC 43x43 images are 30 MB a channel.
CHUNK_EXAMPLES = 4096
#: Examples mixed across chunks before batching (4 chunks).
SHUFFLE_BUFFER = 16384


class ChunkReader:
    """``reader(k)``: images and labels of chunk ``k`` of the rows of a split.

    Reads through h5py, whose lock makes concurrent reads from tf.data's threads
    safe; the file is opened on first use and kept open.
    """

    def __init__(self, path, labels: np.ndarray, rows: np.ndarray, chunk: int):
        self.path = str(path)
        self.labels = labels
        self.rows = rows
        self.chunk = chunk
        self._images = None

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.chunk)

    def __call__(self, k) -> tuple[np.ndarray, np.ndarray]:
        if self._images is None:
            self._images = h5py.File(self.path, "r")["images"]
        rows = self.rows[int(k) * self.chunk : (int(k) + 1) * self.chunk]
        block = self._images[rows[0] : rows[-1] + 1]
        return block[rows - rows[0]], self.labels[rows]


def make_disk_dataset(
    images,
    labels: np.ndarray,
    rows: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    drop_remainder: bool = True,
    chunk_examples: int = CHUNK_EXAMPLES,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    num_shards: int = 1,
    shard_index: int = 0,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` of cache ``rows``, read from the file.

    Parameters
    ----------
    images : ctgans.data.cache.DiskImages
        The cached images (their file is read).
    labels : numpy.ndarray
        ``(n, n_columns)`` standardised labels of every cache row.
    rows : numpy.ndarray
        The cache rows of the split (e.g. the training rows).
    batch_size, seed, shuffle, drop_remainder
        As :func:`ctgans.data.pipeline.make_tf_dataset`; without ``shuffle`` the
        chunks and examples come in cache order.
    num_shards, shard_index
        Workers reading disjoint chunks (multi-worker training).
    """
    rows = np.sort(np.asarray(rows, np.int64))
    reader = ChunkReader(images.path, labels, rows, chunk_examples)
    n_chunks = len(reader)
    if num_shards > 1:
        n_chunks = len(rows) // chunk_examples  # full chunks only: equal shards
        if n_chunks < num_shards:
            raise DataError(
                f"{images.path}: {len(rows)} examples make {n_chunks} full chunks of "
                f"{chunk_examples}; expected at least one per worker ({num_shards})"
            )
    chunk_ids = tf.data.Dataset.range(n_chunks)
    if shuffle:
        chunk_ids = chunk_ids.shuffle(
            n_chunks, seed=seed, reshuffle_each_iteration=True
        )
    if num_shards > 1:
        per_shard = n_chunks // num_shards
        chunk_ids = chunk_ids.shard(num_shards, shard_index).take(per_shard)

    image_shape = tuple(images.shape[1:])

    def read(k):
        x, y = tf.numpy_function(reader, [k], (tf.float32, tf.float32))
        x.set_shape((None, *image_shape))
        y.set_shape((None, labels.shape[1]))
        return x, y

    examples = chunk_ids.map(read, num_parallel_calls=2, deterministic=True).unbatch()
    if shuffle:
        examples = examples.shuffle(
            shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True
        )
    batches = examples.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if num_shards > 1  # sharded here, by chunk
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def worker_shards() -> tuple[int, int]:
    """``(workers, this worker's index)`` from ``TF_CONFIG`` (``(1, 0)`` without)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return 1, 0
    config = json.loads(text)  # checked by ctgans.train.strategy before training
    task = config["task"]
    return len(config["cluster"][task["type"]]), int(task["index"])
