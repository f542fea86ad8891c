"""Shared by the bench scripts: the machine line and BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path


def machine_line() -> str:
    """``Machine: ... ; date ...`` for the head of a section."""
    return (
        f"Machine: {platform.node() or 'unknown'} ({platform.machine()}, "
        f"{os.cpu_count()} cores, CPU only), Python {platform.python_version()}; "
        f"date {date.today().isoformat()}."
    )


def write_section(path: Path, begin: str, end: str, heading: str, table: str) -> None:
    """Replace the section between ``begin`` and ``end`` in ``path`` (atomically).

    The section is appended when the markers are not there yet.
    """
    section = f"{begin}\n## {heading}\n\n{table}\n{end}"
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
