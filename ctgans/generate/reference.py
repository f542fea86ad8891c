"""The instrument and run description a generated file copies from a real DL1 file.

A generated file must look like the files the run was trained on: same telescopes,
cameras and focal lengths, same pointing, same simulation settings. All of it is
read from one *reference* file (the ``--labels-from`` file, else the run's first
training file), so generation works for any camera ctapipe describes, not only the
toy MAGIC one.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import tables
from ctapipe.instrument import SubarrayDescription
from ctapipe.io import HDF5EventSource, read_table

from ctgans.config import DataConfig
from ctgans.data.files import check_file
from ctgans.exceptions import DataError
from ctgans.generate.coordinates import clip_altitude

__all__ = ["Reference", "read_reference"]

log = logging.getLogger(__name__)

SHOWER_TABLE = "/simulation/event/subarray/shower"


@dataclass
class Reference:
    """Metadata of the reference file, restricted to the run's telescopes.

    Attributes
    ----------
    path : pathlib.Path
        The reference file.
    subarray : ctapipe.instrument.SubarrayDescription
        The run's telescopes, read with the run's ``focal_length_choice``.
    simulation_config, observation_blocks, scheduling_blocks : dict
        ctapipe containers keyed by obs_id (sb_id), as the file holds them.
    tel_pointing : dict of (int, int) to (float, float)
        ``(obs_id, tel_id) -> (alt, az)`` in radians: the first pointing of each
        telescope in each observation (a zenith altitude stored as float32 is
        clipped to 90 deg, so it is written back as 90 deg).
    primary_id : int
        ``shower_primary_id`` of the file's first shower (0 gamma, 101 proton).
    """

    path: Path
    subarray: SubarrayDescription
    simulation_config: dict
    observation_blocks: dict
    scheduling_blocks: dict
    tel_pointing: dict[tuple[int, int], tuple[float, float]]
    primary_id: int

    @property
    def obs_ids(self) -> list[int]:
        """Observation ids with a simulation configuration, sorted."""
        return sorted(int(o) for o in self.simulation_config)

    def array_pointing(self, obs_id: int) -> tuple[float, float]:
        """(alt, az) in radians of the array, as dl1-data-handler takes it."""
        config = self.simulation_config[obs_id]
        return (
            clip_altitude(config.min_alt.to_value(u.rad)),
            float(config.min_az.to_value(u.rad)),
        )

    def pointing(self, obs_id: int, tel_id: int) -> tuple[float, float]:
        """(alt, az) in radians of one telescope in one observation."""
        try:
            return self.tel_pointing[(obs_id, tel_id)]
        except KeyError:
            raise DataError(
                f"{self.path}: no pointing of telescope {tel_id} in "
                f"observation {obs_id}"
            ) from None


def read_reference(path: Path, data: DataConfig, tel_ids) -> Reference:
    """Read the reference file's subarray, pointing and simulation settings.

    Parameters
    ----------
    path : pathlib.Path
        A ctapipe DL1 simulation file holding the run's telescope type.
    data : ctgans.config.DataConfig
        The run's data selection (telescope types, focal length choice).
    tel_ids : sequence of int
        The run's telescopes; those absent from the file are left out.

    Raises
    ------
    DataError
        If the file is not such a DL1 file or holds none of the run's telescopes.
    """
    check_file(path, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy / ctapipe metadata chatter
        source = HDF5EventSource(
            input_url=path, focal_length_choice=data.focal_length_choice
        )
        try:
            subarray = source.subarray
            simulation = {int(k): v for k, v in source.simulation_config.items()}
            observation = dict(source.observation_blocks)
            scheduling = dict(source.scheduling_blocks)
        finally:
            source.close()
    wanted = [
        t
        for t in tel_ids
        if t in subarray.tel and str(subarray.tel[t]) in data.tel_types
    ]
    if not wanted:
        raise DataError(
            f"{path}: none of the run's telescopes {list(tel_ids)} of "
            f"type {', '.join(data.tel_types)}"
        )
    subarray = subarray.select_subarray(wanted)
    pointing = {}
    for tel_id in wanted:
        table = read_table(path, f"/configuration/telescope/pointing/tel_{tel_id:03d}")
        for row in table:
            key = (int(row["obs_id"]), tel_id)
            pointing.setdefault(
                key,
                (
                    clip_altitude(
                        u.Quantity(row["telescope_pointing_altitude"], u.rad).value
                    ),
                    float(u.Quantity(row["telescope_pointing_azimuth"], u.rad).value),
                ),
            )
    with tables.open_file(str(path), "r") as h5:
        primary = h5.get_node(SHOWER_TABLE).col("true_shower_primary_id")[:1]
    if len(primary) == 0 or not simulation:
        raise DataError(
            f"{path}: no simulated showers or no simulation "
            "configuration; expected a DL1 simulation file"
        )
    return Reference(
        path,
        subarray,
        simulation,
        observation,
        scheduling,
        pointing,
        int(np.asarray(primary)[0]),
    )
