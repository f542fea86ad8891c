"""The batched DL1 writer: the file ctapipe's per-event path writes, faster.

Writer-level tests build events from toy images (no training): mono events on
alternating telescopes and two observations, stereo events with absent
telescopes, several batches with a timing-fit seed each. The run-level tests
compare whole generated files (``generate``) and read them back with
dl1-data-handler.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from dl1_files import (
    INDEX,
    assert_same_tables,
    close_reader,
    file_contents,
    mono_reader,
)
from smoke_configs import smoke_config

PARAMETERS = "/dl1/event/telescope/parameters/"


def assert_default_parameters(path: Path) -> None:
    """Every parameter of every image is ctapipe's default (not parametrised)."""
    import tables
    from ctapipe.containers import ImageParametersContainer

    defaults = {
        name: value
        for container in ImageParametersContainer().values()
        for name, value in container.items(add_prefix=True)
    }
    with tables.open_file(str(path)) as h5:
        for table in h5.get_node(PARAMETERS):
            rows = table.read()
            assert len(rows) > 0
            for name in set(rows.dtype.names) - set(INDEX):
                expected = np.asarray(getattr(defaults[name], "value", defaults[name]))
                np.testing.assert_array_equal(
                    rows[name], np.full(len(rows), expected), err_msg=name
                )


# Writer level -----------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_events(toy_pair):
    """Reference (observations 1 and 2), toy images and a truth maker."""
    from ctapipe.io import read_table

    from ctgans.config import DataConfig
    from ctgans.generate.labels import sample_truth
    from ctgans.generate.reference import read_reference

    path = toy_pair["gamma"]
    reference = read_reference(path, DataConfig(signal=(path,)), [1, 2])
    # A second observation, pointed alike: its first events bring new pointing rows.
    pointing = {(2, t): v for (_, t), v in reference.tel_pointing.items()}
    reference = replace(
        reference,
        tel_pointing={**reference.tel_pointing, **pointing},
        simulation_config={
            **reference.simulation_config,
            2: reference.simulation_config[1],
        },
    )
    images = {
        tel: np.asarray(
            read_table(path, f"/dl1/event/telescope/images/tel_{tel:03d}")["image"],
            np.float32,
        )
        for tel in (1, 2)
    }

    def truth(n, seed):
        return sample_truth(
            n,
            reference,
            [1, 2],
            np.random.default_rng(seed),
            (0.1, 10.0),
            -2.0,
            "diffuse",
            1.0,
            0,
        )

    return reference, images, truth


def _mono_batches(toy_events):
    from ctgans.generate.writer import EventBatch

    reference, images, truth = toy_events
    batches = []
    for k, (first, n) in enumerate(((0, 12), (12, 9), (21, 10))):
        rows = truth(n, k)
        if k == 2:  # a later batch changes observation half way
            rows = replace(rows, obs_id=np.where(np.arange(n) < 4, 1, 2))
        charge = images[1][first : first + n] * (1.0 + 0.1 * k)
        peak = np.linspace(0, 20, charge.size, dtype=np.float32).reshape(charge.shape)
        seed = np.random.SeedSequence([9, k]) if k != 1 else None
        batches.append(EventBatch(rows, charge, peak, fit_seed=seed))
    return reference, batches


def _untimed_mono_batches(toy_events):
    """The mono batches of a generator without a time channel (peak_time None)."""
    reference, batches = _mono_batches(toy_events)
    return reference, [replace(batch, peak_time=None) for batch in batches]


def _stereo_batches(toy_events):
    from ctgans.generate.writer import EventBatch

    reference, images, truth = toy_events
    rng = np.random.default_rng(4)
    batches = []
    for k, (first, n) in enumerate(((0, 10), (10, 13))):
        both = np.stack(
            [images[1][first : first + n], images[2][first : first + n]], axis=1
        )
        present = rng.random((n, 2)) < 0.7
        present[~present.any(axis=1), 0] = True
        present[0] = (k != 0, True)  # telescope 2 comes first in the file
        peak = np.abs(rng.normal(10, 3, both.shape)).astype(np.float32)
        batches.append(
            EventBatch(
                truth(n, 10 + k),
                both,
                peak,
                (1, 2),
                present,
                fit_seed=np.random.SeedSequence([7, k]),
            )
        )
    return reference, batches


@pytest.mark.parametrize(
    "make", [_mono_batches, _untimed_mono_batches, _stereo_batches]
)
def test_batched_writer_writes_what_the_per_event_path_writes(
    toy_events, tmp_path, make
):
    from ctgans.generate.writer import GeneratedEventSource, write_generated

    files, counts = {}, []
    for per_event in (True, False):
        reference, batches = make(toy_events)
        path = tmp_path / f"per_event_{per_event}.dl1.h5"
        source = GeneratedEventSource(reference, batches, first_event_id=5)
        done = []
        n = write_generated(
            source, path, seed=2, per_event=per_event, progress=done.append
        )
        counts.append((n, sum(done)))
        files[per_event] = path
    n_events = sum(len(b.truth) for b in make(toy_events)[1])
    assert counts == [(n_events, n_events)] * 2
    assert_same_tables(files[False], files[True])
    _, contents = file_contents(files[False])
    ids = contents["/dl1/event/subarray/trigger"][0]["event_id"]
    np.testing.assert_array_equal(ids, 5 + np.arange(n_events))
    # The images were parametrised: most have a finite intensity.
    intensity = contents[f"{PARAMETERS}tel_001"][0]["hillas_intensity"]
    assert np.isfinite(intensity).mean() > 0.5


