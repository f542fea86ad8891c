"""Generation in chunks and in parts: the same file whatever the workers.

The chunk size is made small (``CHUNK_EVENTS`` patched in the main process, where
the chunks are cut; workers only write what they are sent) so that a few dozen
events span several chunks and parts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dl1_files import (
    TEL_TYPE,
    assert_same_tables,
    close_reader,
    file_contents,
    mono_reader,
)
from smoke_configs import smoke_config


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, toy_pair) -> Path:
    """A finished 1-epoch run on the toy gammas (16x16, energy + cameradirection)."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("scalerun")
    return run(load_config(smoke_config(folder, toy_pair)), fresh=True)


@pytest.fixture
def small_chunks(monkeypatch):
    import ctgans.generate.chunks as chunks

    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 8)
    return 8


def _request(run_folder, output, **changes):
    from ctgans.generate import GenerateRequest

    settings = dict(
        n_events=27,
        energy_min=0.1,
        energy_max=10.0,
        direction="diffuse",
        radius_deg=1.0,
        seed=11,
        batch_size=5,
    )
    return GenerateRequest(run_folder, output, **{**settings, **changes})


def test_parts_merged_equal_the_file_written_in_one_piece(
    run_folder, tmp_path, small_chunks
):
    from ctgans.generate import generate

    one = generate(_request(run_folder, tmp_path / "one.dl1.h5", workers=1))
    parts = generate(_request(run_folder, tmp_path / "parts.dl1.h5", workers=3))
    assert one.n_events == parts.n_events == 27  # 4 chunks: 8 + 8 + 8 + 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.dl1.h5",
        "parts.dl1.h5",
    ]
    assert_same_tables(parts.path, one.path)
    attrs_parts, tables_parts = file_contents(parts.path)
    assert attrs_parts["CTGANS_GENERATED"] == "True"
    # one simulation row describing the whole file, not one per part
    run_rows = tables_parts["/configuration/simulation/run"][0]
    assert len(run_rows) == 1 and run_rows["n_showers"][0] == 27
    triggers = tables_parts["/dl1/event/subarray/trigger"][0]
    np.testing.assert_array_equal(triggers["event_id"], np.arange(27))
    # the images differ between chunks: each chunk has its own noise
    images = tables_parts["/dl1/event/telescope/images/tel_001"][0]["image"]
    assert not np.allclose(images[:4], images[4:8])


def test_chunks_grouped_into_parts_give_the_same_file(
    run_folder, tmp_path, monkeypatch
):
    """27 events in 9 chunks of 3 on 2 workers: parts of 2 chunks (the last one
    of 1), the file written in one piece."""
    import ctgans.generate.chunks as chunks
    import ctgans.generate.parts as parts
    from ctgans.generate import generate

    monkeypatch.setattr(chunks, "CHUNK_EVENTS", 3)
    assert parts.chunks_per_part(27, 2) == 2
    sizes = []
    grouped = parts.parts_of

    def spy(chunks_, size):
        for part in grouped(chunks_, size):
            sizes.append(sum(len(b.truth) for b in part.batches))
            yield part

    monkeypatch.setattr(parts, "parts_of", spy)
    one = generate(_request(run_folder, tmp_path / "one.dl1.h5", workers=1))
    two = generate(_request(run_folder, tmp_path / "parts.dl1.h5", workers=2))
    assert sizes == [6, 6, 6, 6, 3]
    assert_same_tables(two.path, one.path)


def test_chunks_per_part_keeps_every_worker_busy():
    from ctgans.generate.chunks import CHUNK_EVENTS
    from ctgans.generate.parts import MAX_CHUNKS_PER_PART, chunks_per_part

    assert chunks_per_part(1, 2) == 1
    assert chunks_per_part(8 * CHUNK_EVENTS, 2) == 2  # 4 parts of 2
    assert chunks_per_part(8 * CHUNK_EVENTS + 1, 2) == 2
    assert chunks_per_part(10**6, 2) == MAX_CHUNKS_PER_PART
    assert chunks_per_part(10**6, 200) == 1


def test_parts_of_groups_consecutive_chunks_in_order():
    from ctgans.generate.parts import Chunk, parts_of

    chunks = [Chunk(k, 10 * k, (f"b{k}a", f"b{k}b")) for k in range(5)]
    grouped = list(parts_of(iter(chunks), 2))
    assert [(c.index, c.start) for c in grouped] == [(0, 0), (2, 20), (4, 40)]
    assert grouped[0].batches == ("b0a", "b0b", "b1a", "b1b")
    assert grouped[2] is chunks[4]


