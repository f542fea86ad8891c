"""Generation: run folder -> ctapipe DL1 file that dl1-data-handler reads back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dl1_files import close_reader, mono_reader
from smoke_configs import smoke_config

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory, toy_pair) -> Path:
    """A finished 1-epoch run on the toy gammas (16x16, energy + cameradirection)."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("genrun")
    return run(load_config(smoke_config(folder, toy_pair)), fresh=True)


def test_sampled_labels_are_read_back_by_dl1_data_handler(run_folder, tmp_path):
    from ctgans.generate import GenerateRequest, generate

    output = tmp_path / "gen.dl1.h5"
    stats = generate(
        GenerateRequest(
            run_folder,
            output,
            n_events=24,
            energy_min=0.1,
            energy_max=10.0,
            spectral_index=-2.0,
            direction="diffuse",
            radius_deg=1.0,
            seed=5,
            batch_size=10,
        )
    )
    assert stats.n_events == 24 and output.is_file()
    assert not list(tmp_path.glob(".*tmp"))
    energy = stats.truth.energy_tev
    assert energy.min() >= 0.1 and energy.max() <= 10.0
    reader = mono_reader(output)
    try:
        rows = reader.example_identifiers
        assert len(rows) == 24 and reader.input_shape == (16, 16, 1)
        assert set(np.asarray(rows["tel_id"])) == {1, 2}  # cycles over the run's
        order = np.argsort(np.asarray(rows["event_id"]))
        np.testing.assert_allclose(
            np.asarray(rows["log_true_energy"])[order], np.log10(energy), atol=1e-5
        )
        for column in ("cam_coord_offset_x", "cam_coord_offset_y"):
            np.testing.assert_allclose(
                np.asarray(rows[column])[order], stats.labels[column], atol=1e-3
            )
        offsets = np.hypot(
            stats.labels["cam_coord_offset_x"], stats.labels["cam_coord_offset_y"]
        )
        assert offsets.max() <= np.tan(np.deg2rad(1.0)) * 17.24 + 1e-6
        batch = reader.generate_mono_batch(np.arange(4))
        assert batch["features"].shape == (4, 16, 16, 1)
        assert np.isfinite(batch["features"]).all()
    finally:
        close_reader(reader)

    # Same seed, same file contents.
    again = generate(
        GenerateRequest(
            run_folder,
            tmp_path / "again.dl1.h5",
            n_events=24,
            energy_min=0.1,
            energy_max=10.0,
            spectral_index=-2.0,
            direction="diffuse",
            radius_deg=1.0,
            seed=5,
            batch_size=7,
        )
    )
    np.testing.assert_array_equal(again.truth.energy_tev, energy)
    from ctapipe.io import read_table

    first = read_table(output, "/dl1/event/telescope/images/tel_001")["image"]
    second = read_table(again.path, "/dl1/event/telescope/images/tel_001")["image"]
    np.testing.assert_allclose(second, first, rtol=1e-4, atol=1e-4)


def test_labels_from_copies_the_truth_of_selected_events(
    run_folder, toy_pair, tmp_path
):
    from ctgans.data.reader import open_reader
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run

    source = toy_pair["gamma"]
    output = tmp_path / "copy.dl1.h5"
    stats = generate(
        GenerateRequest(run_folder, output, n_events=12, labels_from=source)
    )
    assert stats.n_events == 12
    data = open_run(run_folder).data
    selected = open_reader(data).example_identifiers[:12]  # the run's cuts applied
    written = mono_reader(output)
    try:
        rows = written.example_identifiers
        order = np.argsort(np.asarray(rows["event_id"]))
        for column in (
            "true_energy",
            "true_alt",
            "true_az",
            "true_core_x",
            "true_core_y",
            "tel_id",
            "true_shower_primary_id",
        ):
            np.testing.assert_allclose(
                np.asarray(rows[column])[order],
                np.asarray(selected[column]),
                rtol=1e-9,
                err_msg=column,
            )
        for column in ("log_true_energy", "cam_coord_offset_x", "cam_coord_offset_y"):
            np.testing.assert_allclose(
                np.asarray(rows[column])[order],
                np.asarray(selected[column]),
                atol=1e-5,
                err_msg=column,
            )
    finally:
        close_reader(written)


def _root_attributes(path: Path) -> dict:
    import tables

    with tables.open_file(str(path), "r") as h5:
        attrs = h5.root._v_attrs
        return {name: attrs[name] for name in attrs._v_attrnames}


def _simulation_run(path: Path):
    from astropy.table import QTable
    from ctapipe.io import read_table

    return QTable(read_table(path, "/configuration/simulation/run"))


