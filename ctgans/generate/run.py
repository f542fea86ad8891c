"""Run folder + requested labels -> generated images -> a ctapipe DL1 file.

The steps, in order: check the request and the output path (nothing heavy runs
before a bad argument is reported); open the run folder and the reference file;
choose the truth (:mod:`ctgans.generate.labels`); then chunk by chunk
(:mod:`ctgans.generate.chunks`: each chunk seeded from the seed and its index, so
memory does not grow with the number of events): compute and standardise the
generator's labels, generate square images batch by batch from seeded noise,
undo the intensity normalisation (p.e., ns), map them back to camera pixels
(:mod:`ctgans.generate.inverse_mapping`); write them with ctapipe
(:mod:`ctgans.generate.writer`), in this process or, with ``workers > 1``, in
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
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import astropy.units as u
import numpy as np
import tables
from ctapipe.io import read_table

from ctgans.data.normalize import CHARGE_CHANNELS
from ctgans.data.presence import present_slots
from ctgans.dl1_output import check_output
from ctgans.exceptions import ConfigError, DataError
from ctgans.generate.chunks import (
    CopiedTruth,
    SampledTruth,
    chunk_ranges,
    chunk_seed,
    concatenate,
)
from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
from ctgans.generate.labels import (
    DIRECTIONS,
    Truth,
    check_ranges,
    generator_labels,
    sample_truth,
    truth_from_file,
)
from ctgans.generate.parts import Chunk, write_in_parts
from ctgans.generate.provenance import Drawn, root_attributes, simulation_configs
from ctgans.generate.reference import SHOWER_TABLE, Reference, read_reference
from ctgans.generate.stereo_truth import one_row_per_event, sample_cores
from ctgans.generate.trained_run import TrainedRun, load_generator, open_run
from ctgans.generate.writer import (
    EventBatch,
    GeneratedEventSource,
    write_generated,
)
from ctgans.simulate.settings import PARTICLES

__all__ = ["GenerateRequest", "GenerateStats", "generate"]

log = logging.getLogger(__name__)

TIME_CHANNELS = ("peak_time", "relative_peak_time")


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate; checked when made (``ConfigError`` names the option).

    Parameters
    ----------
    run_folder, output : pathlib.Path
        The training run folder and the DL1 file to write.
    n_events : int or None
        Events to generate; None only with ``labels_from`` (all its events).
    labels_from : pathlib.Path or None
        Copy the truth of this DL1 file's selected events instead of sampling.
    energy_min, energy_max : float or None
        Sampled energy range in TeV; None: the training range.
    spectral_index : float or None
        Power-law index; None: the reference file's simulated index.
    direction : {"diffuse", "point"} or None
        None: diffuse if the reference file was simulated diffuse, else point.
    radius_deg : float or None
        Disc radius (diffuse) or source offset (point), degrees; None: the training
        range (diffuse) or the simulated view cone.
    particle : {"gamma", "proton"} or None
        Primary of sampled events; None: the run's signal particle.
    seed : int
        Seeds label sampling, the generator noise and ctapipe's timing fit.
    batch_size : int
        Images generated per generator call (at most a chunk,
        :data:`~ctgans.generate.chunks.CHUNK_EVENTS`).
    overwrite : bool
        Replace an existing output file.
    workers : int
        Processes computing the DL1 parameters and writing: 1 writes in this
        process; more write a part per chunk in that many worker processes and
        merge the parts with ctapipe's ``HDF5Merger``. The events are the same.
    """

    run_folder: Path
    output: Path
    n_events: int | None = None
    labels_from: Path | None = None
    energy_min: float | None = None
    energy_max: float | None = None
    spectral_index: float | None = None
    direction: str | None = None
    radius_deg: float | None = None
    particle: str | None = None
    seed: int = 0
    batch_size: int = 256
    overwrite: bool = False
    workers: int = 1

    def __post_init__(self):
        if self.n_events is None and self.labels_from is None:
            raise ConfigError("--n-events: required unless --labels-from is given")
        if self.n_events is not None and self.n_events <= 0:
            raise ConfigError(
                f"--n-events must be a positive integer; received {self.n_events}"
            )
        if self.batch_size <= 0:
            raise ConfigError(
                f"--batch-size must be a positive integer; received {self.batch_size}"
            )
        if self.workers <= 0:
            raise ConfigError(
                f"--workers must be a positive integer; received {self.workers}"
            )
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0; received {self.seed}")
        for name in ("energy_min", "energy_max"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive "
                    f"energy in TeV; received {value}"
                )
        if (
            self.energy_min is not None
            and self.energy_max is not None
            and self.energy_min >= self.energy_max
        ):
            raise ConfigError(
                f"--energy-min must be below --energy-max; received "
                f"{self.energy_min} >= {self.energy_max}"
            )
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ConfigError(
                f"--direction must be one of {DIRECTIONS}; received {self.direction!r}"
            )
        if self.radius_deg is not None and not 0.0 <= self.radius_deg < 45.0:
            raise ConfigError(
                f"--radius-deg must be in [0, 45); received {self.radius_deg}"
            )
        if self.particle is not None and self.particle not in PARTICLES:
            raise ConfigError(
                f"--particle must be one of {sorted(PARTICLES)}; "
                f"received {self.particle!r}"
            )


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
    if _is_stereo(run) and missing:
        raise DataError(
            f"{reference_path}: no telescope(s) {missing}; a stereo run of "
            f"telescopes {list(run.tel_ids)} needs all of them in the reference file"
        )
    signal_id = _first_primary_id(run.data.signal[0])
    plan, drawn = _truth(request, run, reference, signal_id)

    generator = load_generator(run, seed=request.seed)
    if _is_stereo(run):
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
    inverse = InverseMapper(mapper, geometry)
    kept: list[tuple[Truth, dict]] | None = [] if keep_truth else None
    outside: list[str] = []
    chunks = _chunks(
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


def _chunks(
    generator, run, reference, inverse, plan, request, signal_id, outside, kept
):
    """Yield the Chunk of every chunk of ``plan``, generated one at a time.

    Appends the label columns found outside the training range to ``outside``
    (a warning each, the first time) and, unless ``kept`` is None, ``(truth,
    labels)`` of each chunk to ``kept``.
    """
    camera = getattr(generator, "camera_response", None)
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
                generator,
                run,
                inverse,
                truth,
                z.astype(np.float32),
                scaled,
                request.batch_size,
            )
        )
        batches[0] = replace(batches[0], fit_seed=chunk_seed(request.seed, "fit", k))
        if kept is not None:
            kept.append((truth, labels))
        yield Chunk(k, first, tuple(batches))


