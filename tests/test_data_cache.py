"""Normalisation inverses, the on-disk cache, the split and the tf.data chain."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ctgans.data.prepare as prepare
from ctgans.config import load_config
from ctgans.data import ImageNormalization, LabelScaler, prepare_dataset
from ctgans.data.prepare import split_by_event


def test_signed_log_and_standard_transforms_invert_exactly():
    rng = np.random.default_rng(1)
    charge = np.concatenate([rng.normal(0, 1, 500), rng.lognormal(3, 2, 500)])
    time = rng.normal(20, 5, 1000)
    images = np.stack([charge, time], axis=-1).reshape(10, 10, 10, 2).astype(np.float32)
    norm = ImageNormalization.fit(images, ("image", "peak_time"), scale_pe=1.0)
    net = norm.forward(images)
    assert np.abs(net[..., 0]).max() == pytest.approx(1.0)
    assert net[..., 1].mean() == pytest.approx(0.0, abs=1e-5)
    assert net[..., 1].std() == pytest.approx(1.0, abs=1e-4)
    again = ImageNormalization.from_json(norm.to_json())
    np.testing.assert_allclose(again.inverse(net), images, rtol=2e-6, atol=1e-5)
    # negative charges (pedestal-subtracted noise) keep their sign
    assert np.all(np.sign(net[..., 0]) == np.sign(images[..., 0]))
    # time channels scaled down to the charge channel's noise level, still exact
    small = ImageNormalization.fit(images, ("image", "peak_time"), 1.0, time_std=0.1)
    assert small.forward(images)[..., 1].std() == pytest.approx(0.1, abs=1e-5)
    np.testing.assert_allclose(
        small.inverse(small.forward(images)), images, rtol=2e-6, atol=1e-5
    )


def test_time_std_changes_the_cache_key_only_when_set():
    import hashlib
    import json
    from dataclasses import asdict, replace

    from ctgans.config import DataConfig

    default = DataConfig(signal=())
    # At its default the key is the hash of the settings without time_std, as
    # before the setting existed, so earlier caches stay valid.
    state = asdict(default)
    for key in ("cache_dir", "toy_dataset", "time_std", "in_memory"):
        state.pop(key)
    before = hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode())
    assert default.fingerprint() == before.hexdigest()
    assert replace(default, time_std=0.1).fingerprint() != default.fingerprint()
    # How the cache is fed does not change what it holds.
    assert replace(default, in_memory="false").fingerprint() == default.fingerprint()


def test_label_scaler_standardises_and_keeps_particle_class():
    labels = {
        "log_true_energy": np.array([-1.0, 0.0, 1.0, 2.0]),
        "true_shower_primary_class": np.array([0.0, 1.0, 1.0, 0.0]),
    }
    scaler = LabelScaler.fit(labels, ("log_true_energy", "true_shower_primary_class"))
    matrix = scaler.forward(labels)
    assert matrix[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert matrix[:, 0].std() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(matrix[:, 1], labels["true_shower_primary_class"])
    back = LabelScaler.from_json(scaler.to_json()).inverse(matrix)
    np.testing.assert_allclose(
        back["log_true_energy"], labels["log_true_energy"], atol=1e-6
    )


def test_split_keeps_telescopes_of_one_event_together():
    events = np.zeros(
        40,
        dtype=[(c, np.int64) for c in ("file_index", "obs_id", "event_id", "tel_id")],
    )
    events["event_id"] = np.repeat(np.arange(10), 4)
    events["tel_id"] = np.tile(np.arange(1, 5), 10)
    val = split_by_event(events, 0.3, seed=7)
    assert val.sum() == 12
    per_event = val.reshape(10, 4)
    assert np.all(per_event.all(axis=1) | ~per_event.any(axis=1))
    np.testing.assert_array_equal(val, split_by_event(events, 0.3, seed=7))
    assert not np.array_equal(val, split_by_event(events, 0.3, seed=8))


@pytest.fixture
def counting_build(monkeypatch):
    calls = []
    original = prepare.build_cache

    def build(cfg, seed, *args, **kwargs):
        calls.append(cfg)
        return original(cfg, seed, *args, **kwargs)

    monkeypatch.setattr(prepare, "build_cache", build)
    return calls


def _cfg(tmp_path, path, intensity_min=0):
    cfg = tmp_path / "lst.yml"
    cfg.write_text(
        "data:\n"
        f"  signal: [{path}]\n"
        "  telescopes: {types: [LST_LST_LSTCam]}\n"
        "  mapper: {type: BilinearMapper, image_shape: 24}\n"
        "  focal_length_choice: EQUIVALENT\n"
        f"  cuts: {{hillas_intensity: {{min: {intensity_min}}}}}\n"
        "  validation_fraction: 0.34\n"
        f"  cache_dir: {tmp_path / 'cache'}\n"
    )
    return load_config(cfg).data


def test_cache_reused_then_rebuilt_on_config_or_file_change(
    tmp_path, lst_file_2, counting_build
):
    data_file = tmp_path / "copy.dl1.h5"
    data_file.write_bytes(lst_file_2.read_bytes())
    cfg = _cfg(tmp_path, data_file)
    first = prepare_dataset(cfg, seed=0)
    assert len(counting_build) == 1 and first.path.is_file()
    second = prepare_dataset(cfg, seed=0)
    assert len(counting_build) == 1  # reused
    assert second.path == first.path
    np.testing.assert_array_equal(second.images, first.images)
    np.testing.assert_array_equal(second.labels, first.labels)
    np.testing.assert_array_equal(second.is_validation, first.is_validation)

    stricter = _cfg(tmp_path, data_file, intensity_min=10**9)
    with pytest.raises(Exception, match="no events pass the selection"):
        prepare_dataset(stricter, seed=0)
    assert len(counting_build) == 2  # config change -> rebuild attempted

    prepare_dataset(cfg, seed=1)  # another split seed -> another cache
    assert len(counting_build) == 3

    stat = data_file.stat()
    os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = prepare_dataset(cfg, seed=0)
    assert len(counting_build) == 4  # the file changed -> rebuild
    assert third.path != first.path
    leftovers = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_tf_dataset_batches_have_configured_shapes(tmp_path, lst_file_2):
    from ctgans.data.pipeline import make_tf_dataset, train_and_validation

    dataset = prepare_dataset(_cfg(tmp_path, lst_file_2), seed=0)
    train, validation = train_and_validation(dataset, batch_size=3, seed=0)
    batches = list(train)
    n_train = int((~dataset.is_validation).sum())
    assert len(batches) == n_train // 3
    for images, labels in batches:
        assert tuple(images.shape) == (3, 24, 24, 1)
        assert tuple(labels.shape) == (3, 3)
    n_val = sum(len(images) for images, _ in validation)
    assert n_val == int(dataset.is_validation.sum())

    images = np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1)
    labels = np.arange(20, dtype=np.float32).reshape(20, 1)
    ds = make_tf_dataset(images, labels, batch_size=5, seed=3)
    epoch1 = np.concatenate([b[1].numpy().ravel() for b in ds])
    epoch2 = np.concatenate([b[1].numpy().ravel() for b in ds])
    assert sorted(epoch1) == list(range(20))  # every example once per epoch
    assert not np.array_equal(epoch1, epoch2)  # reshuffled each epoch
    for x, y in ds:
        np.testing.assert_array_equal(x.numpy().ravel(), y.numpy().ravel())
    again = make_tf_dataset(images, labels, batch_size=5, seed=3)
    np.testing.assert_array_equal(
        epoch1, np.concatenate([b[1].numpy().ravel() for b in again])
    )
