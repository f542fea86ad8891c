"""The impact distance label: geometry, reading, predictor tasks, generation."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from smoke_configs import smoke_config


def _showers(rng, n):
    alt = np.deg2rad(rng.uniform(55.0, 89.0, n))
    az = np.deg2rad(rng.uniform(0.0, 360.0, n))
    return alt, az


def test_impact_distance_is_ctapipes_shower_impact_distance():
    from ctapipe.containers import SimulatedShowerContainer
    from ctapipe.coordinates.impact_distance import shower_impact_distance

    from ctgans.impact import impact_distance, telescope_positions
    from ctgans.simulate.instrument import magic_subarray

    subarray = magic_subarray()
    rng = np.random.default_rng(3)
    alt, az = _showers(rng, 20)
    core = rng.uniform(-300.0, 300.0, (20, 2))
    for tel_index, tel_id in enumerate(subarray.tel_ids):
        ours = impact_distance(
            core[:, 0],
            core[:, 1],
            alt,
            az,
            telescope_positions(subarray, np.full(20, tel_id)),
        )
        for i in range(20):
            shower = SimulatedShowerContainer(
                core_x=core[i, 0] * u.m,
                core_y=core[i, 1] * u.m,
                alt=alt[i] * u.rad,
                az=az[i] * u.rad,
            )
            theirs = shower_impact_distance(shower, subarray).to_value(u.m)
            assert ours[i] == pytest.approx(theirs[tel_index], abs=1e-6)


def test_core_at_impact_is_the_inverse_of_impact_distance():
    from ctgans.impact import core_at_impact, impact_distance

    rng = np.random.default_rng(4)
    alt, az = _showers(rng, 200)
    positions = np.column_stack(
        [rng.uniform(-50, 50, 200), rng.uniform(-50, 50, 200), np.zeros(200)]
    )
    impact = rng.uniform(0.0, 300.0, 200)
    core_x, core_y = core_at_impact(impact, alt, az, positions, rng)
    np.testing.assert_allclose(
        impact_distance(core_x, core_y, alt, az, positions), impact, atol=1e-6
    )
    # the direction around the axis is drawn, not fixed
    angle = np.arctan2(core_y - positions[:, 1], core_x - positions[:, 0])
    assert np.std(angle) > 1.0


def test_read_impact_is_the_toy_simulators_own(tmp_path, toy_pair):
    """The label read back equals the distance the toy simulator drew the image
    with (its own frames: a sign error in y or the axis would show)."""
    from ctgans.config import load_config
    from ctgans.data.reader import read_examples
    from ctgans.generate.labels import truth_from_file
    from ctgans.simulate.settings import SimulationSettings
    from ctgans.simulate.showers import ShowerTruth, shower_geometry

    cfg = load_config(
        smoke_config(
            tmp_path,
            toy_pair,
            **{
                "labels: [energy, cameradirection]": (
                    "labels: [energy, cameradirection, impact]"
                )
            },
        )
    )
    examples = read_examples(cfg.data)
    impact = examples.labels["true_impact_distance"]
    assert impact.shape == (len(examples.images),) and np.all(impact >= 0)
    truth = truth_from_file(cfg.data, toy_pair["gamma"], None)
    shower = ShowerTruth(
        energy_tev=truth.energy_tev,
        alt_rad=truth.alt_rad,
        az_rad=truth.az_rad,
        core_x_m=truth.core_x_m,
        core_y_m=truth.core_y_m,
        h_first_int_m=truth.h_first_int_m,
        x_max_gcm2=truth.x_max_gcm2,
    )
    geometry = shower_geometry(SimulationSettings(particle="gamma"), shower)
    column = np.searchsorted(geometry.tel_ids, truth.tel_id)
    toy = geometry.impact_m[np.arange(len(truth)), column]
    np.testing.assert_allclose(impact, toy, rtol=1e-4, atol=0.01)


def test_impact_is_no_predictor_task_and_keeps_the_predictor_key(tmp_path, toy_pair):
    from ctgans.config import load_config
    from ctgans.models.predictor import label_slices
    from ctgans.predictor.store import predictor_key

    columns = ("log_true_energy", "true_impact_distance", "cam_coord_offset_x")
    columns += ("cam_coord_offset_y",)
    assert label_slices(columns) == {
        "energy": slice(0, 1),
        "cameradirection": slice(2, 4),
    }
    for name in "ab":
        (tmp_path / name).mkdir()
    plain = load_config(smoke_config(tmp_path / "a", toy_pair))
    impact = load_config(
        smoke_config(
            tmp_path / "b",
            toy_pair,
            **{
                "labels: [energy, cameradirection]": (
                    "labels: [energy, cameradirection, impact]"
                )
            },
        )
    )
    assert impact.loss.label_weights == plain.loss.label_weights
    # same data, same tasks: the predictor of the run without impact is reused
    assert predictor_key(impact) == predictor_key(plain)


@pytest.fixture(scope="module")
def impact_run(tmp_path_factory, toy_pair):
    """A finished 1-epoch run on the toy gammas conditioned on the impact distance."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("impactrun")
    config = smoke_config(
        folder,
        toy_pair,
        **{"labels: [energy, cameradirection]": IMPACT_LABELS},
    )
    return run(load_config(config), fresh=True)


