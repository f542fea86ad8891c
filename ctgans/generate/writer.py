"""Write generated camera images as a ctapipe DL1 file, atomically.

:class:`GeneratedEventSource` is a ctapipe ``EventSource`` over generated images,
like the toy simulator's :class:`~ctgans.simulate.source.ToyMagicEventSource`, but
its instrument, pointing, observation and simulation settings are copied from a
reference DL1 file, and its events come from outside. ctapipe's ``ImageProcessor``
cleans each image with the camera's cleaning (:mod:`ctgans.cameras`: MAGIC's for
MAGICCam, ctapipe's defaults for cameras it does not list) and computes its DL1
parameters (:mod:`ctgans.generate.parameters`; or not, with
``parameters=False``), and ctapipe's ``DataWriter`` writes the file, so the data
model is the one ``DLImageReader`` and ``ctlearn-train-model`` read.

:func:`write_generated` hands ``DataWriter`` only the events that bring a
telescope or an observation it has not written yet (the first event or two of a
file or part: ctapipe creates every table, with its schema, units and metadata,
and writes the pointing rows) and appends all others batch by batch to the same
tables as numpy arrays (:mod:`ctgans.generate.tables`): the same file, rows and
columns, as ``DataWriter`` writing every event (``per_event=True``, kept as the
reference the tests compare with), about 1 ms an event less.

A mono event holds one telescope image (the telescope of its truth row); a stereo
event holds one image per present telescope of the run (the generator leaves a
telescope empty as the cuts empty a simulated one), all of one shower, with the
same pointing and the shower's truth, as the toy simulator writes its M1+M2 events.
Images without a time channel get ``peak_time = 0`` in every pixel (the timing
parameters are then 0 or NaN).

A file may be written in parts (:mod:`ctgans.generate.parts`): a source then
numbers its events from ``first_event_id``, and a batch carrying a ``fit_seed``
restarts ctapipe's timing-fit generator before its first event, so that a chunk's
parameters do not depend on which process wrote it or what it wrote before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from ctapipe import fitting
from ctapipe.containers import (
    ArrayEventContainer,
    DL1CameraContainer,
    TelescopePointingContainer,
)
from traitlets.config import Config as TraitletsConfig

from ctgans.cameras import processor_config
from ctgans.dl1_output import InMemoryDL1Source, dl1_writer, new_event, write_dl1
from ctgans.generate.labels import Truth
from ctgans.generate.parameters import ImageResults
from ctgans.generate.reference import Reference
from ctgans.generate.tables import EventTables, ImageRows

__all__ = [
    "EventBatch",
    "GeneratedEventSource",
    "write_generated",
    "zero_missing_times",
]

log = logging.getLogger(__name__)

ACTIVITY = "ctgans.generate"


@dataclass(frozen=True)
class EventBatch:
    """Generated events: truth, camera images (p.e.) and peak times (ns).

    ``peak_time`` None: the generator makes no arrival times. The images table
    then holds peak time 0 (its column stays, as CTLearn reads it), and ctapipe
    parametrises the images without times: the timing parameters and peak-time
    statistics are its defaults for an image without times (NaN), not fits to
    the written zeros.

    Mono: ``image`` and ``peak_time`` have shape ``(n, n_pixels)`` and each event
    is written for ``truth.tel_id``. Stereo: shape ``(n, T, n_pixels)``,
    ``tel_ids`` names the ``T`` telescopes, in that order, and ``present``
    (``(n, T)`` bool, default all) says which of them an event holds.
    ``fit_seed``, when given, restarts ctapipe's timing-fit generator before the
    batch's first event.
    """

    truth: Truth
    image: np.ndarray
    peak_time: np.ndarray | None
    tel_ids: tuple[int, ...] | None = None
    present: np.ndarray | None = None
    fit_seed: np.random.SeedSequence | None = None

    def tel_images(self) -> tuple[np.ndarray, ...]:
        """``(event, tel_id, image, peak_time)``: one row per written image, in
        writing order (events in order; an event's telescopes as in ``tel_ids``);
        ``peak_time`` None without times."""
        if self.image.ndim == 2:
            event = np.arange(len(self.image))
            return event, self.truth.tel_id, self.image, self.peak_time
        present = (
            np.ones(self.image.shape[:2], dtype=bool)
            if self.present is None
            else self.present
        )
        event, slot = np.nonzero(present)
        tel_id = np.asarray(self.tel_ids)[slot]
        times = None if self.peak_time is None else self.peak_time[event, slot]
        return event, tel_id, self.image[event, slot], times

    def images_of(self, i: int) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
        """``{tel_id: (image, peak_time)}`` of event ``i`` (peak_time None without
        times)."""
        times = self.peak_time
        if self.image.ndim == 2:
            return {
                int(self.truth.tel_id[i]): (
                    self.image[i],
                    None if times is None else times[i],
                )
            }
        return {
            int(tel_id): (self.image[i, k], None if times is None else times[i, k])
            for k, tel_id in enumerate(self.tel_ids)
            if self.present is None or self.present[i, k]
        }


class GeneratedEventSource(InMemoryDL1Source):
    """Yield one event per generated truth row (mono: one image; stereo: T).

    Parameters
    ----------
    reference : Reference
        Subarray, pointing, observation and simulation settings to copy.
    batches : iterable of EventBatch
        The generated events, consumed once.
    simulation_config : dict, optional
        Simulation settings per obs_id to write instead of the reference's
        (:func:`ctgans.generate.provenance.simulation_configs`).
    first_event_id : int
        The event_id of the first event (a part of a file starts after the
        events of the parts before it).
    **kwargs
        Passed to `ctapipe.io.EventSource`.
    """

    def __init__(
        self,
        reference: Reference,
        batches: Iterable[EventBatch],
        simulation_config: dict | None = None,
        first_event_id: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reference = reference
        self._batches = batches
        self._simulation_config = simulation_config
        self.first_event_id = int(first_event_id)
        self.n_written = 0

    @property
    def subarray(self):
        """The run's telescopes, as described in the reference file."""
        return self.reference.subarray

    @property
    def simulation_config(self):
        """The simulation settings given, else the reference file's, per obs_id."""
        if self._simulation_config is not None:
            return self._simulation_config
        return self.reference.simulation_config

    @property
    def observation_blocks(self):
        """The reference file's observation blocks."""
        return self.reference.observation_blocks

    @property
    def scheduling_blocks(self):
        """The reference file's scheduling blocks."""
        return self.reference.scheduling_blocks

    def _generator(self) -> Iterator[ArrayEventContainer]:
        for batch in self._batches:
            _restart_fit(batch)
            for i in range(len(batch.truth)):
                yield self.event(batch, i, self.first_event_id + self.n_written)
                self.n_written += 1

    def event(self, batch: EventBatch, i: int, event_id: int) -> ArrayEventContainer:
        """Event ``i`` of ``batch`` as a ctapipe event numbered ``event_id``
        (peak times None without times: :func:`zero_missing_times` before
        writing it)."""
        truth = batch.truth
        obs_id = int(truth.obs_id[i])
        images = batch.images_of(i)
        event = new_event(
            obs_id,
            event_id,
            event_id,
            list(images),
            truth,
            i,
            truth.primary_id[i],
        )
        for tel_id, (image, peak_time) in images.items():
            alt, az = self.reference.pointing(obs_id, tel_id)
            event.monitoring.tel[tel_id].pointing = TelescopePointingContainer(
                altitude=alt * u.rad, azimuth=az * u.rad
            )
            event.dl1.tel[tel_id] = DL1CameraContainer(
                image=image.astype(np.float32),
                peak_time=None if peak_time is None else peak_time.astype(np.float32),
            )
        return event


def zero_missing_times(event: ArrayEventContainer) -> None:
    """Give the images of ``event`` without peak times the peak time 0 that the
    images table holds for them (after they were parametrised without)."""
    for dl1 in event.dl1.tel.values():
        if dl1.peak_time is None:
            dl1.peak_time = np.zeros_like(dl1.image)


def _processor_config(subarray) -> TraitletsConfig:
    """The cleaning of the camera table (:mod:`ctgans.cameras`) for its cameras."""
    return processor_config(c.name for c in subarray.camera_types)


def write_generated(
    source: GeneratedEventSource,
    output_path: Path,
    seed: int,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    attributes: dict | None = None,
    parameters: bool = True,
    per_event: bool = False,
) -> int:
    """Clean, parametrise and write every event of ``source`` atomically; return
    the count.

    Parameters
    ----------
    source : GeneratedEventSource
        The events and the file's settings.
    output_path : pathlib.Path
        The DL1 file to write.
    seed : int
        Seeds ctapipe's timing fit (reproducible timing parameters).
    overwrite : bool
        Replace an existing file.
    progress : callable, optional
        Called with the number of events written, batch by batch.
    attributes : dict, optional
        Set on the file's root after ctapipe's own
        (:func:`ctgans.generate.provenance.root_attributes`).
    parameters : bool
        Compute the DL1 image parameters; False: clean only and write ctapipe's
        default parameters (:mod:`ctgans.generate.parameters`).
    per_event : bool
        Run ctapipe's ``ImageProcessor`` and ``DataWriter`` on each event
        (3-4 ms an event; the batched writer, the default, gives the same file).
    """
    config = _processor_config(source.subarray)
    fit_seed = np.random.SeedSequence([seed, 0xF17])
    if per_event:
        if not parameters:
            raise ValueError("per_event writes the parameters; parameters=False")
        write_dl1(
            source,
            output_path,
            fit_seed=fit_seed,
            activity=ACTIVITY,
            processor_config=config,
            overwrite=overwrite,
            progress=None if progress is None else lambda: progress(1),
            attributes=attributes,
            prepare=zero_missing_times,
        )
        return source.n_written
    results = ImageResults(source.subarray, config, parameters)
    with dl1_writer(
        source, output_path, fit_seed, ACTIVITY, overwrite, attributes
    ) as writer:
        _write_batches(writer, source, results, progress)
    return source.n_written


def _write_batches(writer, source: GeneratedEventSource, results, progress) -> None:
    """Write the batches of ``source``: through ``writer`` each event that brings
    an observation or telescope not written yet, the others in numpy batches."""
    tables = EventTables(writer)
    written: set[tuple[int, int]] = set()  # (obs_id, tel_id) DataWriter wrote
    for batch in source._batches:
        _restart_fit(batch)
        images = _image_rows(batch, results)
        n = len(batch.truth)
        event_id = source.first_event_id + source.n_written + np.arange(n)
        start = 0
        for i in [*_new_to_writer(batch.truth.obs_id, images, written), n]:
            if i > start:
                events = slice(start, i)
                tables.append(
                    batch.truth.take(events),
                    event_id[events],
                    images.of_events(start, i),
                )
            if i < n:
                writer(_event_with(source, batch, i, int(event_id[i]), images))
                tables.written_by_ctapipe()
            start = i + 1
        source.n_written += n
        if progress is not None:
            progress(n)


def _image_rows(batch: EventBatch, results: ImageResults) -> ImageRows:
    """The images of ``batch`` with their cleaning masks and parameters."""
    event, tel_id, image, peak_time = batch.tel_images()
    times = [None] * len(image) if peak_time is None else peak_time
    done = [results(int(t), *pixels) for t, *pixels in zip(tel_id, image, times)]
    masks = np.asarray([mask for mask, _ in done])
    if peak_time is None:  # written as 0
        peak_time = np.zeros_like(image)
    return ImageRows(event, tel_id, image, peak_time, masks, [p for _, p in done])


def _new_to_writer(obs_id, images: ImageRows, written: set) -> list[int]:
    """The events with an (obs_id, tel_id) not in ``written`` (added to it), and
    the first event of a file (it creates the subarray tables)."""
    events = [] if written else [0]
    for event, tel_id in zip(images.event, images.tel_id):
        key = (int(obs_id[event]), int(tel_id))
        if key not in written:
            written.add(key)
            if not events or events[-1] != event:
                events.append(int(event))
    return events


def _event_with(source, batch, i, event_id, images: ImageRows):
    """Event ``i`` of ``batch`` with its images' cleaning masks and parameters."""
    event = source.event(batch, i, event_id)
    zero_missing_times(event)
    mine = images.of_events(i, i + 1)
    for tel_id, mask, parameters in zip(mine.tel_id, mine.image_mask, mine.parameters):
        event.dl1.tel[int(tel_id)].image_mask = mask
        event.dl1.tel[int(tel_id)].parameters = parameters
    return event


def _restart_fit(batch: EventBatch) -> None:
    """Restart ctapipe's timing-fit generator from the batch's seed, if any."""
    if batch.fit_seed is not None:
        fitting.FIT_RNG.bit_generator.state = np.random.default_rng(
            batch.fit_seed
        ).bit_generator.state
