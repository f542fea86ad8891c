"""Expected and observed camera images of the toy model (plain numpy).

An image is a sum of components, each a (split) Gaussian ellipse in the camera
integrated over the pixel by widening it with the pixel's own spread. Lengths in
the camera are metres; the physics is set in degrees and converted once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctgans.simulate.instrument import EFFECTIVE_FOCAL_LENGTH_M, camera_geometry

__all__ = [
    "CameraModel",
    "gamma_image",
    "muon_ring",
    "observe",
    "proton_image",
    "triggered",
]

M_PER_DEG = EFFECTIVE_FOCAL_LENGTH_M * np.pi / 180.0
PE_PER_GEV = 1.2
LIGHT_POOL_RADIUS_M = 120.0
LIGHT_POOL_FALLOFF_M = 56.0  # light x 1/10 at ~250 m
NSB_PE = 1.0
ELECTRONIC_NOISE_PE = 0.3
EXCESS_NOISE = 0.3  # relative spread of one photo-electron's charge
TRIGGER_THRESHOLD_PE = 8.0
TRIGGER_TIME_NS = 20.0
READOUT_WINDOW_NS = 40.0
HEAD_TAIL_SKEW = 0.3
CHARGE_STEPS_PER_PE = 32
TIME_STEPS_PER_NS = 8
#: Below this many expected signal p.e. a camera cannot reach three pixels above
#: the trigger threshold; such images are not computed at all.
MIN_TRIGGERABLE_PE = 15.0
#: Brightest expected pixel below which three pixels above the trigger threshold
#: are out of reach (measured chance < 5e-5): such images are not sampled.
MIN_TRIGGERABLE_PEAK_PE = 2.5


@dataclass(frozen=True)
class CameraModel:
    """Pixel positions and neighbours of the MAGIC camera, precomputed once."""

    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    pixel_var: float
    neighbors: object  # scipy.sparse CSR matrix

    @classmethod
    def magic(cls) -> CameraModel:
        """Build the model of the MAGIC camera."""
        geom = camera_geometry()
        area = geom.pix_area.to_value("m2")
        # Second moment of a regular hexagon of area A along an axis: 5A/(36 sqrt 3).
        pixel_var = float(5.0 * np.mean(area) / (36.0 * np.sqrt(3.0)))
        return cls(
            x=geom.pix_x.to_value("m"),
            y=geom.pix_y.to_value("m"),
            area=area,
            pixel_var=pixel_var,
            neighbors=geom.neighbor_matrix_sparse.astype(np.int32),
        )

    @property
    def max_area(self) -> float:
        """Area of the largest pixel (m^2)."""
        return float(np.max(self.area))

    @property
    def n_pixels(self) -> int:
        """Number of pixels."""
        return len(self.x)


def light_pool(impact_m):
    """Fraction of the in-pool light at impact distance ``impact_m``."""
    excess = np.clip(np.asarray(impact_m) - LIGHT_POOL_RADIUS_M, 0.0, None)
    return np.exp(-excess / LIGHT_POOL_FALLOFF_M)


def _peak_fraction(cam, sigma_l, sigma_w, skew=0.0):
    """Largest fraction of an ellipse's light that one pixel can collect."""
    var_head = (sigma_l * (1.0 - skew)) ** 2 + cam.pixel_var
    var_tail = (sigma_l * (1.0 + skew)) ** 2 + cam.pixel_var
    var_w = sigma_w**2 + cam.pixel_var
    norm = 1.0 / (np.pi * (np.sqrt(var_head) + np.sqrt(var_tail)) * np.sqrt(var_w))
    return norm * cam.max_area


def _ellipse(cam, x0, y0, psi, sigma_l, sigma_w, skew=0.0):
    """Expected fraction of the light per pixel and longitudinal coordinate.

    Split Gaussian along the axis at angle ``psi`` (narrower on the side of
    negative longitudinal coordinate, the head), Gaussian across it.
    """
    dx, dy = cam.x - x0, cam.y - y0
    cos_psi, sin_psi = np.cos(psi), np.sin(psi)
    lon = dx * cos_psi + dy * sin_psi
    trans = -dx * sin_psi + dy * cos_psi
    var_head = (sigma_l * (1.0 - skew)) ** 2 + cam.pixel_var
    var_tail = (sigma_l * (1.0 + skew)) ** 2 + cam.pixel_var
    var_w = sigma_w**2 + cam.pixel_var
    var_l = np.where(lon < 0.0, var_head, var_tail)
    norm = 1.0 / (np.pi * (np.sqrt(var_head) + np.sqrt(var_tail)) * np.sqrt(var_w))
    return norm * cam.area * np.exp(
        -0.5 * (lon * lon / var_l + trans * trans / var_w)
    ), lon


