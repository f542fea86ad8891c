"""Images to compare: the run's generator, or a simulated stand-in; and its speed.

Generation happens in process, in the square image space the networks work in;
:meth:`EvaluationInputs.camera_charges` takes the result to camera pixels. The
``nearest-simulated`` stand-in answers each requested label with the simulated
*training* image whose standardised labels are nearest: a generator that is right
by construction, which shows what the report says about real images at this
sample size.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from ctgans.evaluate.inputs import EvaluationInputs
from ctgans.generate.trained_run import inference_function

__all__ = [
    "SIMULATION_RATES",
    "generate_square",
    "generator_speed",
    "nearest_simulated",
]

#: The simulation cost a generator replaces, images (events) per second.
SIMULATION_RATES = {
    "sim_telarray (CORSIKA + sim_telarray, order of magnitude)": 1.0,
    "ctgans toy simulator (README: 322 written gamma events/s, one core)": 322.0,
}


def noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """The generator noise, seeded as ``python -m ctgans.generate`` seeds it."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    return rng.standard_normal((n, latent_dim)).astype(np.float32)


def generate_square(sample, labels: np.ndarray, z: np.ndarray, batch: int = 256):
    """Generator output for standardised ``labels`` and noise ``z``, batch by batch;
    ``sample`` is the generator's
    :func:`~ctgans.generate.trained_run.inference_function` (made once: each one
    traces the network anew)."""
    z, labels = z.astype(np.float32), labels.astype(np.float32)
    return np.concatenate(
        [
            np.asarray(sample(z[i : i + batch], labels[i : i + batch]))
            for i in range(0, len(labels), batch)
        ]
    )


def nearest_simulated(
    inputs: EvaluationInputs, k: int = 16
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """For each evaluated example, the training image with the nearest labels
    not given to an earlier example (among the ``k`` nearest; the nearest if all
    are taken): repeated images would let the two-sample classifiers memorise them.

    Returns the images and their own labels in physical units: a stand-in image
    is a real shower, whose source is its own, not the requested one (the
    orientation rows measure the miss distance from it).
    """
    dataset = inputs.dataset
    train = np.flatnonzero(~dataset.is_validation)
    tree = cKDTree(dataset.labels[train])
    _, candidates = tree.query(inputs.labels, k=min(k, len(train)))
    candidates = np.asarray(candidates).reshape(len(inputs.labels), -1)
    used: set[int] = set()
    chosen = np.empty(len(candidates), int)
    for i, row in enumerate(candidates):
        chosen[i] = next((c for c in row if c not in used), row[0])
        used.add(int(chosen[i]))
    rows = train[chosen]
    own = {name: values[rows] for name, values in dataset.physical_labels.items()}
    return dataset.images[rows], own


def generator_speed(
    generator,
    inputs: EvaluationInputs,
    batches=(1, 256, 4096),
    min_seconds: float = 1.0,
) -> dict:
    """Images per second of the generator after warm-up, per batch size.

    Each batch size is timed over repeated calls of a compiled function until
    ``min_seconds`` have passed (at least 3 calls), after one warm-up call; on a
    GPU the output is copied to host memory, which synchronises the device. For
    batch 256 the time to camera pixels (inverse normalisation and mapping, numpy)
    is measured as well.
    """
    import tensorflow as tf

    labels = inputs.labels.astype(np.float32)
    call = inference_function(generator)
    rng = np.random.default_rng(0)
    result = {}
    for batch in batches:
        z = rng.standard_normal((batch, generator.latent_dim)).astype(np.float32)
        y = labels[rng.integers(0, len(labels), batch)]
        np.asarray(call(z, y))  # warm-up: tracing and allocation
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < min_seconds:
            out = np.asarray(call(z, y))
            calls += 1
        seconds = time.perf_counter() - start
        result[str(batch)] = {
            "images_per_s": batch * calls / seconds,
            "calls": calls,
        }
        if batch == 256:
            start = time.perf_counter()
            inputs.camera_charges(out)
            mapping = time.perf_counter() - start
            result[str(batch)]["images_per_s_to_camera_pixels"] = batch / (
                seconds / calls + mapping
            )
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    return {
        "device": "GPU" if "GPU" in devices else "CPU",
        "batches": result,
        "simulation_images_per_s": SIMULATION_RATES,
        "note": "generator only (square images); the 256 entry also gives the rate "
        "to camera pixels. Simulation rates are quoted, not measured here.",
    }
