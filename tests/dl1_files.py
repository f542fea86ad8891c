"""Helpers of the generation tests: a DL1 file's contents, dl1-data-handler readers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tables

TEL_TYPE = "LST_MAGIC_MAGICCam"
#: The index columns of a telescope event table.
INDEX = ("obs_id", "event_id", "tel_id")

#: Root attributes that ctapipe sets anew each time it writes a file.
FRESH_ATTRIBUTES = {
    "CTA ACTIVITY ID",
    "CTA ACTIVITY START TIME",
    "CTA ACTIVITY STOP TIME",
    "CTA PRODUCT CREATION TIME",
    "CTA PRODUCT ID",
}


def file_contents(path: Path):
    """Root attributes (but the fresh ones) and, per table, rows and attributes."""
    with tables.open_file(str(path), "r") as h5:
        attrs = {
            name: str(h5.root._v_attrs[name])
            for name in h5.root._v_attrs._v_attrnames
            if name not in FRESH_ATTRIBUTES
        }
        contents = {
            table._v_pathname: (
                table.read(),
                {name: str(table.attrs[name]) for name in table.attrs._v_attrnames},
            )
            for table in h5.walk_nodes("/", "Table")
        }
    return attrs, contents


def assert_same_tables(path: Path, expected: Path, but=()) -> None:
    """Same root attributes and, table by table, the same attributes, dtype and
    rows (every column, NaN equal to NaN), except the tables whose path starts
    with one of ``but``: there, the same index columns."""
    attrs, contents = file_contents(path)
    expected_attrs, expected_contents = file_contents(expected)
    assert attrs == expected_attrs
    assert set(contents) == set(expected_contents)
    for name, (rows, table_attrs) in expected_contents.items():
        written, written_attrs = contents[name]
        assert written_attrs == table_attrs, name
        assert written.dtype == rows.dtype, name
        assert len(written) == len(rows), name
        columns = INDEX if name.startswith(tuple(but)) else rows.dtype.names
        for column in columns:
            np.testing.assert_array_equal(
                written[column], rows[column], err_msg=f"{name}:{column}"
            )


def mono_reader(path: Path, image_shape: int = 16):
    """dl1-data-handler's mono ``DLImageReader`` of ``path``: charge, no cuts."""
    from dl1_data_handler.reader import DLImageReader
    from traitlets.config import Config

    config = Config(
        {
            "DLImageReader": {
                "mode": "mono",
                "allowed_tel_types": [TEL_TYPE],
                "channels": ["image"],
                "image_mapper_type": [["type", "*", "BilinearMapper"]],
            },
            "BilinearMapper": {"interpolation_image_shape": image_shape},
            "TableQualityQuery": {"quality_criteria": []},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DLImageReader(input_url_signal=[str(path)], config=config)


def close_reader(reader) -> None:
    for handle in reader.files.values():
        handle.close()