def test_a_generated_file_says_it_is_generated_and_what_it_samples(
    run_folder, tmp_path
):
    import json

    from ctapipe.io import TableLoader
    from ctapipe.io.metadata import read_reference_metadata

    import ctgans
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run

    output = tmp_path / "gen.dl1.h5"
    generate(
        GenerateRequest(
            run_folder,
            output,
            n_events=9,
            energy_min=0.2,
            energy_max=5.0,
            spectral_index=-2.4,
            direction="diffuse",
            radius_deg=0.8,
            seed=3,
        )
    )
    attrs = _root_attributes(output)
    run = open_run(run_folder)
    assert bool(attrs["CTGANS_GENERATED"]) is True
    assert attrs["CTGANS_VERSION"] == ctgans.__version__
    made_with = json.loads((run_folder / "run.json").read_text())["config_hash"]
    assert attrs["CTGANS_CONFIG_HASH"] == made_with
    assert attrs["CTGANS_RUN_FOLDER"] == str(run_folder.resolve())
    assert int(attrs["CTGANS_GENERATOR_EPOCH"]) == 1  # the 1-epoch smoke run
    assert attrs["CTGANS_REFERENCE_FILE"] == str(run.data.signal[0])
    assert attrs["CTGANS_TRAINING_FILES"] == str(run.data.signal[0])
    assert attrs["CTGANS_LABELS"] == "sampled"
    assert int(attrs["CTGANS_SEED"]) == 3
    # Not a Monte Carlo product; the process type stays what dl1-data-handler
    # needs to read the truth (it accepts only Simulation or Observation).
    meta = read_reference_metadata(output)
    assert meta.product.data_category == "Other"
    assert meta.process.type_ == "Simulation"
    assert "ctgans" in meta.process.subtype and "not" in meta.product.description

    sim = _simulation_run(output)
    assert len(sim) == 1
    row = sim[0]
    assert row["n_showers"] == 9 and row["shower_reuse"] == 1
    assert u_value(row["energy_range_min"], "TeV") == pytest.approx(0.2)
    assert u_value(row["energy_range_max"], "TeV") == pytest.approx(5.0)
    assert row["spectral_index"] == pytest.approx(-2.4)
    assert bool(row["diffuse"])
    assert u_value(row["min_viewcone_radius"], "deg") == 0.0
    assert u_value(row["max_viewcone_radius"], "deg") == pytest.approx(0.8)
    # Mono cores are all written at (0, 0): that is the scatter range.
    assert u_value(row["max_scatter_range"], "m") == 0.0
    # Nothing claims CORSIKA or sim_telarray made these events.
    assert not np.isfinite(row["corsika_version"])
    assert not np.isfinite(row["simtel_version"])

    with TableLoader(output, dl1_images=True, simulated=True) as loader:
        events = loader.read_telescope_events()
    assert len(events) == 9
    reader = mono_reader(output)
    try:
        assert len(reader.example_identifiers) == 9
    finally:
        close_reader(reader)


def u_value(value, unit) -> float:
    import astropy.units as u

    return float(u.Quantity(value).to_value(unit))


def test_labels_from_file_keeps_its_settings_instrument_and_pointing(
    run_folder, toy_pair, tmp_path
):
    from astropy.table import QTable
    from ctapipe.io import read_table

    from ctgans.generate import GenerateRequest, generate

    source = toy_pair["gamma"]
    output = tmp_path / "copy.dl1.h5"
    generate(GenerateRequest(run_folder, output, n_events=5, labels_from=source))
    attrs = _root_attributes(output)
    assert attrs["CTGANS_LABELS"] == f"copied from {source}"
    assert attrs["CTGANS_REFERENCE_FILE"] == str(source)
    original, written = _simulation_run(source)[0], _simulation_run(output)[0]
    assert written["n_showers"] == 5 and original["n_showers"] != 5
    for column in (
        "energy_range_min",
        "energy_range_max",
        "spectral_index",
        "max_viewcone_radius",
        "max_scatter_range",
        "min_alt",
        "min_az",
    ):
        assert written[column] == original[column], column
    for tel in (1, 2):
        table = f"/configuration/telescope/pointing/tel_{tel:03d}"
        pointing = QTable(read_table(output, table))
        expected = QTable(read_table(source, table))
        for column in ("telescope_pointing_altitude", "telescope_pointing_azimuth"):
            np.testing.assert_allclose(
                u_value(pointing[column][0], "rad"),
                u_value(expected[column][0], "rad"),
            )


def _store_as_float32(path: Path, table: str, columns: dict) -> None:
    """Rewrite ``table`` with ``columns`` (name -> value) stored as float32, as
    sim_telarray productions store their pointing."""
    import tables

    with tables.open_file(str(path), "a") as h5:
        old = h5.get_node(table)
        rows = old.read()
        dtype = np.dtype(
            [
                (n, np.float32 if n in columns else rows.dtype[n])
                for n in rows.dtype.names
            ]
        )
        new_rows = rows.astype(dtype)
        for name, value in columns.items():
            new_rows[name] = value
        parent, name = old._v_parent, old._v_name
        new = h5.create_table(parent, f"{name}_f32", obj=new_rows)
        old.attrs._f_copy(new)
        old.remove()
        new.move(parent, name)


