"""Read selected, cut, square-mapped images and their labels from DL1 files.

dl1-data-handler's :class:`~dl1_data_handler.reader.DLImageReader` does the
selection (telescopes, quality cuts), computes the labels exactly as CTLearn sees
them (``log_true_energy``, ``cam_coord_offset_x/y``, ``fov_lon/lat``,
``true_shower_primary_class``) and owns the image mappers. We only replace its
per-event image loop: images are read per telescope table in bulk and mapped in
batches, which is what makes building the cache fast.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from ctapipe.io import read_table
from dl1_data_handler.reader import DLImageReader, TableQualityQuery, get_unmapped_image
from traitlets.config import Config as TraitletsConfig

from ctgans.config import DataConfig
from ctgans.data.files import check_files, read_subarray, selected_tel_ids
from ctgans.exceptions import DataError
from ctgans.impact import IMPACT_COLUMN, impact_distance, telescope_positions

log = logging.getLogger(__name__)

MAP_CHUNK = 2048
EVENT_COLUMNS = ("file_index", "obs_id", "event_id", "tel_id")


@dataclass
class Examples:
    """Mapped images with their labels, one row per example.

    ``images`` is (n, H, W, C) in mono mode and (n, T, H, W, C) in stereo mode, in
    photo-electrons / ns as stored in the files. ``labels`` maps each label column
    to a float array; ``events`` holds the identifiers (tel_id -1 in stereo).
    """

    images: np.ndarray
    labels: dict[str, np.ndarray]
    events: np.ndarray
    tel_ids: tuple[int, ...]
    n_nonfinite: int = 0


def reader_config(cfg: DataConfig) -> TraitletsConfig:
    """The traitlets configuration of a DLImageReader for this data selection."""
    reader = {
        "mode": cfg.mode,
        "allowed_tel_types": list(cfg.tel_types),
        "channels": list(cfg.channels),
        "image_mapper_type": [["type", "*", cfg.mapper]],
        "focal_length_choice": cfg.focal_length_choice,
    }
    if cfg.tel_ids is not None:
        reader["allowed_tels"] = set(cfg.tel_ids)
    criteria = [(cut.expression(), cut.expression()) for cut in cfg.cuts]
    traits = {
        "DLImageReader": reader,
        "TableQualityQuery": {"quality_criteria": criteria},
    }
    if cfg.image_shape is not None:
        traits[cfg.mapper] = {"interpolation_image_shape": cfg.image_shape}
    return TraitletsConfig(traits)


def _check_selection_not_empty(cfg: DataConfig, traits: TraitletsConfig) -> None:
    """dl1-data-handler fails obscurely on a file with no event left: say which."""
    query = TableQualityQuery(config=traits)
    for path in (*cfg.signal, *cfg.background):
        subarray = read_subarray(path, cfg)
        passing = 0
        for tel_id in selected_tel_ids(subarray, cfg):
            table = read_table(
                path, f"/dl1/event/telescope/parameters/tel_{tel_id:03d}"
            )
            passing += int(np.count_nonzero(query.get_table_mask(table)))
        if passing == 0:
            cuts = ", ".join(c.expression() for c in cfg.cuts) or "none"
            raise DataError(
                f"{path}: no events pass the selection (telescopes "
                f"{', '.join(cfg.tel_types)}, cuts: {cuts}); expected at least one"
            )


def check_selection(cfg: DataConfig) -> None:
    """Raise DataError naming the first file with no event passing the selection."""
    _check_selection_not_empty(cfg, reader_config(cfg))


def open_reader(cfg: DataConfig) -> DLImageReader:
    """A DLImageReader over the configured files (checked first)."""
    check_files(cfg)
    traits = reader_config(cfg)
    _check_selection_not_empty(cfg, traits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy merge-metadata chatter
        try:
            return DLImageReader(
                input_url_signal=[str(p) for p in cfg.signal],
                input_url_background=[str(p) for p in cfg.background],
                config=traits,
            )
        except ValueError as err:
            raise DataError(f"dl1-data-handler refused the files: {err}") from None


def read_examples(cfg: DataConfig) -> Examples:
    """Read every selected example of the configured files into memory."""
    reader = open_reader(cfg)
    try:
        rows = reader.example_identifiers
        if len(rows) == 0:
            raise DataError(
                f"no events pass the selection (data.cuts, data.telescopes) in "
                f"{', '.join(str(p) for p in (*cfg.signal, *cfg.background))}"
            )
        tel_images = _read_images(reader, rows)
        columns = cfg.label_columns
        if cfg.mode == "mono":
            images = tel_images
            labels = label_values(rows, columns, reader.subarray)
            events = _event_table(
                rows, np.arange(len(rows)), np.asarray(rows["tel_id"])
            )
        else:
            images, labels, events = _stack_stereo(reader, rows, tel_images, columns)
        tel_ids = tuple(int(t) for t in reader.tel_ids)
    finally:
        for handle in reader.files.values():
            handle.close()
    finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
    n_bad = int((~finite).sum())
    if n_bad == len(images):
        raise DataError(
            f"all {n_bad} selected examples of "
            f"{', '.join(str(p) for p in (*cfg.signal, *cfg.background))} have NaN "
            "or inf pixels; expected finite images"
        )
    if n_bad:
        log.warning(
            "skipped %d of %d examples with NaN or inf pixels", n_bad, len(images)
        )
        images = images[finite]
        labels = {k: v[finite] for k, v in labels.items()}
        events = events[finite]
    return Examples(images, labels, events, tel_ids, n_bad)


@dataclass
class ExamplePlan:
    """Which reader rows make each example, known before any image is read.

    ``row_order[row_start[i]:row_start[i + 1]]`` are the rows of example ``i``
    (one in mono; the telescopes of one shower in stereo, in slot ``slot[row]``).
    """

    rows: object  # the reader's example_identifiers table
    labels: dict[str, np.ndarray]
    events: np.ndarray
    tel_ids: tuple[int, ...]
    example_of_row: np.ndarray
    row_order: np.ndarray
    row_start: np.ndarray
    slot: np.ndarray | None
    image_shape: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.events)


def plan_examples(reader: DLImageReader, cfg: DataConfig) -> ExamplePlan:
    """Labels, identifiers and row grouping of every example, without images."""
    rows = reader.example_identifiers
    if len(rows) == 0:
        raise DataError(
            f"no events pass the selection (data.cuts, data.telescopes) in "
            f"{', '.join(str(p) for p in (*cfg.signal, *cfg.background))}"
        )
    columns = cfg.label_columns
    tel_ids = tuple(int(t) for t in reader.tel_ids)
    size = reader.image_mappers[reader.cam_name].image_shape
    shape = (size, size, len(reader.channels))
    n_rows = len(rows)
    if cfg.mode == "mono":
        every = np.arange(n_rows)
        labels = label_values(rows, columns, reader.subarray)
        events = _event_table(rows, every, np.asarray(rows["tel_id"]))
        return ExamplePlan(
            rows,
            labels,
            events,
            tel_ids,
            every,
            every,
            np.arange(n_rows + 1),
            None,
            shape,
        )
    keys = np.stack([np.asarray(rows[c]) for c in EVENT_COLUMNS[:-1]], axis=1)
    unique, first, inverse = np.unique(
        keys, axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    slot_of = {t: i for i, t in enumerate(tel_ids)}
    slot = np.array([slot_of[int(t)] for t in rows["tel_id"]], dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    start = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
    labels = {c: np.asarray(rows[c], dtype=np.float64)[first] for c in columns}
    events = _event_table(rows, first, np.full(len(first), -1))
    return ExamplePlan(
        rows,
        labels,
        events,
        tel_ids,
        inverse,
        order,
        start,
        slot,
        (len(tel_ids), *shape),
    )


def map_examples(
    reader: DLImageReader, plan: ExamplePlan, start: int, stop: int
) -> np.ndarray:
    """Mapped images (p.e., ns) of examples ``start:stop`` of ``plan``."""
    which = plan.row_order[plan.row_start[start] : plan.row_start[stop]]
    tel_images = _read_images(reader, plan.rows, which)
    if plan.slot is None:
        return tel_images
    out = np.zeros((stop - start, *plan.image_shape), np.float32)
    out[plan.example_of_row[which] - start, plan.slot[which]] = tel_images
    return out


def label_values(rows, columns, subarray) -> dict[str, np.ndarray]:
    """The label ``columns`` of the reader's ``rows``, float64.

    Every column is dl1-data-handler's, but the impact distance (mono), which is
    computed from the true core, direction and telescope position
    (:mod:`ctgans.impact`).
    """
    labels = {}
    for column in columns:
        if column == IMPACT_COLUMN:
            labels[column] = impact_distance(
                column_values(rows, "true_core_x", "m"),
                column_values(rows, "true_core_y", "m"),
                column_values(rows, "true_alt", "rad"),
                column_values(rows, "true_az", "rad"),
                telescope_positions(subarray, np.asarray(rows["tel_id"])),
            )
        else:
            labels[column] = np.asarray(rows[column], dtype=np.float64)
    return labels


def column_values(rows, name: str, unit: str) -> np.ndarray:
    """Column ``name`` of the reader's rows in ``unit``, float64."""
    values = rows[name]
    if getattr(values, "unit", None) is not None:
        values = u.Quantity(values).to_value(unit)
    return np.asarray(values, np.float64)


