"""Run folder + requested labels -> generated images -> a ctapipe DL1 file.

The steps, in order: check the request (:mod:`ctgans.generate.request`) and the
output path (nothing heavy runs before a bad argument is reported); open the run
folder and the reference file; choose the truth (:mod:`ctgans.generate.truth_plan`,
:mod:`ctgans.generate.labels`); then chunk by chunk (:mod:`ctgans.generate.chunks`:
each chunk seeded from the seed and its index, so memory does not grow with the
number of events; :mod:`ctgans.generate.images`): compute and standardise the
generator's labels, generate square images batch by batch from seeded noise,
undo the intensity normalisation (p.e., ns), map them back to camera pixels
(:mod:`ctgans.generate.inverse_mapping`); clean and parametrise them with
ctapipe and write them (:mod:`ctgans.generate.writer`: ctapipe's ``DataWriter``
for the first events, numpy batches for the others, the same file), in this
process or, with ``workers > 1``, in
worker processes whose parts ctapipe's merger joins
(:mod:`ctgans.generate.parts`).

Stereo runs (``data.mode: stereo``) generate the images of all ``T`` telescopes of
one shower jointly, from one noise vector and the shower's labels; each event is
written with ``T`` telescope images and one shower truth. Its truth is one row per
shower (:mod:`ctgans.generate.stereo_truth`): copied events keep their true core,
sampled events get the core of a selected simulated event of similar energy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctgans.dl1_output import check_output
from ctgans.exceptions import ConfigError, DataError
from ctgans.generate.chunks import concatenate
from ctgans.generate.images import generated_chunks, writes_camera_pixels
from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
from ctgans.generate.labels import Truth
from ctgans.generate.parts import chunks_per_part, write_in_parts
from ctgans.generate.provenance import Drawn, root_attributes, simulation_configs
from ctgans.generate.reference import Reference, read_reference
from ctgans.generate.request import GenerateRequest
from ctgans.generate.trained_run import load_generator, open_run
from ctgans.generate.truth_plan import first_primary_id, plan_truth
from ctgans.generate.writer import GeneratedEventSource, write_generated

__all__ = ["GenerateRequest", "GenerateStats", "generate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateStats:
    """Summary of one generated file.

    ``truth`` and ``labels`` (physical units, the generator's label columns) are
    those of the written events, in event_id order (stereo: one row per event,
    ``truth.tel_id`` the telescope whose camera frame the labels are in); None
    when :func:`generate` was asked not to keep them.
    """

    path: Path
    n_events: int
    seconds: float
    outside_training_range: tuple[str, ...]
    truth: Truth | None
    labels: dict[str, np.ndarray] | None


def generate(
    request: GenerateRequest, progress: bool = False, keep_truth: bool = True
) -> GenerateStats:
    """Generate ``request.n_events`` labeled images into a ctapipe DL1 file.

    Parameters
    ----------
    request : GenerateRequest
        What to generate.
    progress : bool
        Show a tqdm progress bar over the written events.
    keep_truth : bool
        Return the truth and labels of every event (about 100 bytes an event);
        False keeps the memory independent of the number of events.

    Raises
    ------
    CtgansInputError
        On a missing or unfinished run folder, an unusable reference file or an
        existing output file; nothing is written then.
    """
    start = time.perf_counter()
    check_output(request.output, request.overwrite)
    run = open_run(request.run_folder)
    reference_path = request.labels_from or run.data.signal[0]
    reference = read_reference(reference_path, run.data, run.tel_ids)
    missing = [t for t in run.tel_ids if t not in reference.subarray.tel]
    if run.stereo and missing:
        raise DataError(
            f"{reference_path}: no telescope(s) {missing}; a stereo run of "
            f"telescopes {list(run.tel_ids)} needs all of them in the reference file"
        )
    signal_id = first_primary_id(run.data.signal[0])
    plan, drawn = plan_truth(request, run, reference, signal_id)

    generator = load_generator(run, seed=request.seed)
    if run.stereo:
        tel_id = run.tel_ids[0]
    else:
        tel_id = int(plan.chunk(0, 0, 1).tel_id[0])
    geometry = reference.subarray.tel[tel_id].camera.geometry
    mapper = build_mapper(geometry, run.data.mapper, run.data.image_shape)
    height, width = run.image_shape[-3:-1]
    if mapper.image_shape != height:
        raise ConfigError(
            f"{run.folder}: the {run.data.mapper} makes "
            f"{mapper.image_shape}x{mapper.image_shape} images; the "
            f"generator {height}x{width}"
        )
    # A camera-aware mono generator writes its camera charges: no inverse needed.
    if writes_camera_pixels(generator, run):
        inverse = None
    else:
        inverse = InverseMapper(mapper, geometry)
    kept: list[tuple[Truth, dict]] | None = [] if keep_truth else None
    outside: list[str] = []
    chunks = generated_chunks(
        generator, run, reference, inverse, plan, request, signal_id, outside, kept
    )
    simulation_config = _simulation_configs(reference, plan, drawn)
    attributes = root_attributes(run, reference_path, drawn, request.seed)
    bar = _progress_bar(plan.n_events) if progress else None
    update = bar.update if bar is not None else None
    try:
        if request.workers == 1:
            source = GeneratedEventSource(
                reference,
                (batch for chunk in chunks for batch in chunk.batches),
                simulation_config=simulation_config,
            )
            n = write_generated(
                source,
                request.output,
                request.seed,
                request.overwrite,
                progress=update,
                attributes=attributes,
                parameters=request.parameters,
                per_event=request.per_event,
            )
        else:
            n = write_in_parts(
                chunks,
                reference,
                simulation_config,
                request.output,
                request.seed,
                request.workers,
                overwrite=request.overwrite,
                progress=update,
                attributes=attributes,
                parameters=request.parameters,
                per_event=request.per_event,
                chunks_in_part=chunks_per_part(plan.n_events, request.workers),
            )
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    log.info("%s: %d generated events in %.1f s", request.output, n, seconds)
    truth = labels = None
    if kept:
        truth = concatenate([t for t, _ in kept])
        labels = {c: np.concatenate([lab[c] for _, lab in kept]) for c in kept[0][1]}
    return GenerateStats(request.output, n, seconds, tuple(outside), truth, labels)


def _simulation_configs(reference: Reference, plan, drawn: Drawn) -> dict:
    """The simulation settings of the file: what was drawn, events per obs_id."""
    counts = plan.obs_counts()
    configs = simulation_configs(
        reference.simulation_config, np.asarray(list(counts), np.int64), drawn
    )
    for obs_id, config in configs.items():
        config.n_showers = counts.get(obs_id, 0)
    return configs


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="event", desc="generate", leave=False)
