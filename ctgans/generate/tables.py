"""Append generated events to the per-event tables of a DL1 file, in batches.

ctapipe's ``DataWriter`` writes one event at a time (about 1 ms an event, most of
it converting containers to rows value by value). The writer of generated files
(:mod:`ctgans.generate.writer`) gives ``DataWriter`` each event that brings a
telescope or an observation it has not written yet, so ctapipe creates every
table, with its schema, column units and metadata, and writes each constant
pointing row; :class:`EventTables` appends all other events to the same tables as
numpy structured arrays of each table's own dtype (PyTables ``Table.append``):

* the columns that vary from event to event (ids, shower truth, images, cleaning
  masks, image parameters, the pattern of telescopes) are built from the batch,
  quantities converted to the unit ctapipe recorded for the column (its column
  transforms, ``ctapipe.io.hdf5tableio.get_column_transforms``);
* the columns that every generated event writes alike (:data:`CONSTANT_COLUMNS`:
  the trigger time and type, ``n_trigger_pixels``, ``true_starting_grammage``,
  ``true_image_sum``, ``is_valid``) are copied from the last row ctapipe wrote;

in the row order of ``DataWriter``: events in order and, in the shared telescope
trigger table, an event's telescopes in the order of its images. A column of a
table that is neither given nor constant is an error, not a silent copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from ctapipe.containers import SimulatedShowerContainer
from ctapipe.io.hdf5tableio import get_column_attrs, get_column_transforms

from ctgans.dl1_output import SHOWER_FIELDS
from ctgans.exceptions import DataError
from ctgans.generate.labels import Truth
from ctgans.generate.parameters import parameter_columns

__all__ = ["CONSTANT_COLUMNS", "EventTables", "ImageRows"]

#: Columns whose value is the same for every generated event (copied from the
#: row ``DataWriter`` wrote): the trigger of ``ctgans.dl1_output.new_event`` and
#: the fields generated events leave at their defaults.
CONSTANT_COLUMNS = frozenset(
    {
        "time",
        "event_type",
        "n_trigger_pixels",
        "true_starting_grammage",
        "true_image_sum",
        "is_valid",
    }
)


@dataclass(frozen=True)
class ImageRows:
    """The telescope images of some events, one row each, in writing order.

    ``event`` indexes the events (0 for the first), ``tel_id`` names each image's
    telescope; ``image_mask`` and ``parameters`` are ctapipe's cleaning mask and
    ``ImageParametersContainer`` of each image.
    """

    event: np.ndarray
    tel_id: np.ndarray
    image: np.ndarray
    peak_time: np.ndarray
    image_mask: np.ndarray
    parameters: list

    def of_events(self, start: int, stop: int) -> ImageRows:
        """The rows of events ``start`` to ``stop - 1``, renumbered from 0."""
        first, last = np.searchsorted(self.event, [start, stop])
        rows = slice(first, last)
        return ImageRows(
            self.event[rows] - start,
            self.tel_id[rows],
            self.image[rows],
            self.peak_time[rows],
            self.image_mask[rows],
            self.parameters[rows],
        )


class EventTables:
    """Append events to the per-event tables that ``writer`` has created.

    Parameters
    ----------
    writer : ctapipe.io.DataWriter
        The open writer; it must have written an event of every telescope that
        :meth:`append` is given.
    """

    def __init__(self, writer):
        # DataWriter keeps its HDF5TableWriter private; its file holds the tables.
        self.h5file = writer._writer.h5file
        self.table_name = writer.table_name
        self.subarray = writer.event_source.subarray
        self._tables: dict[str, tuple] = {}
        self._buffered: set[str] = set()

    def written_by_ctapipe(self) -> None:
        """Say that ``DataWriter`` wrote an event: its rows, buffered by PyTables,
        are flushed before the next rows are appended."""
        self._buffered = set(self._tables)

    def append(self, truth: Truth, event_id: np.ndarray, images: ImageRows) -> None:
        """Append the events of ``truth`` (ids ``event_id``) and their ``images``."""
        obs_id = truth.obs_id
        n_events = len(obs_id)
        triggered = np.zeros((n_events, self.subarray.n_tels), dtype=bool)
        triggered[images.event, self.subarray.tel_ids_to_indices(images.tel_id)] = True
        index = {"obs_id": obs_id, "event_id": event_id}
        self._append("dl1/event/subarray/trigger", index, tels_with_trigger=triggered)
        prefix = SimulatedShowerContainer.default_prefix
        shower = {
            f"{prefix}_{field}": getattr(truth, column) * unit
            for field, (column, unit) in SHOWER_FIELDS.items()
        }
        shower[f"{prefix}_shower_primary_id"] = truth.primary_id
        self._append("simulation/event/subarray/shower", index, **shower)
        tel_index = {
            "obs_id": obs_id[images.event],
            "event_id": event_id[images.event],
            "tel_id": images.tel_id,
        }
        self._append("dl1/event/telescope/trigger", tel_index)
        for tel_id in np.unique(images.tel_id):
            mine = np.flatnonzero(images.tel_id == tel_id)
            index = {name: column[mine] for name, column in tel_index.items()}
            name = self.table_name(int(tel_id))
            self._append(
                f"dl1/event/telescope/images/{name}",
                index,
                image=images.image[mine],
                peak_time=images.peak_time[mine],
                image_mask=images.image_mask[mine],
            )
            self._append(f"simulation/event/telescope/images/{name}", index)
            path = f"dl1/event/telescope/parameters/{name}"
            table, transforms, _ = self._table(path)
            parameters = parameter_columns(
                [images.parameters[i] for i in mine], table.colnames, transforms
            )
            self._append(path, index, **parameters)

    def _table(self, path: str) -> tuple:
        """The table at ``path``, its column transforms and its constant columns."""
        if path not in self._tables:
            table = self.h5file.get_node(f"/{path}")
            table.flush()  # the rows DataWriter buffered come first
            last = table[table.nrows - 1]
            constants = {n: last[n] for n in table.colnames if n in CONSTANT_COLUMNS}
            transforms = get_column_transforms(get_column_attrs(table))
            self._tables[path] = (table, transforms, constants)
        return self._tables[path]

    def _append(self, path: str, index: dict, **columns) -> None:
        table, transforms, constants = self._table(path)
        columns = {**index, **columns}
        unknown = sorted(set(columns) - set(table.colnames))
        missing = sorted(set(table.colnames) - set(columns) - set(constants))
        if unknown or missing:
            raise DataError(
                f"/{path}: batched rows expected the columns ctapipe wrote "
                f"{table.colnames}; missing {missing}, unknown {unknown}"
            )
        rows = np.empty(len(columns["obs_id"]), dtype=table.dtype)
        for name in table.colnames:
            value = columns.get(name, constants.get(name))
            if isinstance(value, u.Quantity):
                value = transforms[name](value)  # to the column's unit
            rows[name] = value
        if path in self._buffered:
            table.flush()
            self._buffered.discard(path)
        table.append(rows)
