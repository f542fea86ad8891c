"""Run the toy simulation and write ctapipe DL1 files atomically."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctgans.cameras import processor_config
from ctgans.config import EMBEDDED_EVENTS, TOY_FILES
from ctgans.dl1_output import write_dl1
from ctgans.simulate.settings import SimulationSettings
from ctgans.simulate.source import ToyMagicEventSource

__all__ = [
    "EMBEDDED_FILES",
    "SimulationStats",
    "embedded_settings",
    "simulate",
    "write_embedded_dataset",
]

logger = logging.getLogger(__name__)

#: File name of each particle of the embedded dataset, and its obs_id.
EMBEDDED_FILES = {
    particle: (name, obs_id)
    for obs_id, (particle, name) in enumerate(TOY_FILES.items(), start=1)
}


@dataclass(frozen=True)
class SimulationStats:
    """Summary of one simulated file."""

    path: Path
    n_thrown: int
    n_written: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Written events per second of wall time."""
        return self.n_written / self.seconds if self.seconds > 0 else float("nan")


def simulate(
    settings: SimulationSettings, output_path, overwrite: bool = False
) -> SimulationStats:
    """Simulate showers and write the triggered events to one DL1 file.

    The file is first written next to ``output_path`` under a temporary name and
    renamed when complete, so a file at ``output_path`` is always whole.

    Parameters
    ----------
    settings : SimulationSettings
        What to simulate; ``settings.n_events`` showers are thrown.
    output_path : str or path-like
        The DL1 HDF5 file to write.
    overwrite : bool
        Replace an existing file instead of refusing.

    Returns
    -------
    SimulationStats
        Showers thrown, events written (at least one telescope triggered), seconds.

    Raises
    ------
    DataError
        If ``output_path`` exists and ``overwrite`` is false, or its folder does not
        exist.
    """
    output_path = Path(output_path)
    start = time.perf_counter()
    source = ToyMagicEventSource(settings)
    write_dl1(
        source,
        output_path,
        fit_seed=np.random.SeedSequence(settings.seed).spawn(3)[2],  # 0, 1: the source
        activity=f"ctgans.simulate {settings.particle}",
        processor_config=processor_config(c.name for c in source.subarray.camera_types),
        overwrite=overwrite,
        finish=lambda writer: writer.write_simulated_shower_distributions(
            source.simulated_shower_distributions
        ),
    )
    seconds = time.perf_counter() - start
    logger.info(
        "%s: %d showers thrown, %d events written in %.1f s",
        output_path,
        source.n_thrown,
        source.n_written,
        seconds,
    )
    return SimulationStats(output_path, source.n_thrown, source.n_written, seconds)


def particle_seed(seed: int, particle: str) -> int:
    """Independent seed of one particle's file, derived from the dataset seed."""
    index = list(EMBEDDED_FILES).index(particle)
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def embedded_settings(
    n_events_per_particle: int = EMBEDDED_EVENTS, seed: int = 0
) -> dict[str, tuple[SimulationSettings, str]]:
    """Settings and file name of each particle of the embedded dataset.

    Raises
    ------
    ConfigError
        If ``n_events_per_particle`` or ``seed`` is not valid.
    """
    # Validates both numbers before a seed is derived from them.
    SimulationSettings(particle="gamma", n_events=n_events_per_particle, seed=seed)
    return {
        particle: (
            SimulationSettings(
                particle=particle,
                n_events=n_events_per_particle,
                seed=particle_seed(seed, particle),
                source="diffuse",
                obs_id=obs_id,
            ),
            name,
        )
        for particle, (name, obs_id) in EMBEDDED_FILES.items()
    }


def write_embedded_dataset(
    directory,
    n_events_per_particle: int = EMBEDDED_EVENTS,
    seed: int = 0,
    overwrite=False,
) -> dict[str, Path]:
    """Write the diffuse gamma and proton files the package ships as its toy data.

    Parameters
    ----------
    directory : str or path-like
        Folder to write into (created if missing).
    n_events_per_particle : int
        Showers thrown per particle.
    seed : int
        Dataset seed; each particle gets its own seed derived from it.
    overwrite : bool
        Rewrite files that already exist instead of keeping them.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"gamma": .../gamma_diffuse.dl1.h5, "proton": .../proton_diffuse.dl1.h5}``.
    """
    directory = Path(directory)
    plan = embedded_settings(n_events_per_particle, seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for particle, (settings, name) in plan.items():
        path = directory / name
        paths[particle] = path
        if path.exists() and not overwrite:
            logger.info("keeping existing %s", path)
            continue
        simulate(settings, path, overwrite=overwrite)
    return paths
