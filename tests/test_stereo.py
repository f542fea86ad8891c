"""Stereo: one generated event holds every telescope of the run; stereo checks.

The run fixture trains the smoke config in stereo mode with two channels (charge
and peak time) for one epoch on the toy gammas (M1 + M2): about 20 s.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from smoke_configs import smoke_config

TEL_TYPE = "LST_MAGIC_MAGICCam"


@pytest.fixture(scope="module")
def stereo_run(tmp_path_factory, toy_pair) -> Path:
    """A finished 1-epoch stereo run (M1 + M2, image + peak_time, 16x16)."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("stereo")
    config = smoke_config(
        folder,
        toy_pair,
        **{
            "mode: mono  ": "mode: stereo",
            "channels: [image]  ": "channels: [image, peak_time]",
        },
    )
    return run(load_config(config), fresh=True)


def stereo_reader(path: Path, channels=("image", "peak_time"), cuts=()):
    from dl1_data_handler.reader import DLImageReader
    from traitlets.config import Config

    config = Config(
        {
            "DLImageReader": {
                "mode": "stereo",
                "allowed_tel_types": [TEL_TYPE],
                "channels": list(channels),
                "image_mapper_type": [["type", "*", "BilinearMapper"]],
            },
            "BilinearMapper": {"interpolation_image_shape": 16},
            "TableQualityQuery": {"quality_criteria": list(cuts)},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DLImageReader(input_url_signal=[str(path)], config=config)


def close(reader):
    for handle in reader.files.values():
        handle.close()


def with_presence_threshold(run_folder: Path, tmp_path: Path, threshold: float):
    """A copy of ``run_folder`` whose recorded presence threshold is ``threshold``."""
    folder = tmp_path / run_folder.name
    shutil.copytree(run_folder, folder)
    meta = json.loads((folder / "dataset.json").read_text())
    meta["presence"]["threshold"] = threshold
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def test_stereo_event_has_every_telescope_and_its_labels(stereo_run, tmp_path):
    from ctapipe.io import read_table

    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run

    channel, threshold = open_run(stereo_run).presence
    assert channel == 0 and threshold > 0  # recorded from the training charges
    every = with_presence_threshold(stereo_run, tmp_path, 0.0)  # all telescopes on
    run = open_run(every)
    assert run.image_shape == (2, 16, 16, 2) and run.tel_ids == (1, 2)
    output = tmp_path / "stereo.dl1.h5"
    stats = generate(GenerateRequest(every, output, n_events=10, seed=3, batch_size=4))
    assert stats.n_events == 10 and len(stats.truth) == 10
    reader = stereo_reader(output)
    try:
        rows = reader.example_identifiers
        assert reader._get_n_events() == 10
        assert reader.input_shape == {TEL_TYPE: (2, 16, 16, 2)}
        # Every event: both telescopes, one shower truth.
        for _, group in zip(range(10), rows.group_by("event_id").groups):
            assert sorted(np.asarray(group["tel_id"])) == [1, 2]
            assert len(set(np.asarray(group["true_energy"]))) == 1
        first = np.asarray(rows["tel_id"]) == 1
        order = np.argsort(np.asarray(rows["event_id"])[first])
        np.testing.assert_allclose(
            np.asarray(rows["log_true_energy"])[first][order],
            np.log10(stats.truth.energy_tev),
            atol=1e-6,
        )
        for column in ("cam_coord_offset_x", "cam_coord_offset_y"):
            np.testing.assert_allclose(
                np.asarray(rows[column])[first][order], stats.labels[column], atol=1e-4
            )
        batch = reader.generate_stereo_batch(np.arange(3))
        assert np.asarray(batch["features"]).shape == (6, 16, 16, 2)
        assert np.isfinite(np.asarray(batch["features"])).all()
    finally:
        close(reader)

    # Cores: drawn from the selected simulated showers, not (0, 0).
    pool = read_table(run.data.signal[0], "/simulation/event/subarray/shower")
    cores = set(zip(np.asarray(pool["true_core_x"]), np.asarray(pool["true_core_y"])))
    written = list(zip(stats.truth.core_x_m, stats.truth.core_y_m))
    assert all(core in cores for core in written)
    assert len(set(written)) > 1 and np.hypot(*np.transpose(written)).min() > 0

    # The peak-time channel is generated, inverse-normalised and written.
    for tel in (1, 2):
        table = read_table(output, f"/dl1/event/telescope/images/tel_{tel:03d}")
        peak = np.asarray(table["peak_time"])
        assert peak.shape == (10, 1039) and np.isfinite(peak).all()
        assert peak.std() > 1.0  # ns; zero without a time channel
        time = run.normalization.transforms[1]
        assert time.kind == "standard" and abs(np.median(peak) - time.a) < 3 * time.b


def test_stereo_event_holds_its_present_telescopes_only(toy_pair, tmp_path):
    """The writer keeps the present telescopes of each event; the reader fills the
    others with zeros, as it does for simulated events."""
    from ctapipe.io import read_table

    from ctgans.config import DataConfig
    from ctgans.generate.labels import sample_truth
    from ctgans.generate.reference import read_reference
    from ctgans.generate.writer import (
        EventBatch,
        GeneratedEventSource,
        write_generated,
    )

    path = toy_pair["gamma"]
    reference = read_reference(path, DataConfig(signal=(path,)), [1, 2])
    charges = np.asarray(
        read_table(path, "/dl1/event/telescope/images/tel_001")["image"]
    )
    image = np.stack([charges[:4], charges[4:8]], axis=1).astype(np.float32)
    present = np.array([[True, True], [True, False], [False, True], [True, True]])
    truth = sample_truth(
        4,
        reference,
        [1, 2],
        np.random.default_rng(0),
        (0.1, 10.0),
        -2.0,
        "diffuse",
        1.0,
        0,
    )
    source = GeneratedEventSource(
        reference, [EventBatch(truth, image, np.zeros_like(image), (1, 2), present)]
    )
    output = tmp_path / "present.dl1.h5"
    assert write_generated(source, output, seed=0) == 4
    for slot, tel in enumerate((1, 2)):
        table = read_table(output, f"/dl1/event/telescope/images/tel_{tel:03d}")
        assert (
            np.asarray(table["event_id"]).tolist()
            == np.flatnonzero(present[:, slot]).tolist()
        )
    reader = stereo_reader(output, channels=("image",))
    try:
        assert reader._get_n_events() == 4
        rows = reader.example_identifiers
        events = np.asarray(rows["event_id"])
        features = np.asarray(reader.generate_stereo_batch(np.arange(4))["features"])
        lit = np.abs(features[..., 0]).reshape(4, 2, -1).max(axis=2) > 0
        order = np.unique(events, return_index=True)[1]
        np.testing.assert_array_equal(lit, present[np.sort(events[order])])
    finally:
        close(reader)


@pytest.mark.slow
def test_stereo_labels_from_copy_one_event_per_shower(stereo_run, toy_pair, tmp_path):
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run

    run = open_run(stereo_run)
    source = stereo_reader(toy_pair["gamma"], ("image",), _cuts(run))
    try:
        selected = source.example_identifiers
        n_showers = source._get_n_events()
        keys = np.stack([selected["obs_id"], selected["event_id"]], axis=1)
        _, first = np.unique(keys, axis=0, return_index=True)
        energies = np.asarray(selected["true_energy"])[np.sort(first)]
        cores = np.asarray(selected["true_core_x"])[np.sort(first)]
    finally:
        close(source)
    assert n_showers < len(selected)  # some showers have two selected images
    output = tmp_path / "copy.dl1.h5"
    stats = generate(GenerateRequest(stereo_run, output, labels_from=toy_pair["gamma"]))
    assert stats.n_events == n_showers
    np.testing.assert_allclose(stats.truth.energy_tev, energies, rtol=1e-9)
    np.testing.assert_allclose(stats.truth.core_x_m, cores, rtol=1e-9)
    written = stereo_reader(output, ("image",))
    try:
        assert written._get_n_events() == n_showers
        # One to two images per event: its present telescopes (which ones is
        # checked in test_stereo_event_holds_its_present_telescopes_only).
        assert n_showers <= len(written.example_identifiers) <= 2 * n_showers
    finally:
        close(written)


def _cuts(run):
    return [(c.expression(), c.expression()) for c in run.data.cuts]


def test_run_folder_whose_shape_does_not_fit_its_mode_is_refused(stereo_run, tmp_path):
    import json
    import shutil

    from ctgans.exceptions import DataError
    from ctgans.generate.trained_run import open_run

    broken = tmp_path / "broken"
    shutil.copytree(stereo_run, broken)
    meta = json.loads((broken / "dataset.json").read_text())
    meta["tel_ids"] = [1]  # two telescope slots, one telescope
    (broken / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="image_shape"):
        open_run(broken)


@pytest.fixture(scope="module")
def toy_stereo(toy_pair):
    from ctgans.evaluate.stereo import read_stereo_events, stereo_features

    events, subarray, pointing = read_stereo_events(toy_pair["gamma"])
    return events, subarray, pointing, stereo_features(events, subarray, pointing)


def test_hillas_reconstructor_on_toy_stereo_gammas(toy_stereo):
    """Toy M1 + M2 gammas: axes intersect at the source to ~0.2 deg, and the
    nearer telescope sees more light."""
    from ctgans.evaluate.stereo import direction_summary, intensity_ratio_vs_impact

    events, _, _, features = toy_stereo
    assert events.tel_ids == (1, 2) and events.images.shape[1:] == (2, 1039)
    direction = direction_summary(features)
    assert direction["n_reconstructed"] >= 50
    assert 0.05 < direction["direction_68_deg"] < 0.4
    assert direction["direction_median_deg"] < direction["direction_68_deg"]
    trend = intensity_ratio_vs_impact(features)
    assert trend["n_events"] == direction["n_reconstructed"]
    assert trend["spearman"] < -0.2
    assert sum(trend["counts"]) <= trend["n_events"]


def test_stereo_checks_catch_telescopes_that_disagree(toy_stereo):
    """M2 images of other showers: each image is realistic, the pair is not."""
    from ctgans.evaluate.stereo import compare_stereo, stereo_features

    events, subarray, pointing, features = toy_stereo
    rng = np.random.default_rng(0)
    images = events.images.copy()
    images[:, 1] = images[rng.permutation(len(images)), 1]
    shuffled = stereo_features(replace(events, images=images), subarray, pointing)
    table = compare_stereo(features, shuffled)
    assert table["differences"]["direction_68_ratio"] > 3
    assert table["differences"]["spearman_difference"] > 0.15
    same = compare_stereo(features, features)["differences"]
    assert same["direction_68_ratio"] == 1.0
    assert same["spearman_difference"] == 0.0
    assert same["profile_max_abs_difference"] == 0.0


def test_events_from_labels_recovers_the_true_direction(toy_stereo):
    """The report holds labels, not truth: both direction labels map back."""
    from ctgans.evaluate.stereo import events_from_labels
    from ctgans.generate.coordinates import altaz_to_camera, altaz_to_nominal

    events, subarray, pointing, _ = toy_stereo
    alt, az = events.true_alt_rad[:20], events.true_az_rad[:20]
    x, y = altaz_to_camera(alt, az, subarray, 1, pointing)
    lon, lat = altaz_to_nominal(alt, az, subarray, pointing)
    for labels in (
        {"cam_coord_offset_x": x, "cam_coord_offset_y": y},
        {"fov_lon": lon, "fov_lat": lat},
    ):
        again = events_from_labels(
            events.images[:20], (1, 2), labels, subarray, pointing
        )
        np.testing.assert_allclose(again.true_alt_rad, alt, rtol=0, atol=1e-9)
        np.testing.assert_allclose(again.true_az_rad, az, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="direction label"):
        events_from_labels(events.images[:2], (1, 2), {}, subarray, pointing)


def test_sampled_cores_follow_the_energy_of_each_event():
    """Cores come from pool showers of similar energy, one row per shower."""
    from ctgans.generate.labels import Truth
    from ctgans.generate.stereo_truth import one_row_per_event, sample_cores

    def truth(energy, core_x):
        n = len(energy)
        return Truth(
            energy_tev=np.asarray(energy, float),
            alt_rad=np.full(n, 1.2),
            az_rad=np.zeros(n),
            core_x_m=np.asarray(core_x, float),
            core_y_m=np.zeros(n),
            h_first_int_m=np.full(n, np.nan),
            x_max_gcm2=np.full(n, np.nan),
            primary_id=np.zeros(n, np.int64),
            tel_id=np.ones(n, np.int64),
            obs_id=np.ones(n, np.int64),
        )

    energy = np.geomspace(0.05, 50, 400)
    pool = truth(energy, 100 * np.log10(energy))  # core grows with energy
    doubled = truth(np.repeat(energy, 2), np.repeat(pool.core_x_m, 2))
    assert len(one_row_per_event(doubled)) == 400
    requested = truth([0.1, 1.0, 10.0] * 20, np.zeros(60))
    cores = sample_cores(requested, pool, np.random.default_rng(1), window=10)
    expected = 100 * np.log10(requested.energy_tev)
    assert (
        np.abs(cores.core_x_m - expected).max() < 10 * 100 * np.log10(50 / 0.05) / 400
    )
    assert len(np.unique(cores.core_x_m)) > 3  # drawn, not the nearest only
    np.testing.assert_array_equal(cores.energy_tev, requested.energy_tev)


def test_brightest_telescope_takes_the_slot_with_most_charge():
    from ctgans.evaluate.stereo_report import brightest_telescope

    images = np.zeros((3, 2, 4, 4, 2), np.float32)
    images[0, 0, ..., 0] = 0.5
    images[1, 1, ..., 0] = 0.2
    images[2, 0, ..., 0], images[2, 1, ..., 0] = 0.1, -0.3  # |charge| counts
    images[..., 1] = 7.0  # peak time does not
    view = brightest_telescope(images, 0)
    assert view.shape == (3, 4, 4, 2)
    np.testing.assert_allclose(view[:, 0, 0, 0], [0.5, 0.2, -0.3], rtol=1e-6)


@pytest.fixture(scope="module")
def stereo_inputs(stereo_run):
    """Evaluation inputs of the smoke stereo run over all its events (training
    ones too: its validation split alone is too small to resolve anything)."""
    from ctgans.evaluate.inputs import load_inputs

    inputs = load_inputs(stereo_run, None, 0)
    return replace(inputs, rows=np.arange(len(inputs.dataset.images)))


def test_stereo_checks_score_simulation_at_its_floor_and_catch_mismatched_pairs(
    stereo_inputs,
):
    """Simulated events standing in for generated ones score their floor; events
    whose M2 image comes from another shower reconstruct wrong directions."""
    from ctgans.evaluate.report import halvings
    from ctgans.evaluate.stereo_report import stereo_section

    inputs = stereo_inputs
    splits = halvings(inputs.groups, 5, 0)
    same = stereo_section(inputs, inputs.images, splits)["metrics"]
    mismatched = inputs.images.copy()
    mismatched[:, 1] = np.roll(inputs.images[:, 1], 1, axis=0)
    other = stereo_section(inputs, mismatched, splits)["metrics"]
    for name, e in same.items():  # generated A is simulated A: value = floor
        assert e["value"] == pytest.approx(e["floor"]), name
        assert e["status"] != "fail", name
    # 174 smoke events (16x16 images) resolve the direction error, not the status:
    # the 68 % quantile of ~40 reconstructed events per half is too noisy.
    wrong = other["direction_68_deg"]
    assert wrong["generated"] > 2 * wrong["simulated"]
    assert wrong["value"] > wrong["floor"] + 3 * wrong["floor_std"]


def test_stereo_run_gets_the_full_report_with_stereo_rows(stereo_run):
    from ctgans.evaluate.report import ReportRequest, build_report
    from ctgans.evaluate.summary import markdown_summary

    report, data = build_report(
        ReportRequest(run_folder=stereo_run, n_events=None, seed=0, speed=False)
    )
    assert data.real.ndim == 4 and data.fake.shape == data.real.shape
    stereo = report["stereo"]
    assert stereo["tel_ids"] == [1, 2]
    assert set(stereo["metrics"]) == {
        "fraction_two_images",
        "fraction_reconstructed",
        "direction_68_deg",
        "intensity_ratio_spearman",
    }
    # The simulated fraction of events with two images, counted by hand.
    from ctgans.data.presence import present_slots

    channel, threshold = stereo["presence"]["channel"], stereo["presence"]["threshold"]
    present = present_slots(data.inputs.images, channel, threshold)
    two = stereo["metrics"]["fraction_two_images"]
    assert two["simulated"] == pytest.approx(np.mean(present.sum(axis=1) >= 2))
    for name in ("fraction_two_images", "fraction_reconstructed"):
        e = stereo["metrics"][name]
        assert e["n_resamples"] == 5 and 0.0 <= e["value"] <= 1.0, (name, e)
        assert 0.0 <= e["floor"] <= 1.0, (name, e)
    for population in report["populations"].values():
        judges = population["label_recovery"]
        assert "energy_resolution" in judges["ctlearn"]
        assert "energy_resolution" in judges["forest"]
    assert report["label_recovery"]["evaluation_predictor"]["n_train"] > len(
        data.real
    )  # one example per present telescope image of the training events
    assert "| stereo | fraction_two_images" in markdown_summary(report)