IMPACT_LABELS = "labels: [energy, cameradirection, impact]"


def _read_back_impact(path, run_folder):
    """Impact distances dl1-data-handler's rows of ``path`` give, in event order."""
    from dataclasses import replace

    from ctgans.data.reader import label_values, open_reader
    from ctgans.generate.trained_run import open_run

    data = open_run(run_folder).data
    reader = open_reader(replace(data, signal=(path,), cuts=()))
    try:
        rows = reader.example_identifiers
        order = np.argsort(np.asarray(rows["event_id"]))
        values = label_values(rows, ("true_impact_distance",), reader.subarray)
        return values["true_impact_distance"][order]
    finally:
        for handle in reader.files.values():
            handle.close()


def test_sampled_events_are_written_at_the_impact_they_were_generated_for(
    impact_run, toy_pair, tmp_path
):
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.labels import truth_from_file
    from ctgans.generate.trained_run import open_run

    output = tmp_path / "sampled.dl1.h5"
    stats = generate(
        GenerateRequest(
            impact_run,
            output,
            n_events=300,
            energy_min=0.05,
            energy_max=5.0,
            spectral_index=-2.0,
            seed=2,
        )
    )
    given = stats.labels["true_impact_distance"]
    np.testing.assert_allclose(
        _read_back_impact(output, impact_run), given, rtol=1e-6, atol=1e-3
    )
    # drawn from selected simulated images of similar energy, not from (0, 0)
    pool = truth_from_file(open_run(impact_run).data, toy_pair["gamma"], None)
    from ctgans.impact import impact_distance, telescope_positions
    from ctgans.simulate.instrument import magic_subarray

    simulated = impact_distance(
        pool.core_x_m,
        pool.core_y_m,
        pool.alt_rad,
        pool.az_rad,
        telescope_positions(magic_subarray(), pool.tel_id),
    )
    assert given.min() >= simulated.min() - 1e-6
    assert given.max() <= simulated.max() + 1e-6
    assert np.std(given) > 0.5 * np.std(simulated)
    high = stats.truth.energy_tev > np.median(stats.truth.energy_tev)
    assert np.median(given[high]) > np.median(given[~high])  # grows with energy


def test_copied_truth_keeps_its_impact(impact_run, toy_pair, tmp_path):
    from ctgans.generate import GenerateRequest, generate

    output = tmp_path / "copied.dl1.h5"
    stats = generate(
        GenerateRequest(impact_run, output, n_events=20, labels_from=toy_pair["gamma"])
    )
    np.testing.assert_allclose(
        _read_back_impact(output, impact_run),
        stats.labels["true_impact_distance"],
        rtol=1e-6,
        atol=1e-3,
    )
    source = _read_back_impact(toy_pair["gamma"], impact_run)
    assert not np.allclose(stats.labels["true_impact_distance"], 0.0)
    assert np.all(
        np.isin(np.round(stats.labels["true_impact_distance"], 3), np.round(source, 3))
    )
