"""Settings of one toy simulation run, validated once when they are made."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from ctgans.exceptions import ConfigError

__all__ = ["PARTICLES", "SOURCE_MODES", "SimulationSettings"]

#: Particle name -> CORSIKA primary id, as written in ``shower_primary_id``.
PARTICLES = {"gamma": 0, "proton": 101}
SOURCE_MODES = ("point", "diffuse")

# Defaults that differ per particle; ``None`` in a field means "use these".
_PARTICLE_DEFAULTS = {
    "gamma": {"energy_min_tev": 0.05, "energy_max_tev": 50.0, "spectral_index": -2.0},
    "proton": {"energy_min_tev": 0.1, "energy_max_tev": 100.0, "spectral_index": -2.7},
}


def _fail(name: str, expected: str, value) -> ConfigError:
    return ConfigError(f"{name}: expected {expected}, received {value!r}")


def _is_number(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


@dataclass(frozen=True)
class SimulationSettings:
    """What to simulate: particle, spectrum, directions, cores and pointing.

    Parameters
    ----------
    particle : str
        ``"gamma"`` or ``"proton"``.
    n_events : int
        Number of showers thrown (only triggered ones are written).
    seed : int
        Seed of every random draw of the run; same seed, same tables.
    energy_min_tev, energy_max_tev : float or None
        Energy range of the power law in TeV. ``None``: 0.05-50 TeV for gammas,
        0.1-100 TeV for protons.
    spectral_index : float or None
        Power-law index (``dN/dE ~ E**index``). ``None``: -2.0 for gammas, -2.7 for
        protons.
    source : str
        ``"diffuse"`` (directions uniform in a cone of ``diffuse_radius_deg``) or
        ``"point"`` (gammas from one of four wobble positions at
        ``wobble_offset_deg``). Protons are always diffuse.
    wobble_offset_deg : float
        Offset of the point source from the pointing, degrees.
    diffuse_radius_deg : float
        Radius of the cone of diffuse directions around the pointing, degrees.
    max_impact_m : float
        Radius of the disc around the array centre in which cores are thrown, m.
    pointing_alt_deg, pointing_az_deg : float
        Fixed pointing of both telescopes, degrees.
    obs_id : int
        Observation id written in every table.
    fixed_energies_tev : tuple of float
        With ``fixed_directions_deg``: throw every shower at one of these
        energies (TeV) instead of the power law...
    fixed_directions_deg : tuple of (float, float)
        ...and from one of these directions, ``(offset, position angle)`` in
        degrees around the pointing (angle 0 along the camera's fov_lon axis, as
        the wobble positions). Showers cycle through the grid energies x
        directions, ``n_events`` in total; cores are drawn as usual. Empty (the
        default): a power law and ``source`` directions.
    """

    particle: str
    n_events: int = 10000
    seed: int = 0
    energy_min_tev: float | None = None
    energy_max_tev: float | None = None
    spectral_index: float | None = None
    source: str = "diffuse"
    wobble_offset_deg: float = 0.4
    diffuse_radius_deg: float = 1.5
    max_impact_m: float = 300.0
    pointing_alt_deg: float = 70.0
    pointing_az_deg: float = 0.0
    obs_id: int = field(default=1)
    fixed_energies_tev: tuple[float, ...] = ()
    fixed_directions_deg: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        if self.particle not in PARTICLES:
            raise _fail("particle", f"one of {sorted(PARTICLES)}", self.particle)
        for name, value in _PARTICLE_DEFAULTS[self.particle].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._check_int("n_events", minimum=1)
        self._check_int("seed", minimum=0)
        self._check_int("obs_id", minimum=1)
        for name in (
            "energy_min_tev",
            "energy_max_tev",
            "spectral_index",
            "wobble_offset_deg",
            "diffuse_radius_deg",
            "max_impact_m",
            "pointing_alt_deg",
            "pointing_az_deg",
        ):
            if not _is_number(getattr(self, name)):
                raise _fail(name, "a finite number", getattr(self, name))
        if self.energy_min_tev <= 0:
            raise _fail("energy_min_tev", "a positive energy", self.energy_min_tev)
        if self.energy_max_tev <= self.energy_min_tev:
            raise _fail(
                "energy_max_tev",
                f"an energy above energy_min_tev={self.energy_min_tev}",
                self.energy_max_tev,
            )
        if not -5.0 <= self.spectral_index <= 0.0:
            raise _fail("spectral_index", "a value in [-5, 0]", self.spectral_index)
        if self.source not in SOURCE_MODES:
            raise _fail("source", f"one of {list(SOURCE_MODES)}", self.source)
        if not 0.0 <= self.wobble_offset_deg <= 2.0:
            raise _fail(
                "wobble_offset_deg", "a value in [0, 2]", self.wobble_offset_deg
            )
        if not 0.0 <= self.diffuse_radius_deg <= 5.0:
            raise _fail(
                "diffuse_radius_deg", "a value in [0, 5]", self.diffuse_radius_deg
            )
        if not 0.0 < self.max_impact_m <= 2000.0:
            raise _fail("max_impact_m", "a value in (0, 2000]", self.max_impact_m)
        if not 30.0 <= self.pointing_alt_deg <= 90.0:
            raise _fail(
                "pointing_alt_deg", "a value in [30, 90]", self.pointing_alt_deg
            )
        self._check_fixed_labels()

    def _check_fixed_labels(self) -> None:
        energies = tuple(self.fixed_energies_tev)
        directions = tuple(tuple(d) for d in self.fixed_directions_deg)
        object.__setattr__(self, "fixed_energies_tev", energies)
        object.__setattr__(self, "fixed_directions_deg", directions)
        if bool(energies) != bool(directions):
            raise _fail(
                "fixed_energies_tev and fixed_directions_deg",
                "both given or both empty",
                (energies, directions),
            )
        for energy in energies:
            if not _is_number(energy) or not 0.0 < energy <= 1000.0:
                raise _fail("fixed_energies_tev", "energies in (0, 1000] TeV", energy)
        for direction in directions:
            ok = len(direction) == 2 and all(_is_number(v) for v in direction)
            if not ok or not 0.0 <= direction[0] <= 5.0:
                raise _fail(
                    "fixed_directions_deg",
                    "(offset in [0, 5] deg, position angle in deg) pairs",
                    direction,
                )

    def _check_int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not is_int or value < minimum:
            raise _fail(name, f"an integer >= {minimum}", value)

    @property
    def primary_id(self) -> int:
        """CORSIKA primary id of the particle (0 gamma, 101 proton)."""
        return PARTICLES[self.particle]

    @property
    def fixed_labels(self) -> list[tuple[float, float, float]]:
        """``(energy TeV, offset deg, position angle deg)`` of every fixed label,
        energies outermost; empty without fixed labels."""
        return [
            (energy, offset, angle)
            for energy in self.fixed_energies_tev
            for offset, angle in self.fixed_directions_deg
        ]

    @property
    def is_diffuse(self) -> bool:
        """Whether the thrown directions fill a cone (always true for protons)."""
        return self.source == "diffuse" or self.particle != "gamma"
