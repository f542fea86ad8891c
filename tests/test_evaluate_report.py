"""The fidelity report: sections with floors, sanity checks, the command line.

Fast: bad input, and the distribution metrics on toy images (simulation standing in
for the generator passes, three times the charge fails). Slow (they train a smoke
run and its evaluation predictor): the report folder written by the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from smoke_configs import smoke_config

STATUSES = {"pass", "fail", "unresolved", "info"}
#: Label-recovery figures of the smoke run (energy + camera direction).
LABEL_FIGURES = {"energy_resolution", "energy_bias", "cameradirection_68_m"}
DISTRIBUTION_TARGETS = (
    ("cleaning_survival",),
    ("separation_power", "median"),
    ("separation_power", "worst"),
    ("intensity_calibration", "median_log10_difference"),
    ("intensity_calibration", "width_ratio"),
    ("kpd",),
    ("two_sample_classifier", "low_level"),
    ("two_sample_classifier", "high_level"),
    ("diversity", "worst"),
    ("diversity_fixed_label", "worst"),  # nearest neighbours without --fixed-labels
    ("image_orientation", "pooled"),
    ("image_orientation", "worst_bin"),
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, toy_pair) -> Path:
    """A finished 1-epoch smoke run (16x16, energy + cameradirection)."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("evalrun")
    return run(load_config(smoke_config(folder, toy_pair)), fresh=True)


@pytest.fixture(scope="module")
def report_dir(smoke_run, tmp_path_factory) -> Path:
    """The report folder written by the command line (in process), without speed."""
    from ctgans.evaluate.__main__ import main

    output = tmp_path_factory.mktemp("reports") / "smoke"
    assert main([str(smoke_run), "--output", str(output), "--no-speed"]) == 0
    return output


