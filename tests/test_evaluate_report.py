"""The fidelity report: sections with floors, sanity checks, the command line.

Fast: bad input, and the distribution metrics on toy images (simulation standing in
for the generator passes, three times the charge fails). Slow (they train a smoke
run and its evaluation predictor): the report folder written by the command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from smoke_configs import PROJECT, smoke_config

STATUSES = {"pass", "fail", "unresolved", "info"}
DISTRIBUTION_TARGETS = (
    ("cleaning_survival",),
    ("separation_power", "median"),
    ("separation_power", "worst"),
    ("intensity_calibration", "median_log10_ratio"),
    ("intensity_calibration", "width_ratio"),
    ("kpd",),
    ("two_sample_classifier", "low_level"),
    ("two_sample_classifier", "high_level"),
    ("diversity", "worst"),
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
    assert set(recovery["metrics"]) == {
        "energy_resolution",
        "energy_bias",
        "cameradirection_68_m",
    }
    for name, entry in recovery["metrics"].items():
        _check_entry(entry, name)
        assert entry["floor"] is not None, name
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
    assert sum(counts.values()) == 3 + len(DISTRIBUTION_TARGETS) + 1

    summary = (report_dir / "summary.md").read_text()
    assert summary.count("\n| ") == 1 + 3 + len(DISTRIBUTION_TARGETS) + 1
    for name in ("feature_histograms.png", "label_recovery.png", "samples.png"):
        assert (report_dir / name).stat().st_size > 1000, name


@pytest.mark.slow
def test_nearest_simulated_generator_runs_through_the_report(smoke_run):
    """Simulated training images standing in for the generator all survive
    cleaning like the validation images do."""
    from ctgans.evaluate.report import build_report
    from ctgans.evaluate.request import ReportRequest

    report, data = build_report(
        ReportRequest(smoke_run, generator="nearest-simulated", speed=False)
    )
    population = report["populations"]["all"]
    assert population["cleaning_survival"]["status"] == "pass"
    for path in DISTRIBUTION_TARGETS:
        assert _get(population, path)["status"] in STATUSES - {"info"}, path
    train = data.inputs.dataset.images[~data.inputs.dataset.is_validation]
    assert all(any(np.array_equal(f, t) for t in train) for f in data.fake[:3])


@pytest.fixture(scope="module")
def toy_images(tmp_path_factory):
    """Charges, features, log10 energies and showers of ~1000 toy gamma images."""
    import tables
    from ctapipe.instrument import SubarrayDescription

    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import log_intensity_table
    from ctgans.simulate import SimulationSettings, simulate

    path = tmp_path_factory.mktemp("toyeval") / "gamma.dl1.h5"
    simulate(SimulationSettings(particle="gamma", n_events=3000, seed=31), path)
    geometry = SubarrayDescription.from_hdf(path).tel[1].camera.geometry
    pixels, event_ids, log_energy = [], [], []
    with tables.open_file(str(path)) as h5:
        showers = h5.root.simulation.event.subarray.shower.read()
        order = np.argsort(showers["event_id"])
        for tel in ("tel_001", "tel_002"):
            images = h5.get_node(f"/dl1/event/telescope/images/{tel}").read()
            ids = images["event_id"]
            where = order[np.searchsorted(showers["event_id"][order], ids)]
            pixels.append(images["image"].astype(np.float64))
            log_energy.append(np.log10(showers["true_energy"][where]))
            event_ids.append(ids)
    pixels, log_energy = np.concatenate(pixels), np.concatenate(log_energy)
    event_ids = np.concatenate(event_ids)
    features = log_intensity_table(image_features(pixels, geometry))
    keep = np.isfinite(features["hillas_intensity"])
    return {
        "pixels": pixels[keep],
        "features": {k: v[keep] for k, v in features.items()},
        "log_energy": log_energy[keep],
        "groups": np.unique(event_ids, return_inverse=True)[1][keep],
        "geometry": geometry,
    }


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
    )
    assert result["sample_sizes"]["n_generated_A"] > 200
    statuses = {p: _get(result, p)["status"] for p in DISTRIBUTION_TARGETS}
    assert "fail" not in statuses.values(), statuses
    for path in (
        ("cleaning_survival",),
        ("kpd",),
        ("two_sample_classifier", "low_level"),
        ("two_sample_classifier", "high_level"),
    ):
        assert statuses[path] == "pass", (path, _get(result, path))


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
        ("intensity_calibration", "median_log10_ratio"),
        ("separation_power", "worst"),
        ("two_sample_classifier", "low_level"),
        ("two_sample_classifier", "high_level"),
        ("kpd",),
    ):
        assert _get(wrong, path)["status"] == "fail", (path, _get(wrong, path))
    assert wrong["intensity_calibration"]["median_log10_ratio"]["value"] > 1.1


@pytest.mark.slow
def test_generator_speed_reports_every_batch(smoke_run):
    from ctgans.evaluate.generation import generator_speed
    from ctgans.evaluate.inputs import load_inputs
    from ctgans.generate.trained_run import load_generator

    inputs = load_inputs(smoke_run, None, 0)
    speed = generator_speed(
        load_generator(inputs.run), inputs, batches=(1, 256), min_seconds=0.05
    )
    assert set(speed["batches"]) == {"1", "256"}
    assert speed["batches"]["256"]["images_per_s"] > 0
    assert speed["batches"]["1"]["calls"] >= 3
    assert "images_per_s_to_camera_pixels" in speed["batches"]["256"]
    assert speed["simulation_images_per_s"]


def _cli(*args):
    from ctgans.evaluate.__main__ import main

    return main([str(a) for a in args])


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    unfinished = tmp_path / "run"
    unfinished.mkdir()
    (unfinished / "config.yml").write_text("seed: 0\n")
    existing = tmp_path / "report"
    existing.mkdir()
    (existing / "report.json").write_text("{}")
    cases = [
        ([tmp_path / "missing", "--output", tmp_path / "out"], "run folder"),
        ([unfinished, "--output", tmp_path / "out"], "no generator.keras"),
        ([unfinished, "--output", existing], "exists"),
        ([unfinished, "--output", tmp_path / "out", "--resamples", "3"], "--resamples"),
        ([unfinished, "--output", tmp_path / "out", "--n-events", "5"], "--n-events"),
        ([unfinished, "--output", tmp_path / "out", "--generator", "x"], "generator"),
    ]
    before = (existing / "report.json").read_bytes()
    for args, word in cases:
        assert _cli(*args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        assert word in err, (word, err)
        assert not (tmp_path / "out").exists()
    assert (existing / "report.json").read_bytes() == before


def test_python_m_refuses_missing_run_folder(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctgans.evaluate",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error: run folder")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
