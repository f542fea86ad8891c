"""The truth to generate: copied from a DL1 file, or sampled.

Options the request leaves open are filled in from the run: the training range
of the labels, else the reference file's simulation settings. Stereo runs get
one row per shower, sampled showers a core drawn from selected simulated events
(:mod:`ctgans.generate.stereo_truth`); sampled events of a mono run conditioned on
the impact distance a core at the impact distance of a selected simulated image
of similar energy (:mod:`ctgans.generate.impact_truth`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import astropy.units as u
import numpy as np
import tables
from ctapipe.io import read_table

from ctgans.exceptions import ConfigError
from ctgans.generate.chunks import CopiedTruth, SampledTruth
from ctgans.generate.impact_truth import sample_impact_cores
from ctgans.generate.labels import Truth, sample_truth, truth_from_file, truth_impact
from ctgans.generate.provenance import Drawn
from ctgans.generate.reference import SHOWER_TABLE, Reference
from ctgans.generate.request import GenerateRequest
from ctgans.generate.stereo_truth import one_row_per_event, sample_cores
from ctgans.generate.trained_run import TrainedRun
from ctgans.impact import IMPACT_COLUMN
from ctgans.simulate.settings import PARTICLES

log = logging.getLogger(__name__)


def first_primary_id(path: Path) -> int:
    """The primary particle id of the first shower of ``path``."""
    with tables.open_file(str(path), "r") as h5:
        return int(h5.get_node(SHOWER_TABLE).col("true_shower_primary_id")[0])


def plan_truth(
    request: GenerateRequest, run: TrainedRun, reference: Reference, signal_id: int
) -> tuple[CopiedTruth | SampledTruth, Drawn]:
    """The truth to generate (chunk by chunk), and how it was chosen."""
    if request.labels_from is not None:
        drawn = Drawn(labels=f"copied from {request.labels_from}")
        events = truth_from_file(run.data, request.labels_from, None)
        if run.stereo:
            events = one_row_per_event(events)
        count = len(events) if request.n_events is None else request.n_events
        return CopiedTruth(events, count), drawn
    config = reference.simulation_config[reference.obs_ids[0]]
    ranges = run.label_ranges
    if "log_true_energy" in ranges:
        default_energy = tuple(10.0 ** np.asarray(ranges["log_true_energy"]))
    else:
        default_energy = (
            config.energy_range_min.to_value("TeV"),
            config.energy_range_max.to_value("TeV"),
        )
    energy = (
        request.energy_min or default_energy[0],
        request.energy_max or default_energy[1],
    )
    if energy[0] >= energy[1]:
        raise ConfigError(
            f"--energy-min/--energy-max: empty range {energy} TeV "
            "after filling in the training range"
        )
    index = request.spectral_index
    if index is None:
        index = float(config.spectral_index)
    direction = request.direction or ("diffuse" if config.diffuse else "point")
    radius = request.radius_deg
    if radius is None:
        radius = _default_radius(run, reference, direction, config)
    primary = PARTICLES[request.particle] if request.particle else signal_id
    log.info(
        "sampling %d events: %.3g-%.3g TeV, index %.2f, %s within %.2f deg",
        request.n_events,
        *energy,
        index,
        direction,
        radius,
    )
    tel_ids = run.tel_ids[:1] if run.stereo else run.tel_ids

    def draw(n: int, rng: np.random.Generator) -> Truth:
        return sample_truth(
            n,
            reference,
            # Stereo: the labels are in the first telescope's camera frame.
            tel_ids,
            rng,
            energy,
            index,
            direction,
            radius,
            primary,
        )

    drawn = Drawn("sampled", energy, index, direction, radius, (0.0, 0.0))
    obs_id = reference.obs_ids[0]
    if not run.stereo and IMPACT_COLUMN not in run.label_columns:
        return SampledTruth(draw, request.n_events, obs_id, request.seed), drawn
    if not run.stereo:
        pool_file = _particle_file(run, primary, signal_id)
        log.info("impact: impact distances drawn from selected images of %s", pool_file)
        pool = truth_from_file(run.data, pool_file, None)
        pool_impact = truth_impact(pool, reference.subarray)  # once, not per chunk
        drawn = replace(drawn, scatter_m=_scatter_range(pool_file))

        def impact_cores(truth: Truth, rng: np.random.Generator) -> Truth:
            return sample_impact_cores(
                truth, pool.energy_tev, pool_impact, reference.subarray, rng
            )

        return (
            SampledTruth(draw, request.n_events, obs_id, request.seed, impact_cores),
            drawn,
        )
    pool_file = _particle_file(run, primary, signal_id)
    log.info("stereo: cores drawn from selected events of %s", pool_file)
    pool = one_row_per_event(truth_from_file(run.data, pool_file, None))
    drawn = replace(drawn, scatter_m=_scatter_range(pool_file))

    def cores(truth: Truth, rng: np.random.Generator) -> Truth:
        return sample_cores(truth, pool, rng)

    return SampledTruth(draw, request.n_events, obs_id, request.seed, cores), drawn


def _scatter_range(path: Path) -> tuple[float, float]:
    """The simulated core scatter range of ``path`` (its first run), metres."""
    row = read_table(path, "/configuration/simulation/run")[0]
    return (
        float(u.Quantity(row["min_scatter_range"], u.m).value),
        float(u.Quantity(row["max_scatter_range"], u.m).value),
    )


def _particle_file(run: TrainedRun, primary: int, signal_id: int) -> Path:
    """A training file of the requested particle (signal if none is)."""
    if primary != signal_id and run.data.background:
        return run.data.background[0]
    return run.data.signal[0]


def _default_radius(run, reference, direction, config) -> float:
    """Training range of the direction labels, else the simulated view cone."""
    ranges = run.label_ranges
    if direction == "diffuse" and "cam_coord_offset_x" in ranges:
        # The largest disc inside the training box of offsets.
        radius_m = min(
            abs(v)
            for c in ("cam_coord_offset_x", "cam_coord_offset_y")
            for v in ranges[c]
        )
        tel_id = run.tel_ids[0]
        focal = reference.subarray.tel[tel_id].camera.geometry.frame.focal_length
        return float(np.rad2deg(np.arctan(radius_m / focal.to_value("m"))))
    if direction == "diffuse" and "fov_lon" in ranges:
        return min(abs(v) for c in ("fov_lon", "fov_lat") for v in ranges[c])
    return float(config.max_viewcone_radius.to_value("deg"))
