"""The data pipeline on toy MAGIC files: stereo stacking, particle type, bad files."""

from __future__ import annotations

import numpy as np
import tables

from ctgans.config import load_config
from ctgans.data import prepare_dataset
from ctgans.data.reader import read_examples


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


# Bad DL1 files (telescope, channel, cut column, not HDF5, truncated, empty
# selection) are in the bad-input table, tests/test_bad_inputs.py.
