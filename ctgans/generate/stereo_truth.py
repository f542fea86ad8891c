"""The truth of stereo events: one row per shower, and a core position for each.

A stereo run generates all its telescopes for one shower, so the truth has one row
per *event*, not per telescope image. Two helpers:

* :func:`one_row_per_event`: the rows of a per-telescope truth (as read by
  dl1-data-handler) that start each (obs_id, event_id), in file order; the row's
  ``tel_id`` is the telescope whose camera frame the ``cam_coord_offset`` labels
  were read in during training (the first one of the event, as
  :func:`ctgans.data.reader._stack_stereo` takes it).
* :func:`sample_cores`: the generator is not conditioned on the core position, but
  a written stereo event needs one. Each sampled event gets the core of a selected
  simulated event of the same particle *of similar energy* (drawn uniformly among
  the ``window`` selected events nearest in log energy), so the written cores follow
  the training distribution, including its growth with energy. The images do not
  depend on it: it is a plausible truth, not the generator's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ctgans.generate.labels import Truth

__all__ = ["one_row_per_event", "sample_cores", "similar_energy"]

CORE_WINDOW = 25


def one_row_per_event(truth: Truth) -> Truth:
    """The first row of each shower of ``truth``, in order.

    :class:`Truth` carries no event_id; the rows of one shower share its whole
    truth (obs_id, energy, direction, core), and two showers never do.
    """
    keys = np.stack(
        [
            truth.obs_id.astype(np.float64),
            truth.energy_tev,
            truth.alt_rad,
            truth.az_rad,
            truth.core_x_m,
            truth.core_y_m,
        ],
        axis=1,
    )
    _, first = np.unique(keys, axis=0, return_index=True)
    return truth.take(np.sort(first))


def sample_cores(
    truth: Truth,
    pool: Truth,
    rng: np.random.Generator,
    window: int = CORE_WINDOW,
) -> Truth:
    """``truth`` with cores drawn from ``pool`` events of similar energy.

    Parameters
    ----------
    truth : Truth
        Events to give a core (their energies choose the neighbours).
    pool : Truth
        Selected simulated events, one row per event.
    rng : numpy.random.Generator
        Source of the draws.
    window : int
        Number of nearest-energy pool events to draw from.
    """
    chosen = similar_energy(truth.energy_tev, pool.energy_tev, rng, window)
    return replace(
        truth, core_x_m=pool.core_x_m[chosen], core_y_m=pool.core_y_m[chosen]
    )


def similar_energy(
    energy_tev: np.ndarray,
    pool_energy_tev: np.ndarray,
    rng: np.random.Generator,
    window: int = CORE_WINDOW,
) -> np.ndarray:
    """For each energy, a pool row drawn uniformly among the ``window`` rows
    nearest in log energy (indices into the pool)."""
    order = np.argsort(pool_energy_tev, kind="stable")
    log_pool = np.log10(pool_energy_tev[order])
    window = max(1, min(window, len(order)))
    centre = np.searchsorted(log_pool, np.log10(energy_tev))
    start = np.clip(centre - window // 2, 0, len(order) - window)
    return order[start + rng.integers(0, window, size=len(energy_tev))]
