"""Replica bookkeeping of the GAN's custom train step under ``tf.distribute``.

The GAN runs under ``tf.distribute.MirroredStrategy`` through ``fit``. Keras'
TensorFlow optimizer *sums* gradients over replicas (``all_reduce(SUM)`` in
``apply_gradients``), so every loss is the replica's mean divided by the number of
replicas: the sum is then the global-batch mean, and two replicas make the same
update as one. Noise and interpolation weights are drawn for the global batch and
each replica keeps its own rows, and generator batch normalisation is synchronised,
so that equivalence holds sample by sample, not only on average.
"""

from __future__ import annotations

import tensorflow as tf


def replica_scale(loss):
    """A replica's mean loss divided by the replicas: Keras sums replica gradients."""
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


def multi_worker(strategy) -> bool:
    """True when ``strategy`` spans more than one worker task."""
    resolver = strategy.cluster_resolver
    if resolver is None:
        return False
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values()) > 1


def replica_rows(draw, shape, seed_generator):
    """Draw for the whole global batch; keep this replica's rows.

    Every replica draws the same numbers, so replicas get different noise and one
    device gets exactly the noise that several replicas share out.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    values = draw((shape[0] * replicas, *shape[1:]), seed=seed_generator)
    first = shape[0] * context.replica_id_in_sync_group
    return values[first : first + shape[0]]
