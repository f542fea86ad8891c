"""Image orientation: does the Hillas major axis point to the true source?

FIDELITY §1: the distance of the true source position from the major axis (the
*miss distance*), summarised by its 68 % containment, next to the same figure for
a random axis. DISP and stereo reconstruction rest on it; a generator can place
the blob right while its axis points anywhere.

The source position is the ``cam_coord_offset_x/y`` label (metres, in the camera
frame dl1-data-handler builds with the geometry's ``pix_rotation``). The Hillas
parameters of :mod:`ctgans.evaluate.features` are along the geometry's
``pix_x``/``pix_y``; the two frames agree only for ``pix_rotation = 0``, so
:func:`source_in_geometry_frame` rotates the labels into the geometry's frame.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from ctgans.evaluate.binned import MIN_PER_BIN, nan_reduce, per_bin, worst_bin
from ctgans.evaluate.targets import Target, entry
from ctgans.predictor.figures import containment

__all__ = [
    "containment_68",
    "miss_distance",
    "orientation_section",
    "random_axis_miss",
    "source_in_geometry_frame",
]


def miss_distance(x, y, psi_deg, source_x, source_y) -> np.ndarray:
    """Perpendicular distance of ``(source_x, source_y)`` from the line through
    ``(x, y)`` at angle ``psi_deg`` (degrees from the x axis), per image.

    Same unit as the positions; NaN where any input is NaN (no Hillas ellipse).
    """
    psi = np.deg2rad(np.asarray(psi_deg, dtype=np.float64))
    dx = np.asarray(source_x, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    dy = np.asarray(source_y, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return np.abs(dy * np.cos(psi) - dx * np.sin(psi))


def random_axis_miss(x, y, source_x, source_y, rng: np.random.Generator):
    """:func:`miss_distance` with the axis angle drawn uniformly per image."""
    psi = rng.uniform(0.0, 180.0, size=np.shape(x))
    return miss_distance(x, y, psi, source_x, source_y)


def containment_68(values) -> float:
    """68 % quantile of the finite values; NaN if there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return containment(values) if values.size else float("nan")


def source_in_geometry_frame(source_x, source_y, geometry):
    """``cam_coord_offset_x/y`` rotated into the frame of ``geometry.pix_x/pix_y``.

    dl1-data-handler computes the labels in a ``CameraFrame(rotation=pix_rotation)``
    (its image mapper derotates the pixels, so in the square images the labels
    line up); ctapipe's ``CameraFrame`` rotation turns a position by ``-rotation``
    from the unrotated frame. The pixel positions of the geometry carry the
    rotation, so the label is turned back by ``+pix_rotation``.
    """
    angle = geometry.pix_rotation.to_value(u.rad)
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = np.asarray(source_x, float), np.asarray(source_y, float)
    return cos * x - sin * y, sin * x + cos * y


def _relative_difference(gen, sim) -> float:
    """``|c68(gen) / c68(sim) - 1|``; NaN when the simulated containment is 0."""
    sim_68 = containment_68(sim)
    return abs(containment_68(gen) / sim_68 - 1) if sim_68 > 0 else float("nan")


def _degrees(metres: float, focal_length_m: float | None) -> float:
    if focal_length_m is None or not np.isfinite(focal_length_m):
        return float("nan")
    return float(np.rad2deg(np.arctan2(metres, focal_length_m)))


