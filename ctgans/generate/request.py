"""What to generate, checked when it is made: :class:`GenerateRequest`.

``python -m ctgans.generate`` builds one from its options, so a bad option is
reported (``ConfigError`` naming it) before anything heavy runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ctgans.exceptions import ConfigError
from ctgans.generate.labels import DIRECTIONS
from ctgans.simulate.settings import PARTICLES


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate; checked when made (``ConfigError`` names the option).

    Parameters
    ----------
    run_folder, output : pathlib.Path
        The training run folder and the DL1 file to write.
    n_events : int or None
        Events to generate; None only with ``labels_from`` (all its events).
    labels_from : pathlib.Path or None
        Copy the truth of this DL1 file's selected events instead of sampling.
    energy_min, energy_max : float or None
        Sampled energy range in TeV; None: the training range.
    spectral_index : float or None
        Power-law index; None: the reference file's simulated index.
    direction : {"diffuse", "point"} or None
        None: diffuse if the reference file was simulated diffuse, else point.
    radius_deg : float or None
        Disc radius (diffuse) or source offset (point), degrees; None: the training
        range (diffuse) or the simulated view cone.
    particle : {"gamma", "proton"} or None
        Primary of sampled events; None: the run's signal particle.
    seed : int
        Seeds label sampling, the generator noise and ctapipe's timing fit.
    batch_size : int
        Images generated per generator call (at most a chunk,
        :data:`~ctgans.generate.chunks.CHUNK_EVENTS`).
    overwrite : bool
        Replace an existing output file.
    workers : int
        Processes computing the DL1 parameters and writing: 1 writes in this
        process; more write a part per chunk in that many worker processes and
        merge the parts with ctapipe's ``HDF5Merger``. The events are the same.
    parameters : bool
        Compute the DL1 image parameters (ctapipe's ``ImageProcessor``). False:
        the images are cleaned but not parametrised; the parameters tables hold
        ctapipe's defaults (NaN), see :mod:`ctgans.generate.parameters`.
    per_event : bool
        Write with ctapipe's ``ImageProcessor`` and ``DataWriter`` on each event,
        as before the batched writer (slower; the same file). Needs
        ``parameters``.
    """

    run_folder: Path
    output: Path
    n_events: int | None = None
    labels_from: Path | None = None
    energy_min: float | None = None
    energy_max: float | None = None
    spectral_index: float | None = None
    direction: str | None = None
    radius_deg: float | None = None
    particle: str | None = None
    seed: int = 0
    batch_size: int = 256
    overwrite: bool = False
    workers: int = 1
    parameters: bool = True
    per_event: bool = False

    def __post_init__(self):
        if self.per_event and not self.parameters:
            raise ConfigError(
                "per_event writes the DL1 parameters; received parameters=False"
            )
        if self.n_events is None and self.labels_from is None:
            raise ConfigError("--n-events: required unless --labels-from is given")
        if self.n_events is not None and self.n_events <= 0:
            raise ConfigError(
                f"--n-events must be a positive integer; received {self.n_events}"
            )
        if self.batch_size <= 0:
            raise ConfigError(
                f"--batch-size must be a positive integer; received {self.batch_size}"
            )
        if self.workers <= 0:
            raise ConfigError(
                f"--workers must be a positive integer; received {self.workers}"
            )
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0; received {self.seed}")
        for name in ("energy_min", "energy_max"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive "
                    f"energy in TeV; received {value}"
                )
        if (
            self.energy_min is not None
            and self.energy_max is not None
            and self.energy_min >= self.energy_max
        ):
            raise ConfigError(
                f"--energy-min must be below --energy-max; received "
                f"{self.energy_min} >= {self.energy_max}"
            )
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ConfigError(
                f"--direction must be one of {DIRECTIONS}; received {self.direction!r}"
            )
        if self.radius_deg is not None and not 0.0 <= self.radius_deg < 45.0:
            raise ConfigError(
                f"--radius-deg must be in [0, 45); received {self.radius_deg}"
            )
        if self.particle is not None and self.particle not in PARTICLES:
            raise ConfigError(
                f"--particle must be one of {sorted(PARTICLES)}; "
                f"received {self.particle!r}"
            )
