"""Write generated camera images as a ctapipe DL1 file, atomically.

:class:`GeneratedEventSource` is a ctapipe ``EventSource`` over generated images,
like the toy simulator's :class:`~ctgans.simulate.source.ToyMagicEventSource`, but
its instrument, pointing, observation and simulation settings are copied from a
reference DL1 file, and its events come from outside. ctapipe's ``ImageProcessor``
computes the DL1 parameters with the camera's cleaning (:mod:`ctgans.cameras`:
MAGIC's for MAGICCam, ctapipe's defaults for cameras it does not list) and
``DataWriter`` writes the file, so the data model is the one ``DLImageReader``
and ``ctlearn-train-model`` read.

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
from collections.abc import Iterable, Iterator
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
from ctgans.dl1_output import InMemoryDL1Source, new_event, write_dl1
from ctgans.generate.labels import Truth
from ctgans.generate.reference import Reference

__all__ = ["EventBatch", "GeneratedEventSource", "write_generated"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventBatch:
    """Generated events: truth, camera images (p.e.) and peak times (ns).

    Mono: ``image`` and ``peak_time`` have shape ``(n, n_pixels)`` and each event
    is written for ``truth.tel_id``. Stereo: shape ``(n, T, n_pixels)``,
    ``tel_ids`` names the ``T`` telescopes, in that order, and ``present``
    (``(n, T)`` bool, default all) says which of them an event holds.
    ``fit_seed``, when given, restarts ctapipe's timing-fit generator before the
    batch's first event.
    """

    truth: Truth
    image: np.ndarray
    peak_time: np.ndarray
    tel_ids: tuple[int, ...] | None = None
    present: np.ndarray | None = None
    fit_seed: np.random.SeedSequence | None = None

    def images_of(self, i: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{tel_id: (image, peak_time)}`` of event ``i``."""
        if self.image.ndim == 2:
            return {int(self.truth.tel_id[i]): (self.image[i], self.peak_time[i])}
        return {
            int(tel_id): (self.image[i, k], self.peak_time[i, k])
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
            if batch.fit_seed is not None:
                fitting.FIT_RNG.bit_generator.state = np.random.default_rng(
                    batch.fit_seed
                ).bit_generator.state
            for i in range(len(batch.truth)):
                yield self._event(batch, i)
                self.n_written += 1

    def _event(self, batch: EventBatch, i: int) -> ArrayEventContainer:
        truth = batch.truth
        obs_id = int(truth.obs_id[i])
        images = batch.images_of(i)
        event_id = self.first_event_id + self.n_written
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
                peak_time=peak_time.astype(np.float32),
            )
        return event


def _processor_config(subarray) -> TraitletsConfig:
    """The cleaning of the camera table (:mod:`ctgans.cameras`) for its cameras."""
    return processor_config(c.name for c in subarray.camera_types)


def write_generated(
    source: GeneratedEventSource,
    output_path: Path,
    seed: int,
    overwrite: bool = False,
    progress=None,
    attributes: dict | None = None,
) -> int:
    """Process and write every event of ``source`` atomically; return the count.

    ``seed`` seeds ctapipe's timing fit (reproducible timing parameters);
    ``attributes`` are set on the file's root after ctapipe's own
    (:func:`ctgans.generate.provenance.root_attributes`).
    """
    write_dl1(
        source,
        output_path,
        fit_seed=np.random.SeedSequence([seed, 0xF17]),
        activity="ctgans.generate",
        processor_config=_processor_config(source.subarray),
        overwrite=overwrite,
        progress=progress,
        attributes=attributes,
    )
    return source.n_written
