"""Tests of the toy MAGIC simulator: file layout, determinism and physics."""

import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
import tables
from astropy.coordinates import AltAz, SkyCoord
from ctapipe.coordinates import TelescopeFrame
from ctapipe.io import TableLoader
from scipy.stats import spearmanr

from ctgans.exceptions import ConfigError, DataError
from ctgans.simulate import (
    SimulationSettings,
    magic_subarray,
    simulate,
    write_embedded_dataset,
)
from ctgans.simulate.__main__ import main
from ctgans.simulate.instrument import (
    MAGIC_LOCATION,
    altaz_to_unit,
    telescope_frame_matrix,
    unit_to_fov,
)

MAGIC_TYPE = "LST_MAGIC_MAGICCam"


def _write(factory, name, **kwargs):
    path = factory.mktemp("sim") / f"{name}.dl1.h5"
    stats = simulate(SimulationSettings(**kwargs), path)
    return path, stats


@pytest.fixture(scope="session")
def gamma_file(tmp_path_factory):
    return _write(tmp_path_factory, "gamma", particle="gamma", n_events=400, seed=11)


@pytest.fixture(scope="session")
def proton_file(tmp_path_factory):
    return _write(tmp_path_factory, "proton", particle="proton", n_events=300, seed=12)


@pytest.fixture(scope="session")
def point_file(tmp_path_factory):
    return _write(
        tmp_path_factory,
        "point",
        particle="gamma",
        n_events=250,
        seed=13,
        source="point",
    )


def _events(path):
    """Telescope events with images, parameters and truth, as plain numpy columns."""
    with TableLoader(
        path, dl1_images=True, dl1_parameters=True, simulated=True, instrument=True
    ) as loader:
        table = loader.read_telescope_events()
    return table


def _quantity(table, name, unit):
    return u.Quantity(table[name]).to_value(unit)


def _miss_and_source(table):
    """Distance (deg) of the true source from the Hillas major axis."""
    pointing = SkyCoord(
        alt=u.Quantity(table["telescope_pointing_altitude"]),
        az=u.Quantity(table["telescope_pointing_azimuth"]),
        frame=AltAz(),
    )
    source = SkyCoord(
        alt=u.Quantity(table["true_alt"]),
        az=u.Quantity(table["true_az"]),
        frame=AltAz(),
    ).transform_to(TelescopeFrame(telescope_pointing=pointing))
    dx = source.fov_lon.to_value(u.deg) - _quantity(table, "hillas_fov_lon", u.deg)
    dy = source.fov_lat.to_value(u.deg) - _quantity(table, "hillas_fov_lat", u.deg)
    psi = _quantity(table, "hillas_psi", u.rad)
    return np.abs(dx * np.sin(psi) - dy * np.cos(psi)), dx, dy, psi


def _all_tables(path):
    """Every table under /dl1 and /simulation, as numpy structured arrays."""
    with tables.open_file(path) as h5:
        return {
            node._v_pathname: node.read()
            for group in ("/dl1", "/simulation")
            for node in h5.walk_nodes(group, "Table")
        }


# --- instrument and geometry -------------------------------------------------


def test_subarray_is_two_magic_telescopes():
    subarray = magic_subarray()
    assert subarray.tel_ids.tolist() == [1, 2]
    assert {str(tel) for tel in subarray.tel.values()} == {MAGIC_TYPE}
    positions = subarray.tel_coords.cartesian.xyz.to_value(u.m)
    assert np.linalg.norm(positions[:, 0] - positions[:, 1]) == pytest.approx(
        85.3, abs=0.5
    )
    geometry = subarray.tel[1].camera.geometry
    assert geometry.n_pixels == 1039
    assert geometry.frame.focal_length.to_value(u.m) == pytest.approx(17.24)