def test_images_without_times_are_written_as_zero_and_not_timed(toy_events, tmp_path):
    """No peak times: the images table holds 0, the timing parameters are
    ctapipe's defaults for an image without times (NaN), the others those of the
    same images with times."""
    from ctgans.generate.writer import GeneratedEventSource, write_generated

    contents = {}
    for make in (_mono_batches, _untimed_mono_batches):
        reference, batches = make(toy_events)
        path = tmp_path / f"{make.__name__}.dl1.h5"
        write_generated(GeneratedEventSource(reference, batches), path, seed=2)
        contents[make] = file_contents(path)[1]
    timed, untimed = contents[_mono_batches], contents[_untimed_mono_batches]
    for tel in ("tel_001", "tel_002"):
        images = untimed[f"/dl1/event/telescope/images/{tel}"][0]
        assert np.all(images["peak_time"] == 0)
        rows, rows_timed = (c[f"{PARAMETERS}{tel}"][0] for c in (untimed, timed))
        parametrised = np.isfinite(rows["hillas_intensity"])
        assert parametrised.any()
        for name in ("timing_slope", "timing_intercept", "peak_time_mean"):
            assert np.all(np.isnan(rows[name])), name
            assert np.isfinite(rows_timed[name][parametrised]).all(), name
        for name in ("hillas_intensity", "hillas_psi", "morphology_n_islands"):
            np.testing.assert_array_equal(rows[name], rows_timed[name], err_msg=name)


def test_without_parameters_images_and_masks_stay_and_parameters_are_defaults(
    toy_events, tmp_path
):
    from ctgans.generate.writer import GeneratedEventSource, write_generated

    paths = {}
    for parameters in (True, False):
        reference, batches = _stereo_batches(toy_events)
        paths[parameters] = tmp_path / f"parameters_{parameters}.dl1.h5"
        source = GeneratedEventSource(reference, batches)
        write_generated(source, paths[parameters], seed=2, parameters=parameters)
    assert_same_tables(paths[False], paths[True], but=[PARAMETERS])
    assert_default_parameters(paths[False])


def test_per_event_writing_needs_the_parameters(tmp_path):
    from ctgans.exceptions import ConfigError
    from ctgans.generate import GenerateRequest

    with pytest.raises(ConfigError, match="per_event writes the DL1 parameters"):
        GenerateRequest(
            tmp_path, tmp_path / "x.h5", n_events=3, parameters=False, per_event=True
        )


def test_cli_parameters_option():
    from ctgans.generate.__main__ import _parser

    base = ["run", "--output", "out.h5", "--n-events", "3"]
    assert _parser().parse_args(base).parameters is True
    assert _parser().parse_args([*base, "--no-parameters"]).parameters is False


# Run level --------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, toy_pair) -> Path:
    """A finished 1-epoch run on the toy gammas (16x16, energy + cameradirection)."""
    from ctgans.config import load_config
    from ctgans.train.run import run

    folder = tmp_path_factory.mktemp("batchedrun")
    return run(load_config(smoke_config(folder, toy_pair)), fresh=True)


@pytest.fixture(scope="module")
def generated(run_folder, tmp_path_factory):
    """50 events (3 chunks of 20, batches of 7) per writer: per event, batched,
    batched without parameters, and without parameters in 2 worker processes."""
    import ctgans.generate.chunks as chunks
    from ctgans.generate import GenerateRequest, generate

    folder = tmp_path_factory.mktemp("batched")
    arms = {
        "per_event": {"per_event": True},
        "batched": {},
        "no_parameters": {"parameters": False},
        "no_parameters_parts": {"parameters": False, "workers": 2},
    }
    saved, chunks.CHUNK_EVENTS = chunks.CHUNK_EVENTS, 20
    try:
        return {
            name: generate(
                GenerateRequest(
                    run_folder,
                    folder / f"{name}.dl1.h5",
                    n_events=50,
                    seed=4,
                    batch_size=7,
                    **changes,
                )
            )
            for name, changes in arms.items()
        }
    finally:
        chunks.CHUNK_EVENTS = saved


def test_generated_file_is_the_per_event_file(generated):
    assert generated["batched"].n_events == 50
    assert_same_tables(generated["batched"].path, generated["per_event"].path)


def test_generated_file_without_parameters(generated):
    expected = generated["per_event"].path
    for name in ("no_parameters", "no_parameters_parts"):
        path = generated[name].path
        assert_same_tables(path, expected, but=[PARAMETERS])
        assert_default_parameters(path)


@pytest.mark.parametrize("name", ["batched", "no_parameters"])
def test_dl1_data_handler_reads_the_labels_of_a_batched_file(generated, name):
    stats = generated[name]
    reader = mono_reader(stats.path)
    try:
        rows = reader.example_identifiers
        assert len(rows) == 50
        order = np.argsort(np.asarray(rows["event_id"]))
        np.testing.assert_allclose(
            np.asarray(rows["log_true_energy"])[order],
            np.log10(stats.truth.energy_tev),
            atol=1e-5,
        )
        for column in ("cam_coord_offset_x", "cam_coord_offset_y"):
            np.testing.assert_allclose(
                np.asarray(rows[column])[order], stats.labels[column], atol=1e-3
            )
        features = reader.generate_mono_batch(np.arange(8))["features"]
        assert features.shape == (8, 16, 16, 1) and np.isfinite(features).all()
    finally:
        close_reader(reader)
