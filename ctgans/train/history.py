"""``history.csv``: one row per completed epoch, rewritten atomically every epoch.

Keras' ``CSVLogger`` appends to the file: a process killed mid-write leaves half a
row, and epochs re-run after a resume appear twice. Here the file is rewritten to a
temporary file and renamed after every epoch, and a resumed run first drops the rows
of epochs after its checkpoint, so the file always holds each epoch once.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import keras

from ctgans.runs.layout import write_atomic


def read_history(path: Path) -> list[dict[str, str]]:
    """The rows of a history file (``[]`` when there is none)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


class HistoryCSV(keras.callbacks.Callback):
    """Keep ``path`` equal to the logs of epochs ``0 … epoch`` (column ``epoch``).

    Parameters
    ----------
    path : Path
        The CSV file; rows of epochs ``>= initial_epoch`` are dropped at the start.
    initial_epoch : int
        The epoch training resumes from (0 for a new run).
    """

    def __init__(self, path: Path, initial_epoch: int):
        super().__init__()
        self.path = path
        self.rows = [
            row for row in read_history(path) if int(row["epoch"]) < initial_epoch
        ]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": str(epoch)}
        for key, value in sorted((logs or {}).items()):
            value = float(value)
            row[key] = repr(value) if math.isfinite(value) else str(value)
        self.rows.append(row)
        columns = ["epoch"]
        for existing in self.rows:
            columns += [c for c in existing if c not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.path, text.getvalue())