def test_a_file_made_in_parts_is_read_back_with_the_requested_labels(
    run_folder, tmp_path, small_chunks
):
    from ctgans.generate import generate

    stats = generate(_request(run_folder, tmp_path / "gen.dl1.h5", workers=2))
    energy = stats.truth.energy_tev
    assert len(energy) == 27 and energy.min() >= 0.1 and energy.max() <= 10.0
    reader = mono_reader(stats.path)
    try:
        rows = reader.example_identifiers
        assert len(rows) == 27
        order = np.argsort(np.asarray(rows["event_id"]))
        np.testing.assert_array_equal(np.asarray(rows["event_id"])[order], range(27))
        np.testing.assert_allclose(
            np.asarray(rows["log_true_energy"])[order], np.log10(energy), atol=1e-5
        )
        for column in ("cam_coord_offset_x", "cam_coord_offset_y"):
            np.testing.assert_allclose(
                np.asarray(rows[column])[order], stats.labels[column], atol=1e-3
            )
        radius = np.hypot(
            stats.labels["cam_coord_offset_x"], stats.labels["cam_coord_offset_y"]
        )
        assert radius.max() <= np.tan(np.deg2rad(1.0)) * 17.24 + 1e-6
        batch = reader.generate_mono_batch(np.arange(len(rows)))
        assert batch["features"].shape == (27, 16, 16, 1)
        assert np.isfinite(batch["features"]).all()
    finally:
        close_reader(reader)


def test_copied_truth_cycles_over_the_file_across_chunks():
    from ctgans.generate.chunks import CopiedTruth
    from ctgans.generate.labels import Truth

    rows = np.arange(5.0)
    events = Truth(
        *(rows + 10 * i for i in range(7)),
        primary_id=np.zeros(5, np.int64),
        tel_id=np.ones(5, np.int64),
        obs_id=np.array([1, 1, 2, 2, 2]),
    )
    copied = CopiedTruth(events, n_events=12)
    np.testing.assert_array_equal(copied.chunk(1, 8, 12).energy_tev, [3, 4, 0, 1])
    np.testing.assert_array_equal(
        copied.chunk(0, 0, 8).energy_tev, [0, 1, 2, 3, 4, 0, 1, 2]
    )
    # 12 events = the 5 twice, then the first 2: obs 1 gets 2 + 2 + 2
    assert copied.obs_counts() == {1: 6, 2: 6}


def test_labels_copied_from_a_file_span_chunks_and_parts(
    run_folder, toy_pair, tmp_path, small_chunks
):
    from ctapipe.io import read_table

    from ctgans.data.reader import open_reader
    from ctgans.generate import GenerateRequest, generate
    from ctgans.generate.trained_run import open_run

    selected = open_reader(open_run(run_folder).data).example_identifiers[:12]
    stats = generate(
        GenerateRequest(
            run_folder,
            tmp_path / "copy.dl1.h5",
            n_events=12,
            labels_from=toy_pair["gamma"],
            workers=2,
        )
    )
    expected = np.asarray(selected["true_energy"])
    np.testing.assert_allclose(stats.truth.energy_tev, expected, rtol=1e-9)
    shower = read_table(stats.path, "/simulation/event/subarray/shower")
    np.testing.assert_allclose(np.asarray(shower["true_energy"]), expected, rtol=1e-6)
    run_rows = read_table(stats.path, "/configuration/simulation/run")
    assert list(run_rows["n_showers"]) == [12]


def test_a_failed_merge_leaves_nothing(run_folder, tmp_path, small_chunks, monkeypatch):
    from ctgans.exceptions import DataError
    from ctgans.generate import generate, parts

    calls = []

    class FailingMerger(parts.HDF5Merger):
        def __call__(self, other):
            calls.append(other)
            if len(calls) == 2:
                raise OSError("No space left on device")
            return super().__call__(other)

    monkeypatch.setattr(parts, "HDF5Merger", FailingMerger)
    output = tmp_path / "gen.dl1.h5"
    with pytest.raises(DataError, match="writing failed.*No space left"):
        generate(_request(run_folder, output, workers=2))
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_cli_workers_must_be_positive(tmp_path, capsys):
    from ctgans.generate.__main__ import main

    output = tmp_path / "out.dl1.h5"
    for value in ("0", "-2"):
        # refused before the run folder is even opened
        args = [str(tmp_path), "--output", str(output), "--n-events", "3"]
        assert main([*args, "--workers", value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: --workers must be a positive integer; received {value}"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctlearn_train_model_trains_on_a_file_made_in_parts(
    run_folder, tmp_path, small_chunks
):
    import json

    import ctgans.generate.chunks as chunks
    from ctgans.generate import generate

    chunks.CHUNK_EVENTS = 64  # the monkeypatch of small_chunks restores it
    inputs = tmp_path / "in"
    inputs.mkdir()
    stats = generate(
        _request(run_folder, inputs / "gen.dl1.h5", n_events=200, workers=2)
    )
    assert stats.n_events == 200
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
                    "allowed_tel_types": [TEL_TYPE],
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
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = (output / "training_log.csv").read_text().splitlines()
    assert len(log) == 2 and "val_loss" in log[0]
