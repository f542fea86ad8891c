"""What a fidelity report needs from a run folder: settings, held-out data, camera.

The simulated side of every comparison is the run's held-out validation split
(read from the run's cached dataset, rebuilt when the cache file is gone), or
reference files never used in training, read with the run's selection and
normalisation (:mod:`ctgans.data.reference`). Both
simulated and generated square images go back to camera pixels through the same
:class:`~ctgans.generate.inverse_mapping.InverseMapper`, so mapping artefacts are
common to both and cancel in the comparison.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctgans.config import Config
from ctgans.data.cache import CachedDataset, read_cache
from ctgans.data.normalize import CHARGE_CHANNELS
from ctgans.data.prepare import prepare_dataset
from ctgans.data.reference import prepare_reference, reference_config
from ctgans.exceptions import DataError
from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
from ctgans.generate.reference import Reference, read_reference
from ctgans.generate.trained_run import TrainedRun, open_run
from ctgans.runs.files import read_dataset

__all__ = ["EvaluationInputs", "load_inputs", "shower_groups"]

log = logging.getLogger(__name__)


@dataclass
class EvaluationInputs:
    """A run, its validation examples and the camera they map back to.

    Attributes
    ----------
    run : ctgans.generate.trained_run.TrainedRun
        The opened run folder.
    config : ctgans.config.Config
        The run's validated config (critic, predictor, seed, data).
    dataset : ctgans.data.cache.CachedDataset
        The run's cached dataset (training and validation split).
    rows : numpy.ndarray
        Indices into ``sample`` of the held-out examples evaluated (whole
        showers).
    geometry : ctapipe.instrument.CameraGeometry
        The camera of the run's telescopes.
    inverse : ctgans.generate.inverse_mapping.InverseMapper
        Square images -> camera pixels.
    charge_channel : int
        Index of the charge channel in the images.
    reference : ctgans.generate.reference.Reference
        Subarray and pointing of the run's first signal file.
    sample : ctgans.data.cache.CachedDataset
        Where the held-out examples come from: ``dataset`` (its validation
        split) or the ``--reference`` files (all held out).
    sample_name : str
        ``"validation split"`` or ``"reference files"``.
    """

    run: TrainedRun
    config: Config
    dataset: CachedDataset
    rows: np.ndarray
    geometry: object
    inverse: InverseMapper
    charge_channel: int
    reference: Reference
    sample: CachedDataset
    sample_name: str = "validation split"

    @property
    def images(self) -> np.ndarray:
        """Simulated held-out images (network units), ``(n, [T,] H, W, C)``."""
        return self.sample.images[self.rows]

    @property
    def labels(self) -> np.ndarray:
        """Standardised labels of the evaluated examples."""
        return self.sample.labels[self.rows]

    @property
    def physical_labels(self) -> dict[str, np.ndarray]:
        """Labels of the evaluated examples in physical units."""
        return {k: v[self.rows] for k, v in self.sample.physical_labels.items()}

    @property
    def groups(self) -> np.ndarray:
        """Shower index of every evaluated example (shared by its telescopes)."""
        return shower_groups(self.sample.events[self.rows])

    def camera_charges(self, square: np.ndarray) -> np.ndarray:
        """Square images in network units -> camera charges in p.e.

        ``(n, H, W, C)`` -> ``(n, n_pix)``; stereo ``(n, T, H, W, C)`` ->
        ``(n, T, n_pix)``.
        """
        physical = self.dataset.normalization.inverse(square)
        flat = physical.reshape(-1, *physical.shape[-3:])
        charges = self.inverse(flat)[..., self.charge_channel]
        return charges.reshape(*physical.shape[:-3], charges.shape[-1])

    def square_charges(self, charges: np.ndarray) -> np.ndarray:
        """Camera charges ``(n, n_pix)`` in p.e. -> square images ``(n, H, W, 1)``,
        mapped as the training images were."""
        return self.inverse.mapper.map_image(charges[..., np.newaxis])


def shower_groups(events: np.ndarray) -> np.ndarray:
    """One integer per row, equal for rows of the same shower (file, obs, event)."""
    keys = np.stack([events[c] for c in ("file_index", "obs_id", "event_id")], axis=1)
    return np.unique(keys, axis=0, return_inverse=True)[1].ravel()


def load_inputs(
    folder: Path,
    n_events: int | None,
    seed: int,
    reference_files: tuple[Path, ...] = (),
) -> EvaluationInputs:
    """Open ``folder`` and choose the held-out examples to evaluate.

    Parameters
    ----------
    folder : pathlib.Path
        A finished run folder.
    n_events : int or None
        Evaluate at most this many held-out images (whole showers, chosen with
        ``seed``); None: all of them.
    seed : int
        Seed of the choice.
    reference_files : tuple of pathlib.Path
        Simulated DL1 files never used in training, evaluated instead of the
        validation split (checked by
        :func:`~ctgans.data.reference.check_reference_files` beforehand).

    Raises
    ------
    DataError
        On a missing or unfinished run folder, a dataset that no longer
        matches the run's normalisation, or reference files without events.
    """
    run = open_run(folder)
    dataset = _dataset(run, folder)
    if reference_files:
        sample = prepare_reference(
            reference_config(run.data, reference_files),
            run.normalization,
            run.label_scaler,
            dataset.tel_ids,
        )
        where = f"--reference {', '.join(map(str, reference_files))}"
    else:
        sample, where = dataset, f"run folder {folder}"
    held_out = np.flatnonzero(sample.is_validation)
    if len(held_out) < 20:
        raise DataError(
            f"{where}: {len(held_out)} held-out images; expected at least 20"
            + ("" if reference_files else " (raise data.validation_fraction)")
        )
    rows = _choose(held_out, shower_groups(sample.events[held_out]), n_events, seed)
    reference = read_reference(run.data.signal[0], run.data, run.tel_ids)
    geometry = reference.subarray.tel[run.tel_ids[0]].camera.geometry
    mapper = build_mapper(geometry, run.data.mapper, run.data.image_shape)
    charge = next(
        (i for i, c in enumerate(run.data.channels) if c in CHARGE_CHANNELS), None
    )
    if charge is None:
        raise DataError(
            f"run folder {folder}: channels {list(run.data.channels)} hold no "
            f"charge; expected one of {CHARGE_CHANNELS}"
        )
    return EvaluationInputs(
        run,
        run.config,
        dataset,
        rows,
        geometry,
        InverseMapper(mapper, geometry),
        charge,
        reference,
        sample,
        "reference files" if reference_files else "validation split",
    )


def _dataset(run: TrainedRun, folder: Path) -> CachedDataset:
    """The run's cached dataset; rebuilt from its data settings if the file is gone."""
    cache = read_dataset(folder).cache
    if cache.is_file():
        log.info("validation data from %s", cache)
        dataset = read_cache(cache)
    else:
        log.info("cache %s is gone: rebuilding the run's dataset", cache)
        dataset = prepare_dataset(run.data, run.config.seed)
    if (
        dataset.normalization != run.normalization
        or dataset.label_scaler != run.label_scaler
    ):
        raise DataError(
            f"run folder {folder}: the dataset {dataset.path} has another "
            "normalisation than dataset.json; the training data changed since "
            "the run"
        )
    return dataset


def _choose(rows: np.ndarray, groups: np.ndarray, n_events, seed: int) -> np.ndarray:
    """All rows, or whole showers in a seeded random order up to ``n_events`` rows."""
    if n_events is None or n_events >= len(rows):
        return rows
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE7A]))
    order = rng.permutation(groups.max() + 1)
    sizes = np.bincount(groups)[order]
    keep = order[np.cumsum(sizes) <= n_events]
    return rows[np.isin(groups, keep)]