def test_numpy_fov_matches_astropy():
    rng = np.random.default_rng(0)
    alt_p, az_p = np.deg2rad(70.0), np.deg2rad(15.0)
    alt = alt_p + np.deg2rad(rng.uniform(-2, 2, 20))
    az = az_p + np.deg2rad(rng.uniform(-5, 5, 20))
    lon, lat = unit_to_fov(altaz_to_unit(alt, az), telescope_frame_matrix(alt_p, az_p))
    frame = AltAz(location=MAGIC_LOCATION)
    pointing = SkyCoord(alt=alt_p * u.rad, az=az_p * u.rad, frame=frame)
    expected = SkyCoord(alt=alt * u.rad, az=az * u.rad, frame=frame).transform_to(
        TelescopeFrame(telescope_pointing=pointing)
    )
    np.testing.assert_allclose(np.rad2deg(lon), expected.fov_lon.deg, atol=1e-9)
    np.testing.assert_allclose(np.rad2deg(lat), expected.fov_lat.deg, atol=1e-9)


# --- files -------------------------------------------------------------------


def test_stats_and_trigger(gamma_file):
    path, stats = gamma_file
    assert stats.n_thrown == 400
    assert 0 < stats.n_written < stats.n_thrown
    with tables.open_file(path) as h5:
        assert len(h5.root.simulation.event.subarray.shower) == stats.n_written
        run = h5.root.configuration.simulation.run.read()
        assert run["n_showers"][0] == 400
        assert run["energy_range_min"][0] == pytest.approx(0.05)
        assert run["spectral_index"][0] == pytest.approx(-2.0)
        assert h5.root._v_attrs["CTA PROCESS TYPE"] == "Simulation"


def test_table_loader_reads_images_parameters_and_truth(gamma_file):
    path, stats = gamma_file
    table = _events(path)
    assert len(table) >= stats.n_written  # at least one telescope per event
    assert np.asarray(table["image"]).shape == (len(table), 1039)
    assert np.asarray(table["image"]).dtype == np.float32
    assert set(table["tel_description"]) == {MAGIC_TYPE}
    assert set(table["true_shower_primary_id"]) == {0}
    with tables.open_file(path) as h5:
        shower = h5.root.simulation.event.subarray.shower.read()
    energy_by_event = dict(zip(shower["event_id"], shower["true_energy"], strict=True))
    expected = [energy_by_event[e] for e in table["event_id"]]
    np.testing.assert_allclose(_quantity(table, "true_energy", u.TeV), expected)


@pytest.mark.filterwarnings("ignore::astropy.utils.metadata.MergeConflictWarning")
def test_dl1dh_reader_maps_images(gamma_file):
    from dl1_data_handler.reader import DLImageReader
    from traitlets.config import Config

    path, _ = gamma_file
    config = Config(
        {
            "DLImageReader": {
                "mode": "mono",
                "channels": ["image"],
                "allowed_tel_types": [MAGIC_TYPE],
                "image_mapper_type": [["type", "*", "BilinearMapper"]],
            },
            "BilinearMapper": {"interpolation_image_shape": 43},
        }
    )
    reader = DLImageReader(input_url_signal=[str(path)], config=config)
    n_examples = reader._get_n_events()
    assert n_examples > 50
    batch = reader.generate_mono_batch(np.arange(n_examples))
    assert batch["features"].shape == (n_examples, 43, 43, 1)
    assert np.isfinite(batch["cam_coord_offset_x"]).all()
    with tables.open_file(path) as h5:
        shower = h5.root.simulation.event.subarray.shower.read()
    energy_by_event = dict(zip(shower["event_id"], shower["true_energy"], strict=True))
    expected = [energy_by_event[e] for e in batch["event_id"]]
    np.testing.assert_allclose(_quantity(batch, "true_energy", u.TeV), expected)


def test_same_seed_same_tables_other_seed_differs(gamma_file, tmp_path):
    path, _ = gamma_file
    again = tmp_path / "again.dl1.h5"
    other = tmp_path / "other.dl1.h5"
    simulate(SimulationSettings(particle="gamma", n_events=400, seed=11), again)
    simulate(SimulationSettings(particle="gamma", n_events=400, seed=12), other)
    first, second = _all_tables(path), _all_tables(again)
    assert first.keys() == second.keys()
    assert "/dl1/event/telescope/images/tel_001" in first
    for name in first:
        assert first[name].dtype == second[name].dtype, name
        for column in first[name].dtype.names:
            np.testing.assert_array_equal(
                first[name][column], second[name][column], err_msg=f"{name} {column}"
            )
    third = _all_tables(other)
    shower = "/simulation/event/subarray/shower"
    energies = first[shower]["true_energy"][:10], third[shower]["true_energy"][:10]
    assert not np.array_equal(*energies)


