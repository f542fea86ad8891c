"""The data pipeline on toy MAGIC files: stereo stacking, particle type, bad files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tables

from ctgans.config import load_config
from ctgans.data import prepare_dataset
from ctgans.data.reader import read_examples
from ctgans.exceptions import DataError


def _config(
    tmp_path, signal, background=(), extra="", labels="[energy, cameradirection]"
):
    cfg = tmp_path / "toy.yml"
    cfg.write_text(
        "data:\n"
        f"  signal: [{signal}]\n"
        f"  background: [{', '.join(str(b) for b in background)}]\n"
        "  mapper: {type: BilinearMapper, image_shape: 43}\n"
        f"  labels: {labels}\n"
        f"  cache_dir: {tmp_path / 'cache'}\n" + extra
    )
    return cfg


def test_stereo_events_stack_both_telescopes(tmp_path, toy_pair):
    cfg = load_config(_config(tmp_path, toy_pair["gamma"], extra="  mode: stereo\n"))
    stereo = read_examples(cfg.data)
    mono = read_examples(load_config(_config(tmp_path, toy_pair["gamma"])).data)
    assert stereo.images.shape[1:] == (2, 43, 43, 1)
    assert stereo.tel_ids == (1, 2)
    keys = stereo.events[["obs_id", "event_id"]]
    assert len(np.unique(keys)) == len(keys)  # one example per shower
    # each telescope image of the mono reading sits in its slot of the stereo event
    position = {int(e["event_id"]): i for i, e in enumerate(stereo.events)}
    for event, image in zip(mono.events, mono.images):
        slot = int(event["tel_id"]) - 1
        np.testing.assert_array_equal(
            stereo.images[position[int(event["event_id"])], slot], image
        )
    n_images = (np.abs(stereo.images).reshape(len(keys), 2, -1).sum(-1) > 0).sum()
    assert n_images == len(mono.images)
    assert len(mono.images) > len(keys)  # some showers seen by both telescopes
    with tables.open_file(str(toy_pair["gamma"])) as h5:
        shower = h5.root.simulation.event.subarray.shower.read()
    truth = dict(zip(shower["event_id"], np.log10(shower["true_energy"])))
    expected = [truth[e] for e in stereo.events["event_id"]]
    np.testing.assert_allclose(stereo.labels["log_true_energy"], expected, rtol=1e-6)


def test_particle_type_label_from_signal_and_background(tmp_path, toy_pair):
    path = _config(
        tmp_path, toy_pair["gamma"], [toy_pair["proton"]], labels="[type, energy]"
    )
    dataset = prepare_dataset(load_config(path).data, seed=0)
    assert dataset.label_columns == ("true_shower_primary_class", "log_true_energy")
    cls = dataset.labels[:, 0]
    assert set(np.unique(cls)) == {0.0, 1.0}
    file_index = dataset.events["file_index"]  # files sorted: gamma first
    assert np.all(cls[file_index == 0] == 1) and np.all(cls[file_index == 1] == 0)
    assert abs(dataset.labels[~dataset.is_validation, 1].mean()) < 1e-5


def test_selection_cuts_apply(tmp_path, toy_pair):
    loose = read_examples(load_config(_config(tmp_path, toy_pair["gamma"])).data)
    cut = (
        "  cuts: {hillas_intensity: {min: 200}, "
        "leakage_intensity_width_2: {max: 0.1}}\n"
    )
    strict = read_examples(
        load_config(_config(tmp_path, toy_pair["gamma"], extra=cut)).data
    )
    assert 0 < len(strict.images) < len(loose.images)
    with tables.open_file(str(toy_pair["gamma"])) as h5:
        params = {
            t: h5.get_node(f"/dl1/event/telescope/parameters/tel_00{t}").read()
            for t in (1, 2)
        }
    for event in strict.events:
        row = params[int(event["tel_id"])]
        row = row[row["event_id"] == event["event_id"]][0]
        assert row["hillas_intensity"] >= 200
        assert row["leakage_intensity_width_2"] <= 0.1


def _without_column(source, target, column):
    target.write_bytes(source.read_bytes())
    with tables.open_file(str(target), "a") as h5:
        for table in list(h5.root.dl1.event.telescope.images):
            data = table.read()
            names = [n for n in data.dtype.names if n != column]
            parent, name = table._v_parent, table.name
            table.remove()
            h5.create_table(parent, name, data[names])


@pytest.mark.parametrize(
    "case,fragment",
    [
        ("tel_id", "telescope id 3 is not a telescope of type LST_MAGIC_MAGICCam"),
        ("tel_type", "telescope type LST_LST_LSTCam not in the file"),
        ("channel", "channel peak_time needs column 'peak_time'"),
        ("cut_column", "cut column 'hillas_bogus' not in"),
        ("not_hdf5", "not an HDF5 file"),
        ("truncated", "unreadable HDF5"),
        ("empty", "no events pass the selection"),
    ],
)
def test_bad_files_give_one_line_exit_2_and_write_nothing(
    tmp_path, toy_pair, case, fragment
):
    signal = toy_pair["gamma"]
    extra = ""
    if case == "tel_id":
        extra = "  telescopes: {ids: [3]}\n"
    elif case == "tel_type":
        extra = "  telescopes: {types: [LST_LST_LSTCam]}\n"
    elif case == "channel":
        signal = tmp_path / "no_peak_time.dl1.h5"
        _without_column(toy_pair["gamma"], signal, "peak_time")
        extra = "  channels: [image, peak_time]\n"
    elif case == "cut_column":
        extra = "  cuts: {hillas_bogus: {min: 1}}\n"
    elif case == "not_hdf5":
        signal = tmp_path / "notes.dl1.h5"
        signal.write_text("not a DL1 file\n")
    elif case == "truncated":
        signal = tmp_path / "truncated.dl1.h5"
        data = toy_pair["gamma"].read_bytes()
        signal.write_bytes(data[: len(data) // 2])
    elif case == "empty":
        extra = "  cuts: {hillas_intensity: {min: 1000000000000}}\n"
    path = _config(tmp_path, signal, extra=extra)
    with pytest.raises(DataError, match=fragment):
        prepare_dataset(load_config(path).data, seed=0)
    result = subprocess.run(
        [sys.executable, "-m", "ctgans.data", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0] and str(signal) in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cache").exists()