@pytest.fixture(scope="session")
def zenith_file(tmp_path_factory) -> Path:
    """Toy gammas pointed at zenith, the pointing stored as float32 pi/2, which
    reads back as 90.0000025 deg."""
    from ctgans.simulate import SimulationSettings, simulate

    path = tmp_path_factory.mktemp("zenith") / "gamma_zenith.dl1.h5"
    simulate(
        SimulationSettings(
            particle="gamma", n_events=300, seed=31, pointing_alt_deg=90.0
        ),
        path,
    )
    alt = np.float32(np.pi / 2)
    assert np.rad2deg(float(alt)) > 90.0
    for tel in (1, 2):
        _store_as_float32(
            path,
            f"/configuration/telescope/pointing/tel_{tel:03d}",
            {"telescope_pointing_altitude": alt},
        )
    _store_as_float32(
        path, "/configuration/simulation/run", {"min_alt": alt, "max_alt": alt}
    )
    return path


def _run_on(run_folder: Path, signal: Path, folder: Path) -> Path:
    """A copy of ``run_folder`` whose config names ``signal`` as training file."""
    import shutil

    import yaml

    copy = folder / run_folder.name
    shutil.copytree(run_folder, copy)
    config = yaml.safe_load((copy / "config.yml").read_text())
    config["data"]["signal"] = [str(signal)]
    (copy / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def test_zenith_pointing_generates_sampled_and_copied_labels(
    run_folder, zenith_file, tmp_path
):
    from ctgans.generate import GenerateRequest, generate

    zenith_run = _run_on(run_folder, zenith_file, tmp_path)
    sampled = generate(
        GenerateRequest(
            zenith_run, tmp_path / "sampled.dl1.h5", n_events=6, radius_deg=0.5
        )
    )
    copied = generate(
        GenerateRequest(
            run_folder, tmp_path / "copied.dl1.h5", n_events=6, labels_from=zenith_file
        )
    )
    for stats in (sampled, copied):
        assert stats.n_events == 6
        reader = mono_reader(stats.path)
        try:
            rows = reader.example_identifiers
            order = np.argsort(np.asarray(rows["event_id"]))
            for column in ("cam_coord_offset_x", "cam_coord_offset_y"):
                np.testing.assert_allclose(
                    np.asarray(rows[column])[order], stats.labels[column], atol=1e-4
                )
        finally:
            close_reader(reader)
    offsets = np.hypot(
        sampled.labels["cam_coord_offset_x"], sampled.labels["cam_coord_offset_y"]
    )
    assert offsets.max() <= np.tan(np.deg2rad(0.5)) * 17.24 + 1e-6


def _toy_images(path: Path, n: int):
    from ctapipe.io import read_table

    from ctgans.config import DataConfig
    from ctgans.generate.reference import read_reference

    reference = read_reference(path, DataConfig(signal=(path,)), [1])
    images = read_table(path, "/dl1/event/telescope/images/tel_001")["image"][:n]
    return reference.subarray.tel[1].camera.geometry, np.asarray(images, np.float64)


def _hillas(geometry, image):
    from ctapipe.image import hillas_parameters, tailcuts_clean

    mask = tailcuts_clean(geometry, image, 6.0, 3.5, min_number_picture_neighbors=1)
    return hillas_parameters(geometry[mask], image[mask]) if mask.sum() >= 3 else None


def test_inverse_mapping_round_trip_keeps_hillas_parameters(toy_pair):
    """camera -> 43x43 square -> camera on toy gammas; measured tolerances are in
    the docstring of ctgans.generate.inverse_mapping."""
    from ctgans.generate.inverse_mapping import InverseMapper, build_mapper

    geometry, images = _toy_images(toy_pair["gamma"], 80)
    mapper = build_mapper(geometry, "BilinearMapper", 43)
    inverse = InverseMapper(mapper, geometry)
    square = mapper.map_image(images[..., np.newaxis].astype(np.float32))
    back = inverse(square)[..., 0]
    assert back.shape == images.shape
    intensity, cog, psi = [], [], []
    for original, restored in zip(images, back):
        before, after = _hillas(geometry, original), _hillas(geometry, restored)
        if before is None or before.intensity < 50:
            continue
        assert restored.sum() == pytest.approx(original.sum(), rel=1e-3, abs=0.5)
        intensity.append(after.intensity / before.intensity - 1)
        cog.append(
            np.hypot(
                (after.x - before.x).to_value("m"), (after.y - before.y).to_value("m")
            )
        )
        if before.length > 1.5 * before.width:
            delta = (after.psi - before.psi).to_value("deg")
            psi.append((delta + 90) % 180 - 90)
    intensity, cog, psi = np.abs(intensity), np.asarray(cog), np.abs(psi)
    assert len(intensity) >= 10 and len(psi) >= 5
    # A pixel at a tailcut threshold can flip: bounds for all images are looser
    # than for 90 % of them.
    assert np.percentile(intensity, 90) < 1e-3 and intensity.max() < 0.05
    assert np.percentile(cog, 90) < 1e-4 and cog.max() < 0.003  # pixel: 0.03 m
    assert np.percentile(psi, 90) < 0.05 and psi.max() < 10.0


def test_inverse_mapping_is_consistent_on_coarse_grids(toy_pair):
    """16x16 (coarser than the camera): mapping the inverse forward gives the
    square image back wherever the grid sees the camera."""
    from ctgans.generate.inverse_mapping import InverseMapper, build_mapper

    geometry, _ = _toy_images(toy_pair["gamma"], 1)
    mapper = build_mapper(geometry, "BilinearMapper", 16)
    inverse = InverseMapper(mapper, geometry)
    rng = np.random.default_rng(0)
    square = rng.gamma(2.0, 5.0, size=(3, 16, 16, 2)).astype(np.float32)
    again = mapper.map_image(inverse(square))
    seen = np.asarray(abs(mapper.mapping_table).sum(axis=0)).ravel() > 0
    seen = seen.reshape(16, 16)
    error = np.linalg.norm((again - square)[:, seen]) / np.linalg.norm(square[:, seen])
    assert error < 1e-3


def _cli(*args):
    from ctgans.generate.__main__ import main

    return main([str(a) for a in args])


def test_cli_bad_inputs_exit_2_with_one_line_and_write_nothing(
    run_folder, tmp_path, capsys
):
    output = tmp_path / "out.dl1.h5"
    cases = [
        ([run_folder, "--output", output, "--n-events", "-3"], "--n-events"),
        (
            [tmp_path / "missing", "--output", output, "--n-events", "3"],
            "does not exist",
        ),
        ([tmp_path, "--output", output, "--n-events", "3"], "no generator.keras"),
        ([run_folder, "--output", output], "--n-events: required"),
        (
            [
                run_folder,
                "--output",
                output,
                "--n-events",
                "3",
                "--energy-min",
                "5",
                "--energy-max",
                "1",
            ],
            "--energy-min must be below",
        ),
    ]
    for args, message in cases:
        assert _cli(*args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
        assert not output.exists()
    output.write_text("keep me")
    assert _cli(run_folder, "--output", output, "--n-events", "3") == 2
    assert "received existing" in capsys.readouterr().err
    assert output.read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [output]


def test_python_m_ctgans_generate_reports_bad_input(tmp_path):
    command = [
        sys.executable,
        "-m",
        "ctgans.generate",
        str(tmp_path),
        "--output",
        str(tmp_path / "out.dl1.h5"),
        "--n-events",
        "0",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --n-events must be a positive integer; received 0"
    ]
    assert not (tmp_path / "out.dl1.h5").exists()


@pytest.mark.slow
def test_ctlearn_train_model_trains_on_a_generated_file(run_folder, tmp_path):
    import json
    import shutil
    import subprocess

    inputs = tmp_path / "in"
    inputs.mkdir()
    assert (
        _cli(
            run_folder,
            "--output",
            inputs / "gen.dl1.h5",
            "--n-events",
            "200",
            "--no-progress",
        )
        == 0
    )
    config = tmp_path / "ctlearn.json"
    config.write_text(
        json.dumps(
            {
                "TrainCTLearnModel": {
                    "model_type": "ResNet",
                    "n_epochs": 1,
                    "batch_size": 32,
                    "validation_split": 0.2,
                },
                "ResNet": {"architecture": [{"filters": 16, "blocks": 1}]},
                "DLImageReader": {
                    "channels": ["image"],
                    "allowed_tel_types": ["LST_MAGIC_MAGICCam"],
                },
                "BilinearMapper": {"interpolation_image_shape": 16},
                "TableQualityQuery": {"quality_criteria": []},
            }
        )
    )
    tool = shutil.which("ctlearn-train-model", path=str(Path(sys.executable).parent))
    output = tmp_path / "model"
    result = subprocess.run(
        [
            tool,
            "--signal",
            str(inputs),
            "--pattern-signal",
            "*.dl1.h5",
            "--reco",
            "energy",
            "--output",
            str(output),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # ctlearn writes its provenance log into the working folder
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (output / "ctlearn_model.keras").is_file()
    log = (output / "training_log.csv").read_text().splitlines()
    assert len(log) == 2 and "val_loss" in log[0]