def test_refuses_to_overwrite(gamma_file):
    path, _ = gamma_file
    before = path.stat().st_mtime_ns
    with pytest.raises(DataError, match="exist"):
        simulate(SimulationSettings(particle="gamma", n_events=10, seed=1), path)
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_embedded_dataset_writes_and_keeps_files(tmp_path):
    paths = write_embedded_dataset(tmp_path, n_events_per_particle=60, seed=3)
    assert sorted(paths) == ["gamma", "proton"]
    assert paths["gamma"].name == "gamma_diffuse.dl1.h5"
    assert paths["proton"].name == "proton_diffuse.dl1.h5"
    with tables.open_file(paths["proton"]) as h5:
        ids = h5.root.simulation.event.subarray.shower.col("true_shower_primary_id")
        assert set(ids) == {101}
    mtimes = {p: path.stat().st_mtime_ns for p, path in paths.items()}
    write_embedded_dataset(tmp_path, n_events_per_particle=60, seed=3)
    assert {p: path.stat().st_mtime_ns for p, path in paths.items()} == mtimes


# --- physics -----------------------------------------------------------------


def test_intensity_rises_with_energy(gamma_file):
    table = _events(gamma_file[0])
    intensity = np.asarray(table["hillas_intensity"])
    near = (_quantity(table, "impact_distance", u.m) < 120) & (intensity > 0)
    assert near.sum() > 50
    rho, _ = spearmanr(
        np.log10(intensity[near]),
        np.log10(_quantity(table, "true_energy", u.TeV)[near]),
    )
    assert rho > 0.7


def test_light_pool_falls_off(gamma_file):
    table = _events(gamma_file[0])
    impact = _quantity(table, "impact_distance", u.m)
    ratio = np.asarray(table["hillas_intensity"]) / _quantity(
        table, "true_energy", u.GeV
    )
    inside = np.median(ratio[(impact < 100) & np.isfinite(ratio)])
    outside = np.median(ratio[(impact > 220) & np.isfinite(ratio)])
    assert 0.7 < inside < 4.0  # p.e. per GeV in the light pool
    assert outside < 0.5 * inside


@pytest.mark.parametrize("fixture", ["gamma_file", "point_file"])
def test_hillas_axis_points_to_gamma_source(fixture, proton_file, request):
    gammas = _events(request.getfixturevalue(fixture)[0])
    protons = _events(proton_file[0])
    bright_g = np.asarray(gammas["hillas_intensity"]) > 100
    bright_p = np.asarray(protons["hillas_intensity"]) > 100
    miss_g, dx, dy, psi = _miss_and_source(gammas[bright_g])
    miss_p = _miss_and_source(protons[bright_p])[0]
    shuffled = np.random.default_rng(0).permutation(len(psi))
    miss_control = np.abs(dx * np.sin(psi[shuffled]) - dy * np.cos(psi[shuffled]))
    assert bright_g.sum() > 50
    assert np.median(miss_g) < 0.1
    assert np.median(miss_p) > 3 * np.median(miss_g)
    assert np.median(miss_control) > 3 * np.median(miss_g)


def test_point_mode_sources_sit_at_wobble_offset(point_file):
    table = _events(point_file[0])
    pointing = altaz_to_unit(
        _quantity(table, "telescope_pointing_altitude", u.rad),
        _quantity(table, "telescope_pointing_azimuth", u.rad),
    )
    source = altaz_to_unit(
        _quantity(table, "true_alt", u.rad), _quantity(table, "true_az", u.rad)
    )
    separation = np.rad2deg(np.arccos(np.sum(pointing * source, axis=1)))
    np.testing.assert_allclose(separation, 0.4, atol=1e-6)


