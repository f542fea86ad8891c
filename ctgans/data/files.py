"""Check DL1 files against the data config before any event is read.

Every problem is one :class:`~ctgans.exceptions.DataError` line naming the file and
what was expected, so that a truncated transfer or a wrong telescope type is caught
before minutes of reading.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import ctapipe
import tables
from ctapipe.instrument import FocalLengthKind, SubarrayDescription
from ctapipe.io.hdf5eventsource import COMPATIBLE_DATA_MODEL_VERSIONS

from ctgans.config import DataConfig
from ctgans.exceptions import DataError, hdf5_reason

log = logging.getLogger(__name__)

#: The DL1 data models read: those ctapipe reads, from v6 on (shower truth tables).
DATA_MODEL_VERSIONS = tuple(
    v for v in COMPATIBLE_DATA_MODEL_VERSIONS if int(v[1:].split(".")[0]) >= 6
)
IMAGE_COLUMNS = {
    "image": ("image",),
    "cleaned_image": ("image", "image_mask"),
    "peak_time": ("peak_time",),
    "relative_peak_time": ("peak_time",),
}
SHOWER_TABLE = "/simulation/event/subarray/shower"


def selected_tel_ids(subarray: SubarrayDescription, cfg: DataConfig) -> list[int]:
    """The telescope ids that the config selects in this subarray, sorted."""
    ids = {int(t) for t in subarray.tel_ids if str(subarray.tel[t]) in cfg.tel_types}
    if cfg.tel_ids is not None:
        ids &= set(cfg.tel_ids)
    return sorted(ids)


def read_subarray(path: Path, cfg: DataConfig) -> SubarrayDescription:
    """The subarray description stored in a DL1 file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SubarrayDescription.from_hdf(
            path, focal_length_choice=FocalLengthKind[cfg.focal_length_choice]
        )


def check_file(path: Path, cfg: DataConfig) -> None:
    """Raise DataError unless ``path`` is a DL1 file holding what ``cfg`` selects."""
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        is_hdf5 = tables.is_hdf5_file(str(path))
    except (tables.HDF5ExtError, OSError):
        is_hdf5 = False
    if not is_hdf5:
        raise DataError(f"{path}: not an HDF5 file; expected a ctapipe DL1 file")
    try:
        with tables.open_file(str(path), "r") as h5:
            _check_open_file(path, h5, cfg)
    except (tables.HDF5ExtError, OSError) as err:
        raise DataError(
            f"{path}: unreadable HDF5 (truncated or corrupt?): {hdf5_reason(err)}"
        ) from None


def _check_open_file(path: Path, h5: tables.File, cfg: DataConfig) -> None:
    attrs = h5.root._v_attrs
    version = str(getattr(attrs, "CTA PRODUCT DATA MODEL VERSION", ""))
    if not version.startswith("v"):
        raise DataError(
            f"{path}: no 'CTA PRODUCT DATA MODEL VERSION' attribute; expected a "
            "ctapipe DL1 file (ctapipe-process or ctgans.simulate output)"
        )
    if version not in DATA_MODEL_VERSIONS:
        raise DataError(
            f"{path}: ctapipe data model {version}; expected one of "
            f"{', '.join(DATA_MODEL_VERSIONS)} (ctapipe {ctapipe.__version__})"
        )
    if SHOWER_TABLE not in h5:
        raise DataError(
            f"{path}: no {SHOWER_TABLE} table; expected simulated events with truth"
        )
    subarray = read_subarray(path, cfg)
    available = sorted({str(t) for t in subarray.telescope_types})
    missing = [t for t in cfg.tel_types if t not in available]
    if missing:
        raise DataError(
            f"{path}: telescope type {missing[0]} not in the file; "
            f"available: {', '.join(available)} (data.telescopes.types)"
        )
    if cfg.tel_ids is not None:
        typed = {
            int(t) for t in subarray.tel_ids if str(subarray.tel[t]) in cfg.tel_types
        }
        absent = [t for t in cfg.tel_ids if t not in typed]
        if absent:
            raise DataError(
                f"{path}: telescope id {absent[0]} is not a telescope of type "
                f"{', '.join(cfg.tel_types)} in the file; available ids: "
                f"{sorted(typed)} (data.telescopes.ids)"
            )
    tel_ids = selected_tel_ids(subarray, cfg)
    for tel_id in tel_ids:
        images = f"/dl1/event/telescope/images/tel_{tel_id:03d}"
        params = f"/dl1/event/telescope/parameters/tel_{tel_id:03d}"
        for node in (images, params):
            if node not in h5:
                raise DataError(
                    f"{path}: no table {node}; expected DL1 images and "
                    "parameters (ctapipe-process --write-images)"
                )
        columns = h5.get_node(images).colnames
        for channel in cfg.channels:
            for column in IMAGE_COLUMNS[channel]:
                if column not in columns:
                    raise DataError(
                        f"{path}: channel {channel} needs column {column!r} in "
                        f"{images}; the table has {', '.join(columns)} (data.channels)"
                    )
        param_columns = h5.get_node(params).colnames
        for cut in cfg.cuts:
            if cut.column not in param_columns:
                raise DataError(
                    f"{path}: cut column {cut.column!r} not in {params} "
                    f"(data.cuts.{cut.column}); e.g. hillas_intensity, "
                    "leakage_intensity_width_2"
                )


def check_files(cfg: DataConfig) -> None:
    """Check every signal and background file (see :func:`check_file`)."""
    for path in (*cfg.signal, *cfg.background):
        check_file(path, cfg)