def _read_images(reader: DLImageReader, rows, which=None) -> np.ndarray:
    """Mapped images of ``rows`` (or of ``rows[which]``), read in bulk per table."""
    file_names = list(reader.files)
    mapper = reader.image_mappers[reader.cam_name]
    size = mapper.image_shape
    which = np.arange(len(rows)) if which is None else np.asarray(which)
    out = np.zeros((len(which), size, size, len(reader.channels)), np.float32)
    file_index = np.asarray(rows["file_index"])[which]
    tel_id = np.asarray(rows["tel_id"])[which]
    table_index = np.asarray(rows["table_index"])[which]
    for f in np.unique(file_index):
        node = reader.files[file_names[f]].root.dl1.event.telescope.images
        for t in np.unique(tel_id[file_index == f]):
            where = np.flatnonzero((file_index == f) & (tel_id == t))
            order = np.argsort(table_index[where])
            where = where[order]
            table = node._f_get_child(f"tel_{t:03d}")
            records = table.read_coordinates(table_index[where])
            for start in range(0, len(where), MAP_CHUNK):
                chunk = records[start : start + MAP_CHUNK]
                raw = np.stack(
                    [
                        get_unmapped_image(r, reader.channels, reader.transforms)
                        for r in chunk
                    ]
                )
                out[where[start : start + MAP_CHUNK]] = mapper.map_image(raw)
    return out


def _event_table(rows, index, tel_id) -> np.ndarray:
    events = np.zeros(len(index), dtype=[(c, np.int64) for c in EVENT_COLUMNS])
    for column in EVENT_COLUMNS[:-1]:
        events[column] = np.asarray(rows[column])[index]
    events["tel_id"] = tel_id
    return events


def _stack_stereo(reader, rows, tel_images, columns):
    """Group per-telescope rows into events of (T, H, W, C), zeros where absent."""
    keys = np.stack([np.asarray(rows[c]) for c in EVENT_COLUMNS[:-1]], axis=1)
    unique, first, inverse = np.unique(
        keys, axis=0, return_index=True, return_inverse=True
    )
    slot = {int(t): i for i, t in enumerate(reader.tel_ids)}
    tel_slot = np.array([slot[int(t)] for t in rows["tel_id"]])
    images = np.zeros((len(unique), len(slot), *tel_images.shape[1:]), np.float32)
    images[inverse.ravel(), tel_slot] = tel_images
    labels = {c: np.asarray(rows[c], dtype=np.float64)[first] for c in columns}
    events = _event_table(rows, first, np.full(len(first), -1))
    return images, labels, events