def orientation_section(
    sim: dict[str, np.ndarray],
    gen: dict[str, np.ndarray],
    source: tuple[np.ndarray, np.ndarray],
    log_energy: np.ndarray,
    edges: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    focal_length_m: float | None = None,
    target: Target | None = None,
    worst_target: Target | None = None,
    gen_source: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """68 % containment of the miss distance, generated A vs simulated B.

    Parameters
    ----------
    sim, gen : dict of str to numpy.ndarray
        Feature tables (``hillas_x``, ``hillas_y`` in metres, ``hillas_psi`` in
        degrees), row by row the same labels.
    source : (numpy.ndarray, numpy.ndarray)
        True source position per row, in the frame of the features
        (:func:`source_in_geometry_frame`).
    log_energy, edges : numpy.ndarray
        True log10(E/TeV) per row and the energy bin edges.
    splits : list of (numpy.ndarray, numpy.ndarray)
        The halvings A/B.
    seed : int
        Seeds the random axes.
    focal_length_m : float, optional
        Effective focal length, for the figures in degrees.
    target, worst_target : Target, optional
        On ``|c68_gen / c68_sim - 1|`` pooled and in the worst energy bin; None:
        status ``info`` (protons).
    gen_source : (numpy.ndarray, numpy.ndarray), optional
        Source positions of the generated rows where they differ from ``source``
        (simulated images of other showers standing in for the generator).
    """
    gen_source = source if gen_source is None else gen_source
    sim_miss = miss_distance(
        sim["hillas_x"], sim["hillas_y"], sim["hillas_psi"], *source
    )
    gen_miss = miss_distance(
        gen["hillas_x"], gen["hillas_y"], gen["hillas_psi"], *gen_source
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0121]))
    sim_random = random_axis_miss(sim["hillas_x"], sim["hillas_y"], *source, rng)
    gen_random = random_axis_miss(gen["hillas_x"], gen["hillas_y"], *gen_source, rng)

    values = [_relative_difference(gen_miss[a], sim_miss[b]) for a, b in splits]
    floors = [_relative_difference(sim_miss[a], sim_miss[b]) for a, b in splits]
    figures = {}
    for name, miss in (
        ("simulated", sim_miss),
        ("generated", gen_miss),
        ("random_axis_simulated", sim_random),
        ("random_axis_generated", gen_random),
    ):
        figures[f"{name}_m"] = containment_68(miss)
        figures[f"{name}_deg"] = _degrees(figures[f"{name}_m"], focal_length_m)
    pooled = entry(
        values,
        floors,
        target,
        comparison="|c68 generated A / c68 simulated B - 1|",
        **figures,
        n_simulated=int(np.isfinite(sim_miss).sum()),
        n_generated=int(np.isfinite(gen_miss).sum()),
    )

    binned_v = np.array(
        [
            per_bin(_relative_difference, gen_miss, sim_miss, log_energy, edges, a, b)
            for a, b in splits
        ]
    )
    binned_f = np.array(
        [
            per_bin(_relative_difference, sim_miss, sim_miss, log_energy, edges, a, b)
            for a, b in splits
        ]
    )
    worst_v, worst = worst_bin(binned_v, ideal=0.0)
    worst_f, _ = worst_bin(binned_f, ideal=0.0)
    everything = np.arange(len(sim_miss))

    def c68_per_bin(miss):
        def c68(x, _):
            return containment_68(x)

        return per_bin(
            c68, miss, miss, log_energy, edges, everything, everything
        ).tolist()

    worst_range = (
        "–"
        if worst is None
        else f"log10 E/TeV {edges[worst]:.1f}..{edges[worst + 1]:.1f}"
    )
    worst_entry = entry(
        worst_v,
        worst_f,
        worst_target,
        worst_bin=worst,
        worst_bin_range=worst_range,
        per_bin={
            "value": nan_reduce(np.nanmean, binned_v).tolist(),
            "floor": nan_reduce(np.nanmean, binned_f).tolist(),
            "simulated_m": c68_per_bin(sim_miss),
            "generated_m": c68_per_bin(gen_miss),
            "random_axis_simulated_m": c68_per_bin(sim_random),
            "random_axis_generated_m": c68_per_bin(gen_random),
        },
    )
    return {
        "pooled": pooled,
        "worst_bin": worst_entry,
        "energy_edges_log10_tev": np.asarray(edges).tolist(),
        "focal_length_m": focal_length_m,
        "note": "miss distance: distance of the true source position "
        "(cam_coord_offset_x/y, rotated by the camera's pix_rotation into the "
        "geometry's frame) from the Hillas major axis; c68: its 68 % "
        "containment; random axis: psi drawn uniformly (seeded); bins need "
        f">= {MIN_PER_BIN} images in both samples",
    }