def _int_seed(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1)[0] >> 1)  # fits an int32 seed state


def _simulation_configs(reference: Reference, plan, drawn: Drawn) -> dict:
    """The simulation settings of the file: what was drawn, events per obs_id."""
    counts = plan.obs_counts()
    configs = simulation_configs(
        reference.simulation_config, np.asarray(list(counts), np.int64), drawn
    )
    for obs_id, config in configs.items():
        config.n_showers = counts.get(obs_id, 0)
    return configs


def _is_stereo(run: TrainedRun) -> bool:
    return run.data.mode == "stereo"


def _first_primary_id(path: Path) -> int:
    with tables.open_file(str(path), "r") as h5:
        return int(h5.get_node(SHOWER_TABLE).col("true_shower_primary_id")[0])


def _truth(
    request: GenerateRequest, run: TrainedRun, reference: Reference, signal_id: int
) -> tuple[CopiedTruth | SampledTruth, Drawn]:
    """The truth to generate (chunk by chunk), and how it was chosen."""
    if request.labels_from is not None:
        drawn = Drawn(labels=f"copied from {request.labels_from}")
        events = truth_from_file(run.data, request.labels_from, None)
        if _is_stereo(run):
            events = one_row_per_event(events)
        count = len(events) if request.n_events is None else request.n_events
        return CopiedTruth(events, count), drawn
    config = reference.simulation_config[reference.obs_ids[0]]
    ranges = run.label_ranges
    if "log_true_energy" in ranges:
        default_energy = tuple(10.0 ** np.asarray(ranges["log_true_energy"]))
    else:
        default_energy = (
            config.energy_range_min.to_value("TeV"),
            config.energy_range_max.to_value("TeV"),
        )
    energy = (
        request.energy_min or default_energy[0],
        request.energy_max or default_energy[1],
    )
    if energy[0] >= energy[1]:
        raise ConfigError(
            f"--energy-min/--energy-max: empty range {energy} TeV "
            "after filling in the training range"
        )
    index = request.spectral_index
    if index is None:
        index = float(config.spectral_index)
    direction = request.direction or ("diffuse" if config.diffuse else "point")
    radius = request.radius_deg
    if radius is None:
        radius = _default_radius(run, reference, direction, config)
    primary = PARTICLES[request.particle] if request.particle else signal_id
    log.info(
        "sampling %d events: %.3g-%.3g TeV, index %.2f, %s within %.2f deg",
        request.n_events,
        *energy,
        index,
        direction,
        radius,
    )
    tel_ids = run.tel_ids[:1] if _is_stereo(run) else run.tel_ids

    def draw(n: int, rng: np.random.Generator) -> Truth:
        return sample_truth(
            n,
            reference,
            # Stereo: the labels are in the first telescope's camera frame.
            tel_ids,
            rng,
            energy,
            index,
            direction,
            radius,
            primary,
        )

    drawn = Drawn("sampled", energy, index, direction, radius, (0.0, 0.0))
    obs_id = reference.obs_ids[0]
    if not _is_stereo(run):
        return SampledTruth(draw, request.n_events, obs_id, request.seed), drawn
    pool_file = _particle_file(run, primary, signal_id)
    log.info("stereo: cores drawn from selected events of %s", pool_file)
    pool = one_row_per_event(truth_from_file(run.data, pool_file, None))
    drawn = replace(drawn, scatter_m=_scatter_range(pool_file))

    def cores(truth: Truth, rng: np.random.Generator) -> Truth:
        return sample_cores(truth, pool, rng)

    return SampledTruth(draw, request.n_events, obs_id, request.seed, cores), drawn


