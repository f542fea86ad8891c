"""Diversity at a fixed label (FIDELITY §4, issue 15 item 4).

The toy simulator throws showers at exactly repeated labels; the data stage
reads them with a run's selection; the spread of each image parameter at each
label, generated / simulated, fails a generator that ignores its noise and does
not fail an independent simulation standing in for the generator. Without
repeated labels, nearest neighbours in label space stand in, and the row says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from smoke_configs import PROJECT

ENERGIES = (0.3, 1.0)
DIRECTIONS = ((0.4, 0.0), (0.9, 180.0))
COLUMNS = ["log_true_energy", "cam_coord_offset_x", "cam_coord_offset_y"]


def _run_folder(folder, signal):
    """A run folder with what :func:`~ctgans.generate.trained_run.open_run` reads
    (energy + camera direction, intensity >= 50 p.e.)."""
    folder.mkdir(parents=True)
    data = {
        "signal": [str(signal)],
        "background": [],
        "tel_types": ["LST_MAGIC_MAGICCam"],
        "tel_ids": None,
        "mode": "mono",
        "channels": ["image"],
        "mapper": "BilinearMapper",
        "image_shape": 32,
        "cuts": [{"column": "hillas_intensity", "min": 50.0, "max": None}],
        "labels": ["energy", "cameradirection"],
        "cache_dir": str(folder / "cache"),
    }
    (folder / "config.yml").write_text(yaml.safe_dump({"data": data, "seed": 0}))
    meta = {
        "cache": str(folder / "cache" / "gone.h5"),
        "image_shape": [32, 32, 1],
        "tel_ids": [1, 2],
        "normalization": {
            "channels": ["image"],
            "transforms": [{"kind": "signed_log", "a": 1.0, "b": 7.0}],
        },
        "label_scaler": {
            "columns": COLUMNS,
            "mean": [-0.7, 0.0, 0.0],
            "std": [0.5, 0.2, 0.2],
        },
    }
    (folder / "dataset.json").write_text(json.dumps(meta))
    (folder / "generator.keras").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def fixed_file(tmp_path_factory):
    """2 energies x 2 directions, 600 showers thrown at each, cores free."""
    from ctgans.simulate import SimulationSettings, simulate

    path = tmp_path_factory.mktemp("fixed") / "gamma_fixed.dl1.h5"
    settings = SimulationSettings(
        particle="gamma",
        n_events=2400,
        seed=5,
        fixed_energies_tev=ENERGIES,
        fixed_directions_deg=DIRECTIONS,
    )
    simulate(settings, path)
    return path


@pytest.fixture(scope="module")
def fixed_sample(tmp_path_factory, fixed_file, toy_pair):
    """The fixed-label file read with the run's selection; its image parameters
    (camera pixels back from the square images, as the report does)."""
    from ctgans.evaluate import image_features
    from ctgans.evaluate.compare import log_intensity_table
    from ctgans.evaluate.fixed_label import with_miss_distance
    from ctgans.evaluate.fixed_label_report import load_fixed_label_sample
    from ctgans.generate.inverse_mapping import InverseMapper, build_mapper
    from ctgans.generate.reference import read_reference
    from ctgans.generate.trained_run import open_run

    folder = _run_folder(tmp_path_factory.mktemp("fixedrun") / "run", toy_pair["gamma"])
    run = open_run(folder)
    inputs = SimpleNamespace(
        run=run, dataset=SimpleNamespace(path=None, tel_ids=(1, 2))
    )
    sample = load_fixed_label_sample(inputs, (fixed_file,))
    geometry = (
        read_reference(fixed_file, run.data, run.tel_ids)
        .subarray.tel[1]
        .camera.geometry
    )
    inverse = InverseMapper(build_mapper(geometry, "BilinearMapper", 32), geometry)
    pixels = inverse(run.normalization.inverse(sample.images))[..., 0]
    features = log_intensity_table(image_features(pixels, geometry))
    features = with_miss_distance(features, sample.physical_labels, geometry)
    return {"sample": sample, "features": features, "inputs": inputs}


def test_fixed_labels_are_exact_and_cycle():
    from ctgans.simulate import SimulationSettings
    from ctgans.simulate.showers import sample_showers

    settings = SimulationSettings(
        particle="gamma",
        n_events=40,
        fixed_energies_tev=ENERGIES,
        fixed_directions_deg=DIRECTIONS,
    )
    truth = sample_showers(settings, np.random.default_rng(0))
    assert len(settings.fixed_labels) == 4
    np.testing.assert_array_equal(truth.energy_tev[:4], [0.3, 0.3, 1.0, 1.0])
    np.testing.assert_array_equal(truth.energy_tev[4:8], truth.energy_tev[:4])
    directions = np.stack([truth.alt_rad, truth.az_rad], 1)
    assert len(np.unique(directions.round(12), axis=0)) == 2
    cores = np.hypot(truth.core_x_m, truth.core_y_m)
    assert len(np.unique(cores)) == 40 and cores.max() <= 300.0


def test_fixed_label_options_are_checked(tmp_path):
    from ctgans.exceptions import ConfigError
    from ctgans.simulate import SimulationSettings

    with pytest.raises(ConfigError, match="both given or both empty"):
        SimulationSettings(particle="gamma", fixed_energies_tev=(1.0,))
    with pytest.raises(ConfigError, match="offset in"):
        SimulationSettings(
            particle="gamma", fixed_energies_tev=(1.0,), fixed_directions_deg=((9, 0),)
        )
    cases = [
        (["--fixed-energies", "1", "--fixed-directions", "0.4,0"], "single-file"),
        (
            [
                "--particle",
                "gamma",
                "--output",
                str(tmp_path / "x.h5"),
                "--fixed-energies",
                "1",
                "--fixed-directions",
                "0.4",
            ],
            "OFFSET,ANGLE",
        ),
    ]
    for argv, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "ctgans.simulate", *argv],
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "x.h5").exists()


def test_data_stage_reads_the_fixed_labels_with_the_runs_selection(fixed_sample):
    from ctgans.evaluate.fixed_label import exact_label_groups

    sample = fixed_sample["sample"]
    physical = sample.physical_labels
    assert list(physical) == COLUMNS
    groups = exact_label_groups(physical)
    counts = np.bincount(groups)
    assert len(counts) == 4 and counts.min() >= 150, counts
    energies = np.unique(physical["log_true_energy"].round(6))
    np.testing.assert_allclose(energies, np.log10(ENERGIES), atol=1e-6)
    # 0.4 and 0.9 degrees from the pointing: 0.12 and 0.27 m at f = 17.24 m.
    offset = np.hypot(physical["cam_coord_offset_x"], physical["cam_coord_offset_y"])
    np.testing.assert_allclose(
        np.unique(offset.round(4)), np.deg2rad([0.4, 0.9]) * 17.24, rtol=0.02
    )
    # Gammas point to their source: the miss distance is far below the offset.
    assert np.nanmedian(fixed_sample["features"]["miss_distance"]) < 0.03


def test_a_file_without_repeated_labels_is_refused(fixed_sample, toy_pair, tmp_path):
    from ctgans.evaluate.fixed_label_report import load_fixed_label_sample
    from ctgans.exceptions import DataError
    from ctgans.simulate import SimulationSettings, simulate

    diffuse = tmp_path / "diffuse.dl1.h5"
    simulate(SimulationSettings(particle="gamma", n_events=300, seed=9), diffuse)
    with pytest.raises(DataError, match="--fixed-labels .* most repeated label"):
        load_fixed_label_sample(fixed_sample["inputs"], (diffuse,))


def _stand_ins(features, groups, showers, seed):
    """Split the showers in two: simulation S, and for every S row an image of
    the other half G with the same label: drawn at random per row (an
    independent simulation standing in for the generator), or always the first
    of G at that label (a generator that ignores its noise)."""
    rng = np.random.default_rng(seed)
    unique = np.unique(showers)
    in_g = np.isin(showers, rng.permutation(unique)[: len(unique) // 2])
    sim_rows = np.flatnonzero(~in_g)
    drawn, collapsed = np.empty_like(sim_rows), np.empty_like(sim_rows)
    for g in np.unique(groups):
        at_g = np.flatnonzero(groups[sim_rows] == g)
        same = rng.permutation(np.flatnonzero(in_g & (groups == g)))
        drawn[at_g] = np.resize(same, len(at_g))  # each used once where possible
        collapsed[at_g] = same[0]
    pick = {
        "simulated": sim_rows,
        "independent simulation": drawn,
        "ignores z": collapsed,
    }
    tables = {name: {k: v[r] for k, v in features.items()} for name, r in pick.items()}
    return tables, sim_rows


def test_ignoring_the_noise_fails_and_simulation_does_not(fixed_sample):
    from ctgans.evaluate.fixed_label import (
        FIXED_LABEL_FEATURES,
        exact_label_groups,
        fixed_label_diversity,
    )
    from ctgans.evaluate.inputs import shower_groups
    from ctgans.evaluate.report import halvings
    from ctgans.evaluate.summary import _fields
    from ctgans.evaluate.targets import METRICS

    sample = fixed_sample["sample"]
    groups = exact_label_groups(sample.physical_labels)
    showers = shower_groups(sample.events)
    tables, rows = _stand_ins(fixed_sample["features"], groups, showers, seed=3)
    physical = {k: v[rows] for k, v in sample.physical_labels.items()}
    splits = halvings(showers[rows], 5, 0)
    sections = {
        name: fixed_label_diversity(
            tables["simulated"], tables[name], groups[rows], physical, splits, "exact"
        )
        for name in ("independent simulation", "ignores z")
    }
    good, bad = sections["independent simulation"], sections["ignores z"]
    assert set(good["per_feature"]) == set(FIXED_LABEL_FEATURES)
    assert len(good["groups"]) == 4
    for name, e in good["per_feature"].items():
        # The miss distance's heavy tail makes its 84 % quantile noisy at
        # ~50 images a half.
        low, high = (0.5, 2.0) if name == "miss_distance" else (0.7, 1.4)
        assert e["status"] != "fail", (name, e)
        assert low < e["value"] < high, (name, e["value"])
        assert low < e["floor"] < high, (name, e["floor"])
    assert good["worst"]["status"] != "fail"
    # The same image for every noise: no spread at any label.
    assert bad["worst"]["status"] == "fail"
    for name, e in bad["per_feature"].items():
        assert e["value"] == 0.0, name
        assert e["status"] == ("fail" if name != "miss_distance" else e["status"])
        assert e["status"] != "pass", name
    label = METRICS["diversity_fixed_label"].label.format(**_fields(bad["worst"]))
    assert "exact" in label and "median over 4 labels" in label
    assert "TeV" in bad["worst"]["worst_label"]


def test_nearest_neighbour_groups_stand_in_without_repeated_labels():
    """Labels drawn freely: groups of nearest neighbours; a feature that depends
    on the label and on noise. Fresh noise passes, no noise fails, and the row
    says it used nearest neighbours."""
    from ctgans.evaluate.fixed_label import NEIGHBOURS, nearest_label_groups
    from ctgans.evaluate.fixed_label_report import nearest_label_section
    from ctgans.evaluate.report import halvings
    from ctgans.evaluate.summary import _fields
    from ctgans.evaluate.targets import METRICS

    rng = np.random.default_rng(1)
    n = 6000
    labels = rng.uniform(-1.7, 1.7, (n, 3))  # standardised: std ~1
    groups = nearest_label_groups(labels, seed=0)
    sizes = np.bincount(groups[groups >= 0])
    assert len(sizes) == 10 and (sizes == NEIGHBOURS).all()
    for g in range(10):  # neighbours: far closer than two random rows (~2.4)
        members = labels[groups == g]
        assert np.linalg.norm(members - members.mean(0), axis=1).max() < 1.0

    def table(noise):
        x = labels[:, 0] + noise
        return {"hillas_width": x, "hillas_length": labels[:, 1] + noise}

    sim = table(rng.normal(0, 1, n))
    physical = {
        "log_true_energy": labels[:, 0],
        "cam_coord_offset_x": labels[:, 1],
        "cam_coord_offset_y": labels[:, 2],
    }
    splits = halvings(np.arange(n), 5, 0)
    good = nearest_label_section(
        sim, table(rng.normal(0, 1, n)), labels, physical, splits, 0
    )
    bad = nearest_label_section(sim, table(np.zeros(n)), labels, physical, splits, 0)
    assert good["worst"]["status"] != "fail"
    assert bad["worst"]["status"] == "fail" and bad["worst"]["value"] < 0.5
    label = METRICS["diversity_fixed_label"].label.format(**_fields(good["worst"]))
    assert "nearest neighbours" in label and "no repeated labels" in label
    # Fewer held-out images than one group (a smoke run): no value, no error.
    few = nearest_label_section(
        {k: v[:50] for k, v in sim.items()},
        {k: v[:50] for k, v in sim.items()},
        labels[:50],
        {k: v[:50] for k, v in physical.items()},
        halvings(np.arange(50), 5, 0),
        0,
    )
    assert few["worst"]["status"] == "unresolved" and few["groups"] == []
