"""Write a generated file in parts, in worker processes, merged by ctapipe.

The images are generated in this process (one TensorFlow model, chunk by chunk,
:mod:`ctgans.generate.chunks`); consecutive chunks are grouped into parts
(:func:`chunks_per_part`), and each part goes to one of ``workers`` processes
that cleans it, computes its DL1 parameters (unless ``parameters=False``) and
writes it (:func:`ctgans.generate.writer.write_generated`: ctapipe's
``DataWriter`` and batched appends) as a part file, and the parts
are appended in chunk order, as they come back, to the output by ctapipe's
``HDF5Merger`` (``events-single-ob``: one observation split in consecutive
chunks), then deleted. The file has the tables, columns and attributes of a file
written in one piece and the same events in the same order, with one difference
the merger makes: it appends every part's ``/configuration/simulation/run``, so
the rows after the first part's are removed (every part carries the settings of
the whole file).

Every part pays the setup of ctapipe's ``DataWriter`` (its tables, the subarray,
a provenance record: ≈ 0.5 CPU s) and a merge: a part of 5 chunks (10 000
events) makes that ≈ 0.05 CPU ms an event instead of 0.27 for one chunk, and
the events, their seeds and the file do not depend on the grouping.

At most ``2 * workers`` parts are in flight, so memory and the disk taken by
parts stay bounded whatever the number of events. Parts and the merged file are
hidden temporary files beside the output, renamed to it when complete and
deleted on any failure. Workers are started with ``spawn`` (never ``fork`` a
process holding TensorFlow's threads) and import no TensorFlow.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tables
from ctapipe.core import Provenance
from ctapipe.io import HDF5Merger
from ctapipe.io.hdf5merger import CannotMerge

import ctgans.generate.chunks as chunking
from ctgans.dl1_output import (
    check_output,
    readable,
    set_root_attributes,
    write_failed,
)
from ctgans.generate.reference import Reference
from ctgans.generate.writer import EventBatch, GeneratedEventSource, write_generated

__all__ = ["Chunk", "chunks_per_part", "parts_of", "write_in_parts"]

log = logging.getLogger(__name__)

SIMULATION_RUN_TABLE = "/configuration/simulation/run"

#: Chunks in one part at most (memory: ``2 * workers`` parts in flight).
MAX_CHUNKS_PER_PART = 5


@dataclass(frozen=True)
class Chunk:
    """The generated events of chunk ``index``; its first event is ``start``."""

    index: int
    start: int
    batches: tuple[EventBatch, ...]


def chunks_per_part(n_events: int, workers: int) -> int:
    """Chunks grouped into one part for ``n_events`` events on ``workers``
    processes: up to :data:`MAX_CHUNKS_PER_PART`, while every worker still gets
    two parts or more (few events keep one chunk a part)."""
    n_chunks = -(-n_events // chunking.CHUNK_EVENTS)
    return max(1, min(MAX_CHUNKS_PER_PART, n_chunks // (2 * workers)))


def parts_of(chunks: Iterable[Chunk], size: int) -> Iterator[Chunk]:
    """``chunks`` grouped ``size`` at a time (the last group may be shorter):
    each group one Chunk, named by its first chunk, holding their batches in
    order (each batch keeps its timing-fit seed)."""
    group: list[Chunk] = []
    for chunk in chunks:
        group.append(chunk)
        if len(group) == size:
            yield _joined(group)
            group = []
    if group:
        yield _joined(group)


def _joined(group: list[Chunk]) -> Chunk:
    if len(group) == 1:
        return group[0]
    batches = tuple(batch for chunk in group for batch in chunk.batches)
    return Chunk(group[0].index, group[0].start, batches)


def write_in_parts(
    chunks: Iterable[Chunk],
    reference: Reference,
    simulation_config: dict,
    output_path: Path,
    seed: int,
    workers: int,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    attributes: dict | None = None,
    parameters: bool = True,
    per_event: bool = False,
    chunks_in_part: int = 1,
) -> int:
    """Write ``chunks`` to ``output_path`` through ``workers`` processes.

    Parameters
    ----------
    chunks : iterable of Chunk
        The events, in order (generated lazily: at most ``2 * workers`` parts
        are held).
    reference : Reference
        Subarray, pointing and observation to write.
    simulation_config : dict
        Simulation settings per obs_id (those of the whole file).
    output_path : pathlib.Path
        The DL1 file to write, atomically.
    seed : int
        The generation seed (the parts' ctapipe timing fits, with the chunks' own).
    workers : int
        Worker processes.
    overwrite : bool
        Replace an existing output file.
    progress : callable, optional
        Called with the number of events of each part merged.
    attributes : dict, optional
        Root attributes set on the merged file (replacing ctapipe's own).
    parameters, per_event : bool
        As for :func:`ctgans.generate.writer.write_generated`.
    chunks_in_part : int
        Consecutive chunks written as one part (:func:`chunks_per_part`).

    Returns
    -------
    int
        The number of events written.
    """
    check_output(output_path, overwrite)
    tmp_path = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    part_prefix = f".{output_path.name}.{os.getpid()}.part"
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(reference, simulation_config, seed, parameters, per_event),
    )
    Provenance().start_activity("ctgans.generate.merge")
    n_written = 0
    try:
        with HDF5Merger(
            tmp_path, overwrite=True, merge_strategy="events-single-ob"
        ) as merger:
            pending = deque()
            run_rows = filters = None

            def merge_oldest():
                nonlocal n_written, run_rows, filters
                part, n = pending.popleft().result()
                merger(part)
                if run_rows is None:
                    run_rows = merger.h5file.get_node(SIMULATION_RUN_TABLE).nrows
                    with tables.open_file(str(part), "r") as h5:
                        filters = h5.filters
                part.unlink()
                n_written += n
                if progress is not None:
                    progress(n)

            for chunk in parts_of(chunks, chunks_in_part):
                part = output_path.with_name(f"{part_prefix}{chunk.index:06d}.h5")
                pending.append(pool.submit(_write_part, chunk, part))
                while len(pending) > 2 * workers:
                    merge_oldest()
            while pending:
                merge_oldest()
            run_table = merger.h5file.get_node(SIMULATION_RUN_TABLE)
            run_table.truncate(run_rows)
            run_table.attrs.NROWS = run_table.nrows  # truncate leaves it stale
        # The merger opens its output with ctapipe's default compression; the
        # tables keep the parts' own, and so does the file's default.
        set_root_attributes(tmp_path, attributes or {}, filters)
        if not readable(tmp_path):
            raise write_failed(output_path, "the merged file is incomplete")
        os.replace(tmp_path, output_path)
    except (OSError, tables.HDF5ExtError, CannotMerge) as err:
        raise write_failed(output_path, f"{type(err).__name__}: {err}") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        Provenance().finish_activity()
        for path in output_path.parent.glob(f"*{part_prefix}*"):
            path.unlink(missing_ok=True)
        tmp_path.unlink(missing_ok=True)
    return n_written


# Set once in each worker process by _start_worker.
_WORKER: dict = {}


def _start_worker(
    reference: Reference,
    simulation_config: dict,
    seed: int,
    parameters: bool,
    per_event: bool,
) -> None:
    _WORKER.update(
        reference=reference,
        simulation_config=simulation_config,
        seed=seed,
        parameters=parameters,
        per_event=per_event,
    )


def _write_part(chunk: Chunk, path: Path) -> tuple[Path, int]:
    """In a worker: parametrise and write one chunk as a part file."""
    source = GeneratedEventSource(
        _WORKER["reference"],
        chunk.batches,
        simulation_config=_WORKER["simulation_config"],
        first_event_id=chunk.start,
    )
    n = write_generated(
        source,
        path,
        _WORKER["seed"],
        parameters=_WORKER["parameters"],
        per_event=_WORKER["per_event"],
    )
    return path, n
