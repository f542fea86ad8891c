"""A ctapipe EventSource that simulates toy MAGIC events instead of reading them."""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
from ctapipe.containers import (
    ArrayEventContainer,
    DL1CameraContainer,
    ObservationBlockContainer,
    SchedulingBlockContainer,
    SimulatedCameraContainer,
    SimulatedShowerDistribution,
    SimulationConfigContainer,
    TelescopeImpactParameterContainer,
    TelescopePointingContainer,
)

from ctgans.dl1_output import InMemoryDL1Source, new_event
from ctgans.simulate.images import (
    MIN_TRIGGERABLE_PEAK_PE,
    CameraModel,
    gamma_image,
    muon_ring,
    observe,
    proton_image,
    triggered,
)
from ctgans.simulate.instrument import magic_subarray
from ctgans.simulate.settings import SimulationSettings
from ctgans.simulate.showers import sample_showers, shower_geometry

__all__ = ["ToyMagicEventSource"]

logger = logging.getLogger(__name__)

MUON_PROBABILITY = 0.04  # per visible proton image


class ToyMagicEventSource(InMemoryDL1Source):
    """Yield triggered events of a toy MAGIC simulation.

    Parameters
    ----------
    settings : SimulationSettings
        What to simulate.
    **kwargs
        Passed to `ctapipe.io.EventSource`.

    Attributes
    ----------
    n_thrown : int
        Showers simulated so far.
    n_written : int
        Triggered events yielded so far.
    """

    def __init__(self, settings: SimulationSettings, **kwargs):
        super().__init__(**kwargs)
        self.settings = settings
        self._subarray = magic_subarray()
        self._camera = CameraModel.magic()
        truth_seed, image_seed = np.random.SeedSequence(settings.seed).spawn(2)
        self._truth = sample_showers(settings, np.random.default_rng(truth_seed))
        self._geometry = shower_geometry(settings, self._truth)
        self._image_rng = np.random.default_rng(image_seed)
        self.n_thrown = 0
        self.n_written = 0

    @property
    def subarray(self):
        """The MAGIC subarray."""
        return self._subarray

    @property
    def scheduling_blocks(self) -> dict[int, SchedulingBlockContainer]:
        """One scheduling block per run."""
        sb_id = np.uint64(self.settings.obs_id)
        return {sb_id: SchedulingBlockContainer(sb_id=sb_id, producer_id="ctgans")}

    @property
    def observation_blocks(self) -> dict[int, ObservationBlockContainer]:
        """One observation block per run, id ``settings.obs_id``."""
        obs_id = np.uint64(self.settings.obs_id)
        block = ObservationBlockContainer(
            obs_id=obs_id,
            sb_id=obs_id,
            producer_id="ctgans",
            subarray_pointing_lat=self.settings.pointing_alt_deg * u.deg,
            subarray_pointing_lon=self.settings.pointing_az_deg * u.deg,
        )
        return {obs_id: block}

    @property
    def simulation_config(self) -> dict[int, SimulationConfigContainer]:
        """Energy range, spectrum, scatter range, view cone and pointing."""
        s = self.settings
        alt, az = s.pointing_alt_deg * u.deg, s.pointing_az_deg * u.deg
        e_min, e_max = s.energy_min_tev, s.energy_max_tev
        if s.fixed_labels:
            offsets = [offset for offset, _ in s.fixed_directions_deg]
            cone_min, cone_max = min(offsets) * u.deg, max(offsets) * u.deg
            e_min, e_max = min(s.fixed_energies_tev), max(s.fixed_energies_tev)
        elif s.is_diffuse:
            cone_min, cone_max = 0.0 * u.deg, s.diffuse_radius_deg * u.deg
        else:
            cone_min = cone_max = s.wobble_offset_deg * u.deg
        config = SimulationConfigContainer(
            run_number=np.int32(s.obs_id),
            energy_range_min=e_min * u.TeV,
            energy_range_max=e_max * u.TeV,
            prod_site_alt=self.subarray.reference_location.height.to(u.m),
            spectral_index=s.spectral_index,
            n_showers=s.n_events,
            shower_reuse=1,
            max_alt=alt.to(u.rad),
            min_alt=alt.to(u.rad),
            max_az=az.to(u.rad),
            min_az=az.to(u.rad),
            diffuse=s.is_diffuse or bool(s.fixed_labels),
            max_viewcone_radius=cone_max,
            min_viewcone_radius=cone_min,
            max_scatter_range=s.max_impact_m * u.m,
            min_scatter_range=0.0 * u.m,
            core_pos_mode=0,
        )
        return {s.obs_id: config}

    @property
    def simulated_shower_distributions(self) -> dict[int, SimulatedShowerDistribution]:
        """Histogram of all thrown showers in energy and core distance."""
        s = self.settings
        energies = (s.energy_min_tev, s.energy_max_tev, *s.fixed_energies_tev)
        bins_energy = np.geomspace(min(energies), max(energies) * (1 + 1e-9), 31)
        bins_core = np.linspace(0.0, s.max_impact_m, 31)
        core = np.hypot(self._truth.core_x_m, self._truth.core_y_m)
        hist, _, _ = np.histogram2d(
            self._truth.energy_tev, core, bins=[bins_energy, bins_core]
        )
        distribution = SimulatedShowerDistribution(
            obs_id=s.obs_id,
            hist_id=1,
            n_entries=len(self._truth),
            bins_energy=bins_energy * u.TeV,
            bins_core_dist=bins_core * u.m,
            histogram=hist,
        )
        return {s.obs_id: distribution}

    def _tel_image(self, i_event: int, i_tel: int):
        truth, geometry, rng = self._truth, self._geometry, self._image_rng
        impact = geometry.impact_m[i_event, i_tel]
        distance = geometry.distance_to_max_m[i_event, i_tel]
        cog = (geometry.cog_x[i_event, i_tel], geometry.cog_y[i_event, i_tel])
        energy = truth.energy_tev[i_event]
        if self.settings.particle == "gamma":
            source = (
                geometry.source_x[i_event, i_tel],
                geometry.source_y[i_event, i_tel],
            )
            expected, times = gamma_image(
                self._camera, rng, energy, impact, distance, source, cog
            )
        else:
            expected, times = proton_image(
                self._camera, rng, energy, impact, distance, cog
            )
            # A local muon on top of a visible shower, in a few % of images.
            if expected is not None and rng.uniform() < MUON_PROBABILITY:
                expected = expected + muon_ring(self._camera, rng)
        if expected is None or expected.max() < MIN_TRIGGERABLE_PEAK_PE:
            return None
        return observe(self._camera, rng, expected, times)

    def _generator(self):
        s = self.settings
        pointing = TelescopePointingContainer(
            altitude=(s.pointing_alt_deg * u.deg).to(u.rad),
            azimuth=(s.pointing_az_deg * u.deg).to(u.rad),
        )
        tel_ids = self._geometry.tel_ids
        for i_event in range(len(self._truth)):
            self.n_thrown += 1
            images = {}
            for i_tel, tel_id in enumerate(tel_ids):
                observed = self._tel_image(i_event, i_tel)
                if observed is not None and triggered(self._camera, observed[0]):
                    images[tel_id] = (i_tel, *observed)
            if not images:
                continue
            yield self._event(i_event, images, pointing)
            self.n_written += 1

    def _event(self, i_event, images, pointing) -> ArrayEventContainer:
        truth = self._truth
        event = new_event(
            self.settings.obs_id,
            i_event,
            self.n_written,
            images,
            truth,
            i_event,
            self.settings.primary_id,
        )
        for tel_id, (i_tel, charge, peak_time, true_pe) in images.items():
            event.monitoring.tel[tel_id].pointing = pointing
            event.dl1.tel[tel_id] = DL1CameraContainer(
                image=charge, peak_time=peak_time
            )
            impact = self._geometry.impact_m[i_event, i_tel]
            event.simulation.tel[tel_id] = SimulatedCameraContainer(
                true_image_sum=np.int32(true_pe.sum()),
                impact=TelescopeImpactParameterContainer(
                    distance=impact * u.m, distance_uncert=0.0 * u.m
                ),
            )
        return event