def _get(node: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        node = node[key]
    return node


def _check_entry(entry: dict, where: str) -> None:
    assert entry["status"] in STATUSES, where
    for key in ("value", "value_std", "floor", "floor_std", "target", "n_resamples"):
        assert key in entry, f"{where}: no {key}"
    if entry["status"] != "info":
        assert entry["target"], where
        assert entry["n_resamples"] >= 5 or entry["value"] is None, where


@pytest.mark.slow
def test_report_has_every_section_with_floors(report_dir, smoke_run):
    report = json.loads((report_dir / "report.json").read_text())
    sizes = report["sample_sizes"]
    assert sizes["validation_images"] >= 20
    assert sizes["half_A_images_mean"] + sizes["half_B_images_mean"] == pytest.approx(
        sizes["validation_images"]
    )
    assert report["n_resamples"] == 5
    recovery = report["label_recovery"]
    # Both judges, per population, pooled and in the worst energy bin.
    by_judge = report["populations"]["all"]["label_recovery"]
    assert set(by_judge) == {"ctlearn", "forest"}
    for judge, figures in by_judge.items():
        assert set(figures) == set(LABEL_FIGURES), judge
        for name, entries in figures.items():
            for kind in ("pooled", "worst_bin"):
                _check_entry(entries[kind], f"{judge}.{name}.{kind}")
        assert figures["energy_bias"]["worst_bin"]["min_events_per_bin"] == 50
    assert recovery["forest"]["n_train_images"]["all"] > 0
    n_bins = len(recovery["energy_edges_log10_tev"]) - 1
    assert np.diff(recovery["energy_edges_log10_tev"]) == pytest.approx(0.2)
    assert len(recovery["simulated"]["per_bin"]["energy_bias"]) == n_bins
    # The independent predictor is cached apart from the training predictor.
    key = recovery["evaluation_predictor"]["key"]
    predictors = smoke_run.parent.parent / "pred"
    assert (predictors / f"eval-{key}" / "predictor.keras").is_file()
    assert len(list(predictors.glob("*/predictor.keras"))) == 2

    assert list(report["populations"]) == ["all"]
    population = report["populations"]["all"]
    for path in DISTRIBUTION_TARGETS:
        entry = _get(population, path)
        _check_entry(entry, ".".join(path))
        assert entry["status"] != "info", path
        if entry["floor"] is None:  # per-energy-bin metrics need 20 images a bin
            assert "per_bin" in entry and entry["status"] == "unresolved", path
    # The 1-epoch smoke generator makes no image that survives cleaning: every
    # row that needs a cleaned image has no value and fails; the simulated floor
    # survives like simulation does, and pixels tell the two apart at once.
    survival = population["cleaning_survival"]
    assert survival["value"] == 0.0 and survival["status"] == "fail", survival
    assert survival["floor"] == pytest.approx(1.0, abs=0.2) and survival["floor_pass"]
    no_showers = [
        ("separation_power", "median"),
        ("separation_power", "worst"),
        ("kpd",),
        ("image_orientation", "pooled"),
    ] + [("label_recovery", "forest", f, "pooled") for f in LABEL_FIGURES]
    for path in no_showers:
        entry = _get(population, path)
        assert entry["value"] is None and entry["status"] == "fail", (path, entry)
        assert entry["floor"] is not None, path
    low = population["two_sample_classifier"]["low_level"]
    assert low["value"] > 0.9 and low["floor"] < 0.7, low
    assert report["summary"]["fail"] >= 1 + len(no_showers), report["summary"]
    assert report["summary"]["pass"] == 0, report["summary"]
    assert set(population["separation_power"]["per_feature"]) >= {
        "hillas_intensity",
        "hillas_width",
        "morphology_n_islands",
    }
    critic = report["critic_wasserstein"]
    _check_entry(critic, "critic")
    assert critic["checkpoint_epoch"] == 1
    assert "mean D(simulated) - mean D(generated)" in critic["sign"]
    counts = report["summary"]
    n_recovery = 2 * len(LABEL_FIGURES) * 2  # judges x figures x pooled/worst
    assert sum(counts.values()) == n_recovery + len(DISTRIBUTION_TARGETS) + 1

    summary = (report_dir / "summary.md").read_text()
    assert summary.count("\n| ") == 1 + n_recovery + len(DISTRIBUTION_TARGETS) + 1
    for name in ("feature_histograms.png", "label_recovery.png", "samples.png"):
        assert (report_dir / name).stat().st_size > 1000, name


@pytest.mark.slow
def test_nearest_simulated_generator_runs_through_the_report(smoke_run):
    """Simulated training images standing in for the generator: the stick must
    not fail real simulation, on any row (FIDELITY.md, protocol)."""
    import json as _json

    from ctgans.evaluate.report import build_report
    from ctgans.evaluate.request import ReportRequest

    report, data = build_report(
        ReportRequest(smoke_run, generator="nearest-simulated", speed=False)
    )
    population = report["populations"]["all"]
    assert population["cleaning_survival"]["status"] == "pass"
    statuses = {
        ".".join(path): _get(population, path)["status"]
        for path in DISTRIBUTION_TARGETS
    }
    for judge, figures in population["label_recovery"].items():
        for name, entries in figures.items():
            for kind in ("pooled", "worst_bin"):
                statuses[f"{judge}.{name}.{kind}"] = entries[kind]["status"]
    print(_json.dumps(statuses, indent=1))
    assert "info" not in [statuses[".".join(p)] for p in DISTRIBUTION_TARGETS]
    assert "fail" not in statuses.values(), statuses
    assert report["summary"].get("fail", 0) == 0, report["summary"]
    train = data.inputs.dataset.images[~data.inputs.dataset.is_validation]
    assert all(any(np.array_equal(f, t) for t in train) for f in data.fake[:3])


@pytest.fixture(scope="module")
def toy_images(tmp_path_factory):
    """Charges, features, log10 energies, showers and true source positions
    (metres, in the geometry's frame) of ~1000 toy gamma images."""
    import tables
    from ctapipe.instrument import SubarrayDescription

    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import log_intensity_table
    from ctgans.evaluate.orientation import source_in_geometry_frame
    from ctgans.generate.coordinates import altaz_to_camera
    from ctgans.simulate import SimulationSettings, simulate

    path = tmp_path_factory.mktemp("toyeval") / "gamma.dl1.h5"
    simulate(SimulationSettings(particle="gamma", n_events=3000, seed=31), path)
    subarray = SubarrayDescription.from_hdf(path)
    geometry = subarray.tel[1].camera.geometry
    pixels, event_ids, log_energy, source = [], [], [], []
    with tables.open_file(str(path)) as h5:
        showers = h5.root.simulation.event.subarray.shower.read()
        order = np.argsort(showers["event_id"])
        for tel_id in (1, 2):
            tel = f"tel_{tel_id:03d}"
            images = h5.get_node(f"/dl1/event/telescope/images/{tel}").read()
            pointing = h5.get_node(f"/configuration/telescope/pointing/{tel}")[0]
            ids = images["event_id"]
            where = order[np.searchsorted(showers["event_id"][order], ids)]
            pixels.append(images["image"].astype(np.float64))
            log_energy.append(np.log10(showers["true_energy"][where]))
            event_ids.append(ids)
            # The cam_coord_offset labels as dl1-data-handler computes them.
            label = altaz_to_camera(
                np.deg2rad(showers["true_alt"][where]),
                np.deg2rad(showers["true_az"][where]),
                subarray,
                tel_id,
                (
                    pointing["telescope_pointing_altitude"],
                    pointing["telescope_pointing_azimuth"],
                ),
            )
            source.append(np.stack(source_in_geometry_frame(*label, geometry), 1))
    pixels, log_energy = np.concatenate(pixels), np.concatenate(log_energy)
    event_ids, source = np.concatenate(event_ids), np.concatenate(source)
    features = log_intensity_table(image_features(pixels, geometry))
    keep = np.isfinite(features["hillas_intensity"])
    return {
        "pixels": pixels[keep],
        "features": {k: v[keep] for k, v in features.items()},
        "log_energy": log_energy[keep],
        "groups": np.unique(event_ids, return_inverse=True)[1][keep],
        "source": source[keep],
        "geometry": geometry,
        "focal_length_m": subarray.tel[1].optics.effective_focal_length.to_value("m"),
    }


def test_hillas_axes_of_simulated_gammas_point_to_the_source(toy_images):
    """The frame check: with the labels rotated into the geometry's frame, the
    simulated axes miss the source by little; a random axis by far more."""
    from ctgans.evaluate.orientation import (
        containment_68,
        miss_distance,
        random_axis_miss,
    )

    f, source = toy_images["features"], toy_images["source"].T
    miss = containment_68(
        miss_distance(f["hillas_x"], f["hillas_y"], f["hillas_psi"], *source)
    )
    rng = np.random.default_rng(0)
    random = containment_68(
        random_axis_miss(f["hillas_x"], f["hillas_y"], *source, rng)
    )
    assert miss < 0.04, miss
    assert random > 4 * miss, (miss, random)


def test_simulation_standing_in_for_the_generator_does_not_fail(toy_images):
    """Sim vs sim: images of other showers with about the same energy as
    'generated'."""
    from ctgans.evaluate.compare import compare_population
    from ctgans.evaluate.report import halvings

    t = toy_images
    rng = np.random.default_rng(3)
    showers = np.unique(t["groups"])
    is_sim = np.isin(t["groups"], rng.permutation(showers)[: len(showers) // 2])
    sim, other = np.flatnonzero(is_sim), np.flatnonzero(~is_sim)
    # Quantile matching in energy: distinct images, each with about the energy
    # asked for (repeated images would let the classifiers memorise them).
    sim = sim[np.argsort(t["log_energy"][sim])]
    if len(other) < len(sim):
        sim, other = other, sim
    other = other[np.argsort(t["log_energy"][other])]
    gen = other[np.round(np.linspace(0, len(other) - 1, len(sim))).astype(int)]
    log_energy = t["log_energy"][sim]
    labels = ((log_energy - log_energy.mean()) / log_energy.std())[:, None]
    result = compare_population(
        {k: v[sim] for k, v in t["features"].items()},
        {k: v[gen] for k, v in t["features"].items()},
        t["pixels"][sim],
        t["pixels"][gen],
        labels,
        log_energy,
        halvings(t["groups"][sim], 5, seed=0),
        0,
        source=tuple(t["source"][sim].T),
        gen_source=tuple(t["source"][gen].T),
        focal_length_m=t["focal_length_m"],
    )
    assert result["sample_sizes"]["n_generated_A"] > 200
    # The fixed-label diversity row is added by the report (report.py), not here.
    statuses = {
        p: _get(result, p)["status"]
        for p in DISTRIBUTION_TARGETS
        if p[0] != "diversity_fixed_label"
    }
    assert "fail" not in statuses.values(), statuses
    for path in (
        ("cleaning_survival",),
        ("kpd",),
        ("two_sample_classifier", "low_level"),
        ("two_sample_classifier", "high_level"),
    ):
        assert statuses[path] == "pass", (path, _get(result, path))
    pooled = result["image_orientation"]["pooled"]
    # 0.02 m at 17 m focal length: 0.07 degrees.
    assert pooled["simulated_deg"] == pytest.approx(
        np.rad2deg(pooled["simulated_m"] / t["focal_length_m"]), rel=1e-3
    )


def test_three_times_the_charge_fails(toy_images):
    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import compare_population, log_intensity_table
    from ctgans.evaluate.report import halvings

    t = toy_images
    rows = np.flatnonzero(t["groups"] % 2 == 0)  # half of the showers suffice
    pixels, log_energy = t["pixels"][rows], t["log_energy"][rows]
    labels = ((log_energy - log_energy.mean()) / log_energy.std())[:, None]
    bright = 3 * pixels
    gen = log_intensity_table(image_features(bright, t["geometry"]))
    sim = {k: v[rows] for k, v in t["features"].items()}
    splits = halvings(t["groups"][rows], 5, seed=0)
    wrong = compare_population(sim, gen, pixels, bright, labels, log_energy, splits, 0)
    for path in (
        ("intensity_calibration", "median_log10_difference"),
        ("separation_power", "worst"),
        ("two_sample_classifier", "low_level"),
        ("two_sample_classifier", "high_level"),
    ):
        assert _get(wrong, path)["status"] == "fail", (path, _get(wrong, path))
    # Unclipped, KPD varies over orders of magnitude between halvings, but it is
    # judged against the floor's spread: a fail.
    kpd = wrong["kpd"]
    assert kpd["status"] == "fail", kpd
    assert kpd["value"] > 1e3 * (abs(kpd["floor"]) + kpd["floor_std"])
    dex = wrong["intensity_calibration"]["median_log10_difference"]["value"]
    assert dex > 0.3  # log10(3) = 0.48 dex, less what cleaning adds at 3x


def _half(t):
    """Half of the toy showers: rows, labels and halvings."""
    from ctgans.evaluate.report import halvings

    rows = np.flatnonzero(t["groups"] % 2 == 0)
    log_energy = t["log_energy"][rows]
    labels = ((log_energy - log_energy.mean()) / log_energy.std())[:, None]
    return rows, log_energy, labels, halvings(t["groups"][rows], 5, seed=0)


def test_thirty_percent_more_charge_fails_the_intensity_row(toy_images):
    """log10(1.3) = 0.114 dex in every energy bin. With ~1500 toy images the
    worst-bin floor is itself ~0.1 dex, so the status can only be 'not pass'
    (fail needs a larger sample); every bin shows the offset."""
    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import compare_population, log_intensity_table
    from ctgans.evaluate.report import halvings

    t = toy_images
    rows = np.arange(len(t["log_energy"]))
    log_energy = t["log_energy"]
    labels = ((log_energy - log_energy.mean()) / log_energy.std())[:, None]
    splits = halvings(t["groups"], 5, seed=0)
    pixels = t["pixels"]
    bright = 1.3 * pixels
    gen = log_intensity_table(image_features(bright, t["geometry"]))
    sim = {k: v[rows] for k, v in t["features"].items()}
    result = compare_population(sim, gen, pixels, bright, labels, log_energy, splits, 0)
    dex = result["intensity_calibration"]["median_log10_difference"]
    assert dex["status"] in ("fail", "unresolved"), dex
    assert dex["value"] == pytest.approx(np.log10(1.3), abs=0.06)
    values = np.array(dex["per_bin"]["value"], float)
    floors = np.array(dex["per_bin"]["floor"], float)
    measured = np.isfinite(values) & np.isfinite(floors)
    assert np.all(values[measured] > 0.07), values
    assert np.median(floors[measured]) < 0.05, floors


def _rotated_about_centroid(pixels, features, geometry, degrees: float):
    """Each image turned by ``degrees`` about its Hillas centroid (nearest pixel)."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([geometry.pix_x.to_value("m"), geometry.pix_y.to_value("m")])
    tree = cKDTree(xy)
    spacing = np.median(tree.query(xy, k=2)[0][:, 1])
    angle = np.deg2rad(-degrees)  # where each pixel's value comes from
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = np.zeros_like(pixels)
    for i, image in enumerate(pixels):
        centre = np.array([features["hillas_x"][i], features["hillas_y"][i]])
        distance, index = tree.query((xy - centre) @ turn.T + centre)
        out[i] = np.where(distance < spacing, image[index], 0.0)
    return out


def test_images_turned_by_90_degrees_fail_the_orientation_row(toy_images):
    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import compare_population, log_intensity_table

    t = toy_images
    rows, log_energy, labels, splits = _half(t)
    pixels = t["pixels"][rows]
    sim = {k: v[rows] for k, v in t["features"].items()}
    turned = _rotated_about_centroid(pixels, sim, t["geometry"], 90.0)
    gen = log_intensity_table(image_features(turned, t["geometry"]))
    # The rotation keeps the blob: only the axis moves by 90 degrees.
    alive = np.isfinite(gen["hillas_psi"])
    assert alive.mean() > 0.9
    shift = np.hypot(*(gen[k][alive] - sim[k][alive] for k in ("hillas_x", "hillas_y")))
    assert np.median(shift) < 0.01
    result = compare_population(
        sim,
        gen,
        pixels,
        turned,
        labels,
        log_energy,
        splits,
        0,
        source=tuple(t["source"][rows].T),
        focal_length_m=t["focal_length_m"],
    )
    orientation = result["image_orientation"]
    assert orientation["pooled"]["status"] == "fail", orientation["pooled"]
    assert orientation["worst_bin"]["status"] == "fail", orientation["worst_bin"]
    pooled = orientation["pooled"]
    assert pooled["generated_m"] > 3 * pooled["simulated_m"]
    # Protons: reported without a target.
    protons = compare_population(
        sim,
        gen,
        pixels,
        turned,
        labels,
        log_energy,
        splits,
        0,
        source=tuple(t["source"][rows].T),
        orientation_target=False,
    )["image_orientation"]
    assert protons["pooled"]["status"] == protons["worst_bin"]["status"] == "info"


def test_generated_outliers_raise_kpd_unclipped_and_fail_it(toy_images):
    """3 % of the 'generated' images (simulation of other showers) with a
    tenfold length: JetNet's KPD, without clipping to the simulated range, sees
    them, and the status, judged against the floor's spread, fails them."""
    from ctgans.evaluate.compare import KPD_FEATURES, _kpd

    t = toy_images
    rows, _, _, splits = _half(t)
    other = np.flatnonzero(t["groups"] % 2 == 1)
    n = min(len(rows), len(other))
    splits = [(a[a < n], b[b < n]) for a, b in splits]
    sim = {k: v[rows[:n]] for k, v in t["features"].items()}
    gen = {k: v[other[:n]] for k, v in t["features"].items()}
    wild = dict(gen)
    wild["hillas_length"] = gen["hillas_length"].copy()
    wild["hillas_length"][::33] *= 10
    assert "hillas_length" in KPD_FEATURES
    clean, outliers = _kpd(sim, gen, splits, 0), _kpd(sim, wild, splits, 0)
    assert clean["status"] == "pass", clean
    assert outliers["status"] == "fail", outliers
    # Clipped to the simulated 0.5-99.5 % range they would add ~0.3 to ~2.
    assert outliers["value"] > 20 * (abs(clean["value"]) + clean["value_std"])
    assert outliers["value"] > 10 * outliers["floor_spread"]


def test_kpd_status_uses_the_floor_spread_not_its_own():
    """The default run's KPD (2.8e7 +- 1.3e7 over halvings, batch spreads as
    large): once unresolved, because the value's own spread hid it; against
    simulation's spread (~1e-3) it fails. A value within 2 floor spreads
    passes, and one a little beyond, within the floor's noise, is unresolved."""
    from ctgans.evaluate.targets import METRICS, entry

    target = METRICS["kpd"].target
    floors = [1e-4, -2e-4, 3e-4, 0.0, 1e-4]
    floor_spreads = [1e-3] * 5
    wild = entry(
        [1.5e7, 4.5e7, 2.0e7, 3.5e7, 2.5e7],
        floors,
        target,
        spreads=[1.3e7] * 5,
        floor_spreads=floor_spreads,
    )
    assert wild["value"] == pytest.approx(2.8e7)
    assert wild["status"] == "fail" and wild["floor_spread"] == pytest.approx(1e-3)
    near = entry(
        [1e-3, 2e-3, 1.5e-3, 1.2e-3, 1.8e-3],
        floors,
        target,
        spreads=[5.0] * 5,
        floor_spreads=floor_spreads,
    )
    assert near["status"] == "pass", near  # 1.5e-3 <= 2 x 1e-3
    beyond = entry([3e-3] * 5, floors, target, floor_spreads=floor_spreads)
    # Noise: 3 sigma of a difference of two draws from the floor, 4.2e-3.
    assert beyond["status"] == "unresolved", beyond  # 1e-3 over the target
    far = entry([8e-3] * 5, floors, target, floor_spreads=floor_spreads)
    assert far["status"] == "fail", far  # 6e-3 over


def _square(t, pixels):
    """Camera charges -> signed-log square images (32x32), as the report maps."""
    from ctgans.evaluate.cnn_classifier import signed_log
    from ctgans.generate.inverse_mapping import build_mapper

    mapper = build_mapper(t["geometry"], "BilinearMapper", 32)
    return signed_log(mapper.map_image(pixels[..., np.newaxis]))


def _shifted_by_a_pixel(pixels, geometry):
    """Each image moved by one pixel spacing along x (nothing where it came from
    outside the camera)."""
    from scipy.spatial import cKDTree

    xy = np.column_stack([geometry.pix_x.to_value("m"), geometry.pix_y.to_value("m")])
    tree = cKDTree(xy)
    spacing = np.median(tree.query(xy, k=2)[0][:, 1])
    distance, source = tree.query(xy - [spacing, 0.0])
    return np.where(distance < 0.5 * spacing, pixels[:, source], 0.0)


def _cnn_auc(t, a, b, pixels_b, seed=0):
    from ctgans.evaluate.cnn_classifier import cnn_two_sample_auc

    labels = ((t["log_energy"] - t["log_energy"].mean()) / t["log_energy"].std())[
        :, None
    ]
    return cnn_two_sample_auc(
        _square(t, t["pixels"][a]),
        _square(t, pixels_b),
        labels[a],
        labels[b],
        np.random.default_rng(seed),
    )


def test_cnn_two_sample_auc_finds_a_shift_and_a_noise_level(toy_images):
    """Half A simulated against half B shifted by a pixel, or with 1 p.e. more
    pixel noise (the toy's NSB is 1 p.e.): the CNN tells them apart."""
    t = toy_images
    a = np.flatnonzero(t["groups"] % 2 == 0)
    b = np.flatnonzero(t["groups"] % 2 == 1)
    assert min(len(a), len(b)) > 400
    shifted = _shifted_by_a_pixel(t["pixels"][b], t["geometry"])
    assert _cnn_auc(t, a, b, shifted) > 0.9
    rng = np.random.default_rng(5)
    noisy = t["pixels"][b] + rng.normal(0.0, 1.0, t["pixels"][b].shape)
    assert _cnn_auc(t, a, b, noisy) > 0.9


def test_cnn_two_sample_auc_on_two_halves_of_one_sample_is_chance(toy_images):
    """Seeded and deterministic; two halves of the simulation: about 0.5."""
    t = toy_images
    a = np.flatnonzero(t["groups"] % 2 == 0)
    b = np.flatnonzero(t["groups"] % 2 == 1)
    auc = _cnn_auc(t, a, b, t["pixels"][b], seed=1)
    assert abs(auc - 0.5) < 0.1, auc
    assert _cnn_auc(t, a, b, t["pixels"][b], seed=1) == auc


def test_the_stronger_low_level_classifier_decides():
    """The low-level row takes the entry (value, floor, status) of the classifier
    with the higher AUC and reports both."""
    from ctgans.evaluate.targets import METRICS, entry
    from ctgans.evaluate.two_sample import stronger as _stronger

    target = METRICS["auc_low_level"].target
    trees = entry([0.62, 0.64, 0.63], [0.5, 0.52, 0.51], target, classifier="trees")
    cnn = entry([0.91, 0.93, 0.92], [0.53, 0.5, 0.52], target)
    low = _stronger(trees | {"inputs": "pixels"}, cnn)
    assert low["stronger"] == "CNN" and low["status"] == "fail"
    assert low["value"] == pytest.approx(0.92)
    assert low["trees_auc"] == pytest.approx(0.63)
    assert low["classifiers"]["pca_trees"]["value"] == pytest.approx(0.63)
    weak_cnn = entry([0.55, 0.56, 0.54], [0.5, 0.52, 0.51], target)
    low = _stronger(trees | {"inputs": "pixels"}, weak_cnn)
    assert low["stronger"] == "PCA + trees" and low["status"] == "pass"
    assert low["cnn_auc"] == pytest.approx(0.55)


def test_nearest_simulated_stand_in_carries_its_own_labels():
    """A stand-in image is a real shower with its own source: the report judges
    its orientation against that source, not against the requested one."""
    from types import SimpleNamespace

    from ctgans.evaluate.generation import nearest_simulated

    rng = np.random.default_rng(3)
    n = 40
    physical = {
        "log_true_energy": rng.uniform(-1, 1, n),
        "cam_coord_offset_x": rng.uniform(-0.3, 0.3, n),
    }
    standardised = np.stack(list(physical.values()), axis=1)
    dataset = SimpleNamespace(
        labels=standardised,
        images=np.arange(n, dtype=np.float32)[:, None],
        physical_labels=physical,
        is_validation=np.arange(n) >= 30,
    )
    requested = standardised[30:] + 0.01  # near, never equal to, a training label
    images, own = nearest_simulated(SimpleNamespace(dataset=dataset, labels=requested))
    rows = images[:, 0].astype(int)
    assert (rows < 30).all() and len(set(rows)) == len(rows)
    for name, values in physical.items():
        np.testing.assert_array_equal(own[name], values[rows])
    assert not np.allclose(own["cam_coord_offset_x"], requested[:, 1])
