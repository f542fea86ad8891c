"""The stages of generating a DL1 file, each timed alone (CPU seconds, no profiler).

Used by ``bench/generate.py``. On ``n`` generated mono events of the run (made
once, read back from a file): the generator network (batch 256), the inverse
mapping, ctapipe's cleaning alone and cleaning + image parameters
(``ImageResults``), the writing of events whose images are already made,
batched and per event (``write_generated``, minus the cleaning and parameters
measured alone), and the two steps of :func:`ctgans.generate.parts.write_in_parts`
that no worker does: handing a chunk to a worker process (pickling it in the main
process and unpickling it in the worker, both counted) and appending a written
part to the output with ctapipe's ``HDF5Merger`` (in the main process).
cProfile inflates Python-heavy code (ctapipe's containers, dl1-data-handler's
mapper) far more than TensorFlow's kernels; these timings do not.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np


def stage_seconds(run: Path, n: int, tmp: Path) -> list[tuple[str, float]]:
    """``(stage, CPU seconds for n events)`` rows."""
    from ctapipe.io import HDF5Merger, read_table

    from ctgans.cameras import processor_config
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.images import TIME_CHANNELS
    from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
    from ctgans.generate.parameters import ImageResults
    from ctgans.generate.parts import Chunk
    from ctgans.generate.reference import read_reference
    from ctgans.generate.trained_run import open_run
    from ctgans.generate.writer import (
        EventBatch,
        GeneratedEventSource,
        write_generated,
    )

    made = tmp / "stages.dl1.h5"
    truth = generate(
        GenerateRequest(run, made, n_events=n, parameters=False, overwrite=True)
    ).truth
    trained = open_run(run)
    reference = read_reference(trained.data.signal[0], trained.data, trained.tel_ids)
    tables = [
        read_table(made, f"/dl1/event/telescope/images/tel_{t:03d}")
        for t in trained.tel_ids
    ]
    made.unlink()
    order = np.argsort(np.concatenate([t["event_id"] for t in tables]))
    image = np.concatenate([t["image"] for t in tables])[order]
    # A run without a time channel writes peak times 0 and parametrises without.
    timed = any(c in TIME_CHANNELS for c in trained.data.channels)
    peak_time = np.concatenate([t["peak_time"] for t in tables])[order]
    times = peak_time if timed else [None] * len(image)

    network = network_seconds(run, n)
    rows = [
        ("generator network (batch 256), traced graph (generation)", network["traced"]),
        ("generator network (batch 256), eager calls (before)", network["eager"]),
    ]
    geometry = reference.subarray.tel[int(truth.tel_id[0])].camera.geometry
    mapper = build_mapper(geometry, trained.data.mapper, trained.data.image_shape)
    inverse = InverseMapper(mapper, geometry)
    square = np.ones((256, mapper.image_shape, mapper.image_shape, 1), np.float32)
    start = time.process_time()
    for _ in range(0, n, 256):
        inverse(square)
    rows.append(("inverse mapping", time.process_time() - start))

    config = processor_config(c.name for c in reference.subarray.camera_types)
    alone = {}
    for parameters in (False, True):
        results = ImageResults(reference.subarray, config, parameters)
        for tel_id, pixels, t in zip(truth.tel_id[:20], image, times):
            results(int(tel_id), pixels, t)  # numba kernels compiled
        start = time.process_time()
        for tel_id, pixels, t in zip(truth.tel_id, image, times):
            results(int(tel_id), pixels, t)
        alone[parameters] = time.process_time() - start
    rows.append(("ctapipe cleaning", alone[False]))
    rows.append(("ctapipe image parameters", alone[True] - alone[False]))

    batches = tuple(
        EventBatch(
            truth.take(slice(f, f + 256)),
            image[f : f + 256],
            peak_time[f : f + 256] if timed else None,
        )
        for f in range(0, n, 256)
    )

    def write(out=None, first_event_id=0, **options) -> float:
        source = GeneratedEventSource(reference, batches, first_event_id=first_event_id)
        keep = out is not None
        out = out or tmp / "stages_write.dl1.h5"
        start = time.process_time()
        write_generated(source, out, seed=0, overwrite=True, **options)
        seconds = time.process_time() - start
        if not keep:
            out.unlink()
        return seconds

    for label, options, computed in (
        ("writing, batched, no parameters", {"parameters": False}, alone[False]),
        ("writing, batched, parameters", {}, alone[True]),
        ("writing, per event (before)", {"per_event": True}, alone[True]),
    ):
        rows.append((label, write(**options) - computed))

    start = time.process_time()
    pickle.loads(pickle.dumps(Chunk(0, 0, batches), pickle.HIGHEST_PROTOCOL))
    rows.append(
        (
            "hand-off of a chunk to a worker (pickle + unpickle)",
            time.process_time() - start,
        )
    )

    parts = [tmp / f"stages_part{k}.dl1.h5" for k in range(2)]
    for k, part in enumerate(parts):
        write(part, first_event_id=k * n)
    merged = tmp / "stages_merged.dl1.h5"
    with HDF5Merger(
        merged, overwrite=True, merge_strategy="events-single-ob"
    ) as merger:
        merger(parts[0])  # the first part creates the output's tables
        start = time.process_time()
        merger(parts[1])
        rows.append(
            ("merging a part into the output (HDF5Merger)", time.process_time() - start)
        )
    for path in (*parts, merged):
        path.unlink()
    return rows


def network_seconds(run: Path, n: int) -> dict[str, float]:
    """CPU seconds of the run's generator on ``n`` images, batches of 256, called
    eagerly (generation before) and through ``inference_function`` (now), in
    alternating rounds so that a competing process slows both alike."""
    from ctgans.generate.trained_run import inference_function, load_generator, open_run

    trained = open_run(run)
    generator = load_generator(trained)
    sample = inference_function(generator)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, generator.latent_dim)).astype(np.float32)
    labels = np.zeros((n, len(trained.label_columns)), np.float32)
    arms = {
        "eager": lambda a, b: generator((a, b), training=False),
        "traced": sample,
    }
    seconds = dict.fromkeys(arms, 0.0)
    for call in arms.values():
        np.asarray(call(z[:256], labels[:256]))  # build and trace
    for first in range(0, n, 256):
        rows = slice(first, first + 256)
        for name, call in arms.items():
            start = time.process_time()
            np.asarray(call(z[rows], labels[rows]))
            seconds[name] += time.process_time() - start
    return seconds
