"""Labels -> noise -> generator -> camera pixels, one chunk at a time.

Each chunk's noise, camera response and timing fit are seeded from the seed and
the chunk's index (:func:`~ctgans.generate.chunks.chunk_seed`); the square images
are mapped back to camera pixels by :mod:`ctgans.generate.inverse_mapping`. A
camera-aware mono generator makes its camera pixels' charges itself (its camera
layer draws them before mapping them to the grid): those are written as they are,
without the grid, the charge transform and the inverse mapping.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ctgans.data.normalize import CHARGE_CHANNELS
from ctgans.data.presence import present_slots
from ctgans.exceptions import ConfigError
from ctgans.generate.chunks import chunk_ranges, chunk_seed
from ctgans.generate.inverse_mapping import InverseMapper
from ctgans.generate.labels import Truth, check_ranges, generator_labels
from ctgans.generate.parts import Chunk
from ctgans.generate.trained_run import TrainedRun, inference_function
from ctgans.generate.writer import EventBatch

TIME_CHANNELS = ("peak_time", "relative_peak_time")


def writes_camera_pixels(generator, run) -> bool:
    """Whether ``generator`` makes the camera pixels' charges itself (a
    camera-aware mono run): then no inverse mapping is needed."""
    return getattr(generator, "camera_response", None) is not None and not run.stereo


def generated_chunks(
    generator, run, reference, inverse, plan, request, signal_id, outside, kept
):
    """Yield the Chunk of every chunk of ``plan``, generated one at a time.

    Appends the label columns found outside the training range to ``outside``
    (a warning each, the first time) and, unless ``kept`` is None, ``(truth,
    labels)`` of each chunk to ``kept``.
    """
    camera = getattr(generator, "camera_response", None)
    direct = writes_camera_pixels(generator, run)
    sample = inference_function(generator, pixels=direct)
    for k, first, stop in chunk_ranges(plan.n_events):
        truth = plan.chunk(k, first, stop)
        labels = generator_labels(truth, run.label_columns, reference, signal_id)
        unseen = {c: v for c, v in labels.items() if c not in outside}
        outside.extend(check_ranges(unseen, run.label_ranges))
        scaled = run.label_scaler.forward(labels)
        noise_rng = np.random.default_rng(chunk_seed(request.seed, "noise", k))
        z = noise_rng.standard_normal((len(truth), generator.latent_dim))
        if camera is not None:
            camera.reseed(_int_seed(chunk_seed(request.seed, "camera", k)))
        batches = list(
            _batches(
                sample,
                run,
                inverse,
                truth,
                z.astype(np.float32),
                scaled.astype(np.float32),
                request.batch_size,
                direct,
            )
        )
        batches[0] = replace(batches[0], fit_seed=chunk_seed(request.seed, "fit", k))
        if kept is not None:
            kept.append((truth, labels))
        yield Chunk(k, first, tuple(batches))


def _int_seed(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1)[0] >> 1)  # fits an int32 seed state


def _channel(channels, wanted) -> int | None:
    return next((i for i, c in enumerate(channels) if c in wanted), None)


def _batches(
    sample,
    run: TrainedRun,
    inverse: InverseMapper | None,
    truth: Truth,
    z: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    direct: bool = False,
):
    """Yield EventBatch objects of generated camera images, ``batch_size`` at once
    (``sample``: the generator's :func:`inference_function`; ``direct``: it
    returns camera charges in p.e., mono, the charge channel only)."""
    charge = _channel(run.data.channels, CHARGE_CHANNELS)
    timing = _channel(run.data.channels, TIME_CHANNELS)
    if charge is None:
        raise ConfigError(
            f"{run.folder}: channels {list(run.data.channels)} hold no "
            f"charge; expected one of {CHARGE_CHANNELS}"
        )
    stereo = run.stereo
    for first in range(0, len(truth), batch_size):
        rows = slice(first, first + batch_size)
        if direct:
            image = np.asarray(sample(z[rows], labels[rows]), np.float32)
            yield EventBatch(truth.take(rows), image, None)
            continue
        square = np.asarray(sample(z[rows], labels[rows]))
        physical = run.normalization.inverse(square)
        # (n, [T,] H, W, C) -> (n, [T,] n_pixels, C): every telescope alike.
        pixels = inverse(physical.reshape(-1, *physical.shape[-3:]))
        pixels = pixels.reshape(*physical.shape[:-3], *pixels.shape[-2:])
        # float32 as written: a chunk sent to a worker is half the size.
        image = pixels[..., charge].astype(np.float32)
        peak_time = (  # None: no times (written as 0, not parametrised)
            pixels[..., timing].astype(np.float32) if timing is not None else None
        )
        if stereo:
            present = present_slots(square, *run.presence)
            yield EventBatch(
                truth.take(rows), image, peak_time, tuple(run.tel_ids), present
            )
        else:
            yield EventBatch(truth.take(rows), image, peak_time)
