"""The data pipeline on real ctapipe 0.32 DL1 files (LST, from sim_telarray)."""

from __future__ import annotations

import numpy as np
import pytest
import tables

from ctgans.config import load_config
from ctgans.data.prepare import build_dataset
from ctgans.data.reader import open_reader, read_examples


def _lst_config(tmp_path, path, channels="[image, peak_time]", extra=""):
    cfg = tmp_path / "lst.yml"
    cfg.write_text(
        "data:\n"
        f"  signal: [{path}]\n"
        "  telescopes: {types: [LST_LST_LSTCam]}\n"
        f"  channels: {channels}\n"
        "  mapper: {type: BilinearMapper, image_shape: 55}\n"
        "  focal_length_choice: EQUIVALENT\n"
        "  labels: [energy, cameradirection, skydirection]\n"
        f"  cache_dir: {tmp_path / 'cache'}\n{extra}"
    )
    return load_config(cfg).data


def test_real_lst_file_labels_match_truth(tmp_path, lst_file):
    cfg = _lst_config(tmp_path, lst_file)
    examples = read_examples(cfg)
    with tables.open_file(str(lst_file)) as h5:
        shower = h5.root.simulation.event.subarray.shower.read()
        n_images = sum(
            len(t)
            for t in h5.root.dl1.event.telescope.images
            if t.name in {"tel_001", "tel_002", "tel_003", "tel_004"}
        )
    assert len(examples.images) == n_images == 4
    assert examples.images.shape[1:] == (55, 55, 2)
    truth = {int(e["event_id"]): e for e in shower}
    for i, event in enumerate(examples.events):
        true = truth[int(event["event_id"])]
        assert examples.labels["log_true_energy"][i] == pytest.approx(
            np.log10(true["true_energy"])
        )
    # 1.30 TeV gamma (data README)
    assert 10 ** examples.labels["log_true_energy"][0] == pytest.approx(1.30, abs=0.01)
    # the source direction in the field of view and in the camera agree:
    # offset [m] ~ focal length * offset angle [rad]
    fov = np.hypot(examples.labels["fov_lon"], examples.labels["fov_lat"])
    cam = np.hypot(
        examples.labels["cam_coord_offset_x"], examples.labels["cam_coord_offset_y"]
    )
    focal = 28.0  # LST equivalent focal length, m
    np.testing.assert_allclose(cam, focal * np.deg2rad(fov), rtol=0.05)


def test_bulk_mapping_equals_dl1_data_handler_per_event(tmp_path, lst_file_2):
    cfg = _lst_config(tmp_path, lst_file_2)
    examples = read_examples(cfg)
    reader = open_reader(cfg)
    try:
        batch = reader.generate_mono_batch(list(range(len(examples.images))))
        expected = np.asarray(batch["features"])
        keys = list(zip(batch["event_id"], batch["tel_id"]))
    finally:
        for handle in reader.files.values():
            handle.close()
    ours = {
        (e["event_id"], e["tel_id"]): img
        for e, img in zip(examples.events, examples.images)
    }
    assert len(keys) == len(ours) == 10
    for key, image in zip(keys, expected):
        np.testing.assert_array_equal(ours[key], image)
    assert np.abs(expected[..., 0]).sum() > 0  # not a blank image comparison


def test_real_file_normalisation_round_trips(tmp_path, lst_file_2):
    cfg = _lst_config(tmp_path, lst_file_2)
    examples = read_examples(cfg)
    dataset = build_dataset(cfg, seed=0)
    assert np.abs(dataset.images[..., 0]).max() <= 1.0 + 1e-6
    restored = dataset.normalization.inverse(dataset.images)
    np.testing.assert_allclose(restored, examples.images, rtol=1e-5, atol=1e-4)
    labels = dataset.label_scaler.inverse(dataset.labels)
    for column, values in examples.labels.items():
        np.testing.assert_allclose(labels[column], values, rtol=1e-5, atol=1e-6)
