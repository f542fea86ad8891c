"""Run the toy simulation and write ctapipe DL1 files atomically."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ctapipe import fitting
from ctapipe.core import Provenance
from ctapipe.image import ImageProcessor
from ctapipe.io import DataWriter
from traitlets.config import Config

from ctgans.config import EMBEDDED_EVENTS, TOY_FILES
from ctgans.exceptions import DataError
from ctgans.simulate.settings import SimulationSettings
from ctgans.simulate.source import ToyMagicEventSource

__all__ = [
    "EMBEDDED_FILES",
    "SimulationStats",
    "embedded_settings",
    "image_processor_config",
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


def image_processor_config() -> Config:
    """MAGIC standard tailcuts cleaning (6 / 3.5 p.e.) for ctapipe's ImageProcessor."""
    return Config(
        {
            "ImageProcessor": {
                "TailcutsImageCleaner": {
                    "picture_threshold_pe": 6.0,
                    "boundary_threshold_pe": 3.5,
                    "min_picture_neighbors": 1,
                    "keep_isolated_pixels": False,
                }
            }
        }
    )


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
    output_path : str or os.PathLike
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
    if output_path.exists() and not overwrite:
        raise DataError(
            f"output file: expected a path that does not exist (or overwrite), "
            f"received existing {output_path}"
        )
    if not output_path.parent.is_dir():
        raise DataError(
            f"output folder: expected an existing directory, received "
            f"{output_path.parent}"
        )
    tmp_path = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    start = time.perf_counter()
    source = ToyMagicEventSource(settings)
    processor = ImageProcessor(source.subarray, config=image_processor_config())
    Provenance().start_activity(f"ctgans.simulate {settings.particle}")
    # ctapipe's timing fit draws from a module-level generator: start it from
    # the run's seed so that a seed gives the same timing parameters every time.
    saved_fit_state = fitting.FIT_RNG.bit_generator.state
    fit_seed = np.random.SeedSequence(settings.seed).spawn(3)[2]  # 0, 1: the source
    fitting.FIT_RNG.bit_generator.state = np.random.default_rng(
        fit_seed
    ).bit_generator.state
    try:
        with DataWriter(
            source,
            output_path=tmp_path,
            overwrite=True,
            write_dl1_images=True,
            write_dl1_parameters=True,
            # Level 1 is 1.4x faster to write than the default 5, for +8% size.
            compression_level=1,
        ) as writer:
            for event in source:
                processor(event)
                writer(event)
            writer.write_simulated_shower_distributions(
                source.simulated_shower_distributions
            )
        os.replace(tmp_path, output_path)
    finally:
        fitting.FIT_RNG.bit_generator.state = saved_fit_state
        Provenance().finish_activity()
        if tmp_path.exists():
            tmp_path.unlink()
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
    directory, n_events_per_particle: int = EMBEDDED_EVENTS, seed: int = 0, overwrite=False
) -> dict[str, Path]:
    """Write the diffuse gamma and proton files the package ships as its toy data.

    Parameters
    ----------
    directory : str or os.PathLike
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
