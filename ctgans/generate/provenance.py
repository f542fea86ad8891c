"""What a generated file says about itself: root attributes and simulation settings.

A generated DL1 file has the data model of a simulation file, so that ctapipe,
dl1-data-handler and CTLearn read its truth, but it must not pass for one:

* Root attributes ``CTGANS_*`` name the generator (ctgans version, run folder, the
  run's config hash, the epoch of ``generator.keras``), the reference file its
  instrument, pointing and observation come from, the training files, how the
  labels were chosen and the seed. The CTA product attributes say "not Monte
  Carlo": ``CTA PRODUCT DATA CATEGORY = Other`` (``Sim`` is CTA's category for
  simulated products), a ``CTA PROCESS SUBTYPE`` and ``CTA PRODUCT DESCRIPTION``
  naming ctgans. ``CTA PROCESS TYPE`` stays ``Simulation``: dl1-data-handler only
  accepts ``Simulation`` or ``Observation`` and reads the truth only for the former.
* ``/configuration/simulation/run`` describes what was generated, not the
  reference's production: ``n_showers`` = events generated (``shower_reuse`` 1), the
  energy range, spectral index and direction distribution that were sampled (or
  those of the ``--labels-from`` file, whose selected events were copied), the
  scatter range of the written cores, and no CORSIKA / sim_telarray versions.
  What a generated file cannot supply: the number of showers *thrown* (every
  generated event is written, as if it triggered), a trigger or selection
  efficiency, hence no effective area; and, for sampled mono events, a true core
  (written as (0, 0), scatter range 0).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from ctapipe.containers import SimulationConfigContainer

import ctgans
from ctgans.generate.coordinates import clip_altitude

__all__ = ["Drawn", "root_attributes", "simulation_configs"]

#: Fields that name the programs of a Monte Carlo production: reset to "none".
PRODUCTION_FIELDS = (
    "run_number",
    "corsika_version",
    "simtel_version",
    "shower_prog_start",
    "shower_prog_id",
    "detector_prog_start",
    "detector_prog_id",
)


@dataclass(frozen=True)
class Drawn:
    """How the truth of a generated file was chosen.

    ``None`` in a field means "as in the reference file's simulation settings"
    (``--labels-from``: the events copied are that file's).
    """

    labels: str
    energy_tev: tuple[float, float] | None = None
    spectral_index: float | None = None
    direction: str | None = None
    radius_deg: float | None = None
    scatter_m: tuple[float, float] | None = None


def simulation_configs(
    reference: dict[int, SimulationConfigContainer],
    obs_ids: np.ndarray,
    drawn: Drawn,
) -> dict[int, SimulationConfigContainer]:
    """The reference's simulation settings per obs_id, rewritten to describe
    the generated events (``obs_ids``: one entry per generated event)."""
    counts = dict(zip(*np.unique(np.asarray(obs_ids), return_counts=True)))
    defaults = SimulationConfigContainer()
    configs = {}
    for obs_id, original in reference.items():
        changes = {f: defaults[f] for f in PRODUCTION_FIELDS}
        changes["n_showers"] = int(counts.get(obs_id, 0))
        changes["shower_reuse"] = 1
        for name in ("min_alt", "max_alt"):  # a float32 zenith: 90 deg, not more
            changes[name] = clip_altitude(original[name].to_value(u.rad)) * u.rad
        if drawn.energy_tev is not None:
            changes["energy_range_min"] = drawn.energy_tev[0] * u.TeV
            changes["energy_range_max"] = drawn.energy_tev[1] * u.TeV
        if drawn.spectral_index is not None:
            changes["spectral_index"] = float(drawn.spectral_index)
        if drawn.direction is not None:
            radius = drawn.radius_deg * u.deg
            changes["diffuse"] = drawn.direction == "diffuse"
            changes["max_viewcone_radius"] = radius
            changes["min_viewcone_radius"] = 0 * u.deg if changes["diffuse"] else radius
        if drawn.scatter_m is not None:
            changes["min_scatter_range"] = drawn.scatter_m[0] * u.m
            changes["max_scatter_range"] = drawn.scatter_m[1] * u.m
        config = copy.deepcopy(original)
        for name, value in changes.items():
            setattr(config, name, value)
        configs[obs_id] = config
    return configs


def root_attributes(
    run,
    reference_path,
    drawn: Drawn,
    seed: int,
) -> dict[str, object]:
    """Root attributes of a generated file (see the module docstring).

    Parameters
    ----------
    run : ctgans.generate.trained_run.TrainedRun
        The run whose generator made the events.
    reference_path : pathlib.Path
        The file the instrument, pointing and observation were copied from.
    drawn : Drawn
        How the labels were chosen.
    seed : int
        The generation seed.
    """
    epoch = run.generator_epoch
    return {
        "CTGANS_GENERATED": True,
        "CTGANS_VERSION": ctgans.__version__,
        "CTGANS_RUN_FOLDER": str(run.folder.resolve()),
        "CTGANS_CONFIG_HASH": run.config_hash or "unknown",
        "CTGANS_GENERATOR_EPOCH": -1 if epoch is None else int(epoch),
        "CTGANS_REFERENCE_FILE": str(reference_path),
        "CTGANS_TRAINING_FILES": ",".join(
            str(p) for p in (*run.data.signal, *run.data.background)
        ),
        "CTGANS_LABELS": drawn.labels,
        "CTGANS_SEED": int(seed),
        "CTA PRODUCT DATA CATEGORY": "Other",
        "CTA PRODUCT DESCRIPTION": (
            "ctgans generated DL1 events (conditional GAN images for requested "
            "labels); not a Monte Carlo simulation"
        ),
        "CTA PROCESS SUBTYPE": "ctgans generated, not Monte Carlo",
    }