def _scatter_range(path: Path) -> tuple[float, float]:
    """The simulated core scatter range of ``path`` (its first run), metres."""
    row = read_table(path, "/configuration/simulation/run")[0]
    return (
        float(u.Quantity(row["min_scatter_range"], u.m).value),
        float(u.Quantity(row["max_scatter_range"], u.m).value),
    )


def _particle_file(run: TrainedRun, primary: int, signal_id: int) -> Path:
    """A training file of the requested particle (signal if none is)."""
    if primary != signal_id and run.data.background:
        return run.data.background[0]
    return run.data.signal[0]


def _default_radius(run, reference, direction, config) -> float:
    """Training range of the direction labels, else the simulated view cone."""
    ranges = run.label_ranges
    if direction == "diffuse" and "cam_coord_offset_x" in ranges:
        # The largest disc inside the training box of offsets.
        radius_m = min(
            abs(v)
            for c in ("cam_coord_offset_x", "cam_coord_offset_y")
            for v in ranges[c]
        )
        tel_id = run.tel_ids[0]
        focal = reference.subarray.tel[tel_id].camera.geometry.frame.focal_length
        return float(np.rad2deg(np.arctan(radius_m / focal.to_value("m"))))
    if direction == "diffuse" and "fov_lon" in ranges:
        return min(abs(v) for c in ("fov_lon", "fov_lat") for v in ranges[c])
    return float(config.max_viewcone_radius.to_value("deg"))


def _channel(channels, wanted) -> int | None:
    return next((i for i, c in enumerate(channels) if c in wanted), None)


def _batches(
    generator,
    run: TrainedRun,
    inverse: InverseMapper,
    truth: Truth,
    z: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
):
    """Yield EventBatch objects of generated camera images, ``batch_size`` at once."""
    charge = _channel(run.data.channels, CHARGE_CHANNELS)
    timing = _channel(run.data.channels, TIME_CHANNELS)
    if charge is None:
        raise ConfigError(
            f"{run.folder}: channels {list(run.data.channels)} hold no "
            f"charge; expected one of {CHARGE_CHANNELS}"
        )
    stereo = _is_stereo(run)
    for first in range(0, len(truth), batch_size):
        rows = slice(first, first + batch_size)
        square = np.asarray(generator((z[rows], labels[rows]), training=False))
        physical = run.normalization.inverse(square)
        # (n, [T,] H, W, C) -> (n, [T,] n_pixels, C): every telescope alike.
        pixels = inverse(physical.reshape(-1, *physical.shape[-3:]))
        pixels = pixels.reshape(*physical.shape[:-3], *pixels.shape[-2:])
        # float32 as written: a chunk sent to a worker is half the size.
        image = pixels[..., charge].astype(np.float32)
        peak_time = (
            pixels[..., timing].astype(np.float32)
            if timing is not None
            else np.zeros_like(image)
        )
        if stereo:
            present = present_slots(square, *run.presence)
            yield EventBatch(
                truth.take(rows), image, peak_time, tuple(run.tel_ids), present
            )
        else:
            yield EventBatch(truth.take(rows), image, peak_time)


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="event", desc="generate", leave=False)
