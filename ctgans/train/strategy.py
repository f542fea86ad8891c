"""The tf.distribute strategy of a run, and which process writes its run folder."""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from ctgans.exceptions import CtgansInputError

__all__ = ["is_chief", "make_strategy", "multi_worker"]

log = logging.getLogger(__name__)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy named in ``train.strategy``.

    ``multi_worker`` reads the cluster from the ``TF_CONFIG`` environment variable
    (one process per node, see the README); without it, one worker trains alone.
    Call this before anything else touches TensorFlow.
    """
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _check_tf_config() -> None:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        log.warning("train.strategy is multi_worker but TF_CONFIG is not set: 1 worker")
        return
    try:
        config = json.loads(text)
        task = config["task"]
        workers = config["cluster"][task["type"]]
        workers[int(task["index"])]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise CtgansInputError(
            'TF_CONFIG: expected JSON {"cluster": {"worker": ["host:port", '
            '...]}, "task": {"type": "worker", "index": i}} with the task in the '
            f"cluster; received {text!r} ({type(err).__name__}: {err})"
        ) from None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: always, unless a non-chief worker.

    The chief is the ``chief`` task, or worker 0 when the cluster has no ``chief``.
    """
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and ("chief" not in cluster)
    )


def multi_worker(strategy) -> bool:
    """Whether ``strategy`` spans a cluster of workers."""
    resolver = strategy.cluster_resolver
    return resolver is not None and len(resolver.cluster_spec().as_dict()) > 0