def _lognormal(rng, sigma):
    return float(np.exp(rng.normal(0.0, sigma)))


def gamma_image(cam, rng, energy_tev, impact_m, distance_m, src, cog):
    """Expected photo-electrons and peak times of a gamma-ray shower image.

    Parameters
    ----------
    cam : CameraModel
        The camera.
    rng : numpy.random.Generator
        Source of the shower-to-shower fluctuations.
    energy_tev, impact_m, distance_m : float
        Energy, impact distance and distance from the telescope to the maximum.
    src, cog : tuple of float
        Camera positions (m) of the source and of the shower maximum.

    Returns
    -------
    expected : numpy.ndarray or None
        Expected signal photo-electrons per pixel; None when the image is too
        faint to trigger.
    times : numpy.ndarray or None
        Signal arrival time per pixel (ns).
    """
    log_e = np.log10(energy_tev / 0.05)
    total = PE_PER_GEV * 1e3 * energy_tev * light_pool(impact_m) * _lognormal(rng, 0.3)
    if total < MIN_TRIGGERABLE_PE:
        return None, None
    axis_x, axis_y = cog[0] - src[0], cog[1] - src[1]
    if np.hypot(axis_x, axis_y) < 1e-6:
        psi = rng.uniform(0.0, 2 * np.pi)
    else:
        psi = np.arctan2(axis_y, axis_x)  # from the source toward the tail
    width_deg = (0.028 + 0.014 * log_e) * _lognormal(rng, 0.2)
    # Longitudinal spread of the light along the axis (m), seen at impact / d^2.
    spread_m = (1300.0 + 400.0 * log_e) * _lognormal(rng, 0.2)
    length_deg = np.hypot(width_deg, np.rad2deg(impact_m * spread_m / distance_m**2))
    length_m, width_m = length_deg * M_PER_DEG, width_deg * M_PER_DEG
    if total * _peak_fraction(cam, length_m, width_m, HEAD_TAIL_SKEW) < (
        MIN_TRIGGERABLE_PEAK_PE
    ):
        return None, None
    fraction, lon = _ellipse(
        cam, cog[0], cog[1], psi, length_m, width_m, skew=HEAD_TAIL_SKEW
    )
    # Later light from lower down for distant cores: ~10 ns/deg at 200 m.
    gradient = 0.05 * impact_m * _lognormal(rng, 0.15)
    t0 = TRIGGER_TIME_NS + rng.normal(0.0, 1.0)
    times = t0 + gradient * lon / M_PER_DEG
    return total * fraction, times


def proton_image(cam, rng, energy_tev, impact_m, distance_m, cog):
    """Expected photo-electrons and peak times of a proton shower image.

    Broader and patchier than a gamma image: a main ellipse of random orientation
    plus two to four sub-showers at random offsets. Same parameters and returns
    as :func:`gamma_image`, without the source position.
    """
    log_e = np.log10(energy_tev / 0.05)
    total = (
        PE_PER_GEV
        / 3.0
        * 1e3
        * energy_tev
        * light_pool(impact_m)
        * _lognormal(rng, 0.5)
    )
    if total < MIN_TRIGGERABLE_PE:
        return None, None
    psi = rng.uniform(0.0, 2 * np.pi)
    width_deg = 2.0 * (0.028 + 0.014 * log_e) * _lognormal(rng, 0.35)
    spread_m = (1000.0 + 300.0 * log_e) * _lognormal(rng, 0.3)
    length_deg = np.hypot(width_deg, np.rad2deg(impact_m * spread_m / distance_m**2))
    n_sub = int(rng.integers(2, 5))
    shares = rng.dirichlet(np.full(n_sub + 1, 1.0))
    shares[0] += 1.0  # the main component keeps most of the light
    shares /= shares.sum()
    offsets = rng.normal(0.0, 0.3, size=(n_sub, 2)) * M_PER_DEG
    sub_psi = rng.uniform(0.0, 2 * np.pi, size=n_sub)
    sub_length = rng.uniform(0.05, 0.2, size=n_sub) * M_PER_DEG
    sub_width = rng.uniform(0.03, 0.08, size=n_sub) * M_PER_DEG
    length_m, width_m = length_deg * M_PER_DEG, width_deg * M_PER_DEG
    # Even if every component peaked on one pixel, could it reach the trigger?
    peak_bound = shares[0] * _peak_fraction(cam, length_m, width_m) + sum(
        share * _peak_fraction(cam, sl, sw)
        for share, sl, sw in zip(shares[1:], sub_length, sub_width, strict=True)
    )
    if total * peak_bound < MIN_TRIGGERABLE_PEAK_PE:
        return None, None
    main, lon = _ellipse(cam, cog[0], cog[1], psi, length_m, width_m)
    expected = shares[0] * main
    for i in range(n_sub):
        sub, _ = _ellipse(
            cam,
            cog[0] + offsets[i, 0],
            cog[1] + offsets[i, 1],
            sub_psi[i],
            sub_length[i],
            sub_width[i],
        )
        expected += shares[i + 1] * sub
    t0 = TRIGGER_TIME_NS + rng.normal(0.0, 1.5)
    times = t0 + rng.normal(0.0, 5.0) * lon / M_PER_DEG
    return total * expected, times


