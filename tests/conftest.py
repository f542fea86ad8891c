"""Shared fixtures: real DL1 files from ../shared, small toy files written once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DL1 = PROJECT.parent / "shared" / "data" / "dl1"
LST_FILE = SHARED_DL1 / "history_meta_75.dl1.h5"
LST_FILE_2 = SHARED_DL1 / "test_lasercal_v3.dl1.h5"


@pytest.fixture(scope="session")
def lst_file() -> Path:
    if not LST_FILE.is_file():
        pytest.skip(f"real DL1 file {LST_FILE} not present (../shared/data missing)")
    return LST_FILE


@pytest.fixture(scope="session")
def lst_file_2() -> Path:
    if not LST_FILE_2.is_file():
        pytest.skip(f"real DL1 file {LST_FILE_2} not present (../shared/data missing)")
    return LST_FILE_2


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def toy_pair(tmp_path_factory) -> dict[str, Path]:
    """Small toy gamma and proton DL1 files (two MAGIC telescopes), written once."""
    from ctgans.simulate import SimulationSettings, simulate

    folder = tmp_path_factory.mktemp("toy")
    paths = {}
    for particle, n_events, seed in (("gamma", 500, 21), ("proton", 1500, 22)):
        path = folder / f"{particle}_diffuse.dl1.h5"
        simulate(
            SimulationSettings(
                particle=particle,
                n_events=n_events,
                seed=seed,
                obs_id=1 if particle == "gamma" else 2,
            ),
            path,
        )
        paths[particle] = path
    return paths
