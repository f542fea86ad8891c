"""``python -m ctgans.evaluate --reference FILE...``: held-out simulation read with
the run's selection, and the one-line refusal of files that cannot stand for it.

Fast: the run folder is written by hand (settings, normalisation, an empty
``generator.keras``): the reference files are checked before the generator loads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tables
import yaml
from conftest import LST_FILE
from smoke_configs import PROJECT

TEL_TYPE = "LST_MAGIC_MAGICCam"


def _run_folder(folder, signal, cuts):
    """A run folder with what :func:`~ctgans.generate.trained_run.open_run` reads."""
    folder.mkdir(parents=True)
    data = {
        "signal": [str(signal)],
        "background": [],
        "tel_types": [TEL_TYPE],
        "tel_ids": None,
        "mode": "mono",
        "channels": ["image"],
        "mapper": "BilinearMapper",
        "image_shape": 16,
        "cuts": cuts,
        "labels": ["energy"],
        "cache_dir": str(folder / "cache"),
    }
    (folder / "config.yml").write_text(yaml.safe_dump({"data": data, "seed": 0}))
    meta = {
        "cache": str(folder / "cache" / "gone.h5"),
        "image_shape": [16, 16, 1],
        "tel_ids": [1, 2],
        "normalization": {
            "channels": ["image"],
            "transforms": [{"kind": "signed_log", "a": 1.0, "b": 7.0}],
        },
        "label_scaler": {"columns": ["log_true_energy"], "mean": [-0.7], "std": [0.5]},
    }
    (folder / "dataset.json").write_text(json.dumps(meta))
    (folder / "generator.keras").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, toy_pair):
    root = tmp_path_factory.mktemp("refruns")
    intensity = [{"column": "hillas_intensity", "min": 50.0, "max": None}]
    impossible = [{"column": "hillas_intensity", "min": 1e9, "max": None}]
    return {
        "run": _run_folder(root / "run", toy_pair["gamma"], intensity),
        "strict": _run_folder(root / "strict", toy_pair["gamma"], impossible),
    }


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    """A held-out toy gamma file: another seed than the training file."""
    from ctgans.simulate import SimulationSettings, simulate

    path = tmp_path_factory.mktemp("ref") / "gamma_reference.dl1.h5"
    simulate(SimulationSettings(particle="gamma", n_events=400, seed=77), path)
    return path


def _main(*args):
    from ctgans.evaluate.__main__ import main

    return main([str(a) for a in args])


def test_bad_reference_files_exit_2_with_one_line_and_write_nothing(
    runs, reference_file, toy_pair, tmp_path, capsys
):
    copy = tmp_path / "copy_of_training.dl1.h5"
    shutil.copy(toy_pair["gamma"], copy)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    generated = tmp_path / "generated.dl1.h5"
    shutil.copy(reference_file, generated)
    with tables.open_file(str(generated), "a") as h5:
        h5.root._v_attrs.CTGANS_GENERATED = True
    run, strict = runs["run"], runs["strict"]
    output = tmp_path / "report"
    cases = [
        (run, tmp_path / "missing.h5", "file does not exist"),
        (run, text, "not an HDF5 file"),
        (strict, reference_file, "no events pass the selection"),
        (run, toy_pair["gamma"], "the run's training file"),
        (run, copy, "the run's training file"),
        (run, toy_pair["proton"], "simulated proton; the run was trained on gamma"),
        (run, generated, "written by ctgans.generate"),
    ]
    if LST_FILE.is_file():  # another camera (real LST data, ../shared)
        cases.append((run, LST_FILE, f"telescope type {TEL_TYPE} not in the file"))
    for folder, reference, message in cases:
        assert _main(folder, "--output", output, "--reference", reference) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith("error:") and message in err[0], (message, err)
        assert not output.exists()
    assert not (run / "cache").exists() and not (strict / "cache").exists()


def test_help_documents_reference():
    result = subprocess.run(
        [sys.executable, "-m", "ctgans.evaluate", "--help"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "--reference FILE [FILE ...]" in text
    assert "never used in training" in text and "validation split" in text


def test_reference_is_read_with_the_runs_selection_and_cached(
    runs, reference_file, toy_pair
):
    """Every example held out, the run's cut applied, the run's normalisation
    and label scaling (not refitted); the second read comes from the cache."""
    import dataclasses

    from ctgans.data.reader import read_examples
    from ctgans.data.reference import (
        check_reference_files,
        prepare_reference,
        reference_config,
    )
    from ctgans.generate.trained_run import open_run

    run = open_run(runs["run"])
    check_reference_files(run.data, (reference_file,))
    cfg = dataclasses.replace(
        reference_config(run.data, (reference_file,)), cache_dir=runs["run"] / "c"
    )
    assert cfg.signal == (reference_file,) and cfg.background == ()
    sample = prepare_reference(cfg, run.normalization, run.label_scaler, (1, 2))
    assert sample.is_validation.all() and len(sample.events) > 50
    raw = read_examples(cfg)
    with tables.open_file(str(reference_file)) as h5:
        intensity = np.concatenate(
            [
                h5.get_node(f"/dl1/event/telescope/parameters/tel_00{t}").col(
                    "hillas_intensity"
                )
                for t in (1, 2)
            ]
        )
    assert len(sample.events) == np.count_nonzero(intensity >= 50.0)
    np.testing.assert_allclose(
        sample.images, run.normalization.forward(raw.images), rtol=1e-6
    )
    np.testing.assert_allclose(
        sample.labels[:, 0], (raw.labels["log_true_energy"] + 0.7) / 0.5, rtol=1e-6
    )
    again = prepare_reference(cfg, run.normalization, run.label_scaler, (1, 2))
    assert again.path == sample.path and again.path.is_file()
    np.testing.assert_array_equal(again.images, sample.images)