def muon_ring(cam, rng):
    """Expected photo-electrons of a (possibly partial) muon ring of radius ~1 deg."""
    centre = rng.normal(0.0, 0.5, size=2) * M_PER_DEG
    radius = rng.uniform(0.9, 1.15) * M_PER_DEG
    sigma_r = 0.04 * M_PER_DEG
    total = rng.uniform(150.0, 600.0)
    asymmetry = rng.uniform(0.0, 1.0)  # 1: a C-shaped arc from a large impact
    phase = rng.uniform(0.0, 2 * np.pi)
    dx, dy = cam.x - centre[0], cam.y - centre[1]
    r = np.hypot(dx, dy)
    modulation = 1.0 + asymmetry * np.cos(np.arctan2(dy, dx) - phase)
    var_r = sigma_r**2 + cam.pixel_var
    density = np.exp(-0.5 * (r - radius) ** 2 / var_r) / np.sqrt(2 * np.pi * var_r)
    return total * modulation * density * cam.area / (2 * np.pi * radius)


def observe(cam, rng, expected, signal_times):
    """Photon statistics, night-sky background and noise on an expected image.

    Returns
    -------
    charge : numpy.ndarray of float32
        Pedestal-subtracted charge (p.e.).
    peak_time : numpy.ndarray of float32
        Signal time where the signal photo-electrons outnumber the background
        ones, a random time in the readout window elsewhere (ns).
    true_pe : numpy.ndarray of int32
        Signal photo-electrons before noise.
    """
    # Signal only where some is expected: most pixels see background alone.
    lit = np.flatnonzero(expected > 1e-3)
    true_pe = np.zeros(cam.n_pixels, dtype=np.int64)
    true_pe[lit] = rng.poisson(expected[lit])
    nsb = rng.poisson(NSB_PE, size=cam.n_pixels)
    n_pe = true_pe + nsb
    charge = (
        n_pe
        - NSB_PE
        + rng.standard_normal(cam.n_pixels)
        * np.sqrt(ELECTRONIC_NOISE_PE**2 + EXCESS_NOISE**2 * n_pe)
    )
    peak_time = rng.uniform(0.0, READOUT_WINDOW_NS, size=cam.n_pixels)
    signal = lit[true_pe[lit] > nsb[lit]]
    jitter = rng.standard_normal(len(signal)) * (
        0.3 + 2.0 / np.sqrt(true_pe[signal] + 1.0)
    )
    peak_time[signal] = signal_times[signal] + jitter
    # Digitisation steps (as ADC counts would give) also let the files compress.
    return (
        _digitise(charge, CHARGE_STEPS_PER_PE),
        _digitise(peak_time, TIME_STEPS_PER_NS),
        true_pe.astype(np.int32),
    )


def _digitise(values, steps_per_unit):
    return (np.round(values * steps_per_unit) / steps_per_unit).astype(np.float32)


def triggered(cam, charge) -> bool:
    """Three neighbouring pixels above threshold (a pixel and two neighbours)."""
    above = (charge > TRIGGER_THRESHOLD_PE).astype(np.int32)
    if above.sum() < 3:
        return False
    n_neighbors_above = cam.neighbors @ above
    return bool(np.any((n_neighbors_above >= 2) & (above > 0)))