def test_length_and_width_grow_with_energy_and_protons_are_wider(
    gamma_file, proton_file
):
    gammas = _events(gamma_file[0])
    protons = _events(proton_file[0])
    ok = np.asarray(gammas["hillas_intensity"]) > 50
    log_e = np.log10(_quantity(gammas, "true_energy", u.TeV)[ok])
    width_g = _quantity(gammas, "hillas_width", u.deg)[ok]
    length_g = _quantity(gammas, "hillas_length", u.deg)[ok]
    assert spearmanr(log_e, width_g)[0] > 0.2
    assert spearmanr(log_e, length_g)[0] > 0.2
    assert 0.02 < np.median(width_g) < 0.1
    assert 0.05 < np.median(length_g) < 0.3
    ok_p = np.asarray(protons["hillas_intensity"]) > 50
    width_p = _quantity(protons, "hillas_width", u.deg)[ok_p]
    assert np.median(width_p) / np.median(width_g) > 1.3


def test_time_gradient_grows_with_impact(gamma_file):
    table = _events(gamma_file[0])
    bright = np.asarray(table["hillas_intensity"]) > 100
    impact = _quantity(table, "impact_distance", u.m)[bright]
    slope = np.abs(np.asarray(table["timing_slope"])[bright])
    assert np.median(slope[impact > 150]) > 1.5 * np.median(slope[impact < 80])


# --- settings and command line -----------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"particle": "electron"},
        {"particle": "gamma", "n_events": 0},
        {"particle": "gamma", "n_events": 2.5},
        {"particle": "gamma", "seed": -1},
        {"particle": "gamma", "energy_min_tev": 0.0},
        {"particle": "gamma", "energy_min_tev": 1.0, "energy_max_tev": 0.5},
        {"particle": "proton", "spectral_index": float("nan")},
        {"particle": "gamma", "source": "ring"},
        {"particle": "gamma", "max_impact_m": -5.0},
        {"particle": "gamma", "diffuse_radius_deg": 10.0},
    ],
)
def test_bad_settings_raise_one_line_config_error(kwargs):
    with pytest.raises(ConfigError, match="expected .*, received") as info:
        SimulationSettings(**kwargs)
    assert "\n" not in str(info.value)


def test_particle_defaults():
    gamma = SimulationSettings(particle="gamma")
    proton = SimulationSettings(particle="proton")
    assert (gamma.energy_min_tev, gamma.energy_max_tev, gamma.spectral_index) == (
        0.05,
        50.0,
        -2.0,
    )
    assert proton.spectral_index == -2.7
    with pytest.raises(AttributeError):
        gamma.seed = 3


@pytest.mark.parametrize(
    "args",
    [["--n-events", "0"], ["--particle", "gamma", "--output", "x.h5", "--seed", "x"]],
)
def test_cli_bad_value_exits_2_and_writes_nothing(args, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ctgans.simulate", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--particle", "gamma", "--output", "x.dl1.h5", "--energy-min", "-1"],
        ["--particle", "gamma"],
        ["--source", "ring"],
    ],
)
def test_cli_main_rejects_bad_input(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_existing_output(gamma_file, capsys):
    path, _ = gamma_file
    before = path.stat().st_mtime_ns
    args = ["--particle", "gamma", "--output", str(path), "--n-events", "10"]
    assert main(args) == 2
    assert "exist" in capsys.readouterr().err
    assert path.stat().st_mtime_ns == before


def test_cli_writes_one_file(tmp_path, capsys):
    path = tmp_path / "p.dl1.h5"
    args = ["--particle", "proton", "--output", str(path), "--n-events", "40"]
    assert main([*args, "--seed", "5", "--max-impact", "150"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "40 showers thrown" in out[0]
    with tables.open_file(path) as h5:
        run = h5.root.configuration.simulation.run.read()
    assert run["max_scatter_range"][0] == pytest.approx(150.0)
    assert run["spectral_index"][0] == pytest.approx(-2.7)
