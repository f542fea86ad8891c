"""Data at scale: the chunked cache build, the memory budget, feeding from disk."""

from __future__ import annotations

import numpy as np
import pytest

from ctgans.config import load_config
from ctgans.data import cache as cache_module
from ctgans.data.build import build_cache
from ctgans.data.cache import DiskImages, keep_in_memory, read_cache
from ctgans.data.prepare import build_dataset, split_by_event

SEED = 3


def _data_config(tmp_path, toy_pair, extra=""):
    cfg = tmp_path / "toy.yml"
    cfg.write_text(
        "data:\n"
        f"  signal: [{toy_pair['gamma']}]\n"
        f"  background: [{toy_pair['proton']}]\n"
        "  mapper: {type: BilinearMapper, image_shape: 43}\n"
        "  labels: [type, energy, cameradirection]\n"
        "  validation_fraction: 0.2\n"
        f"  cache_dir: {tmp_path / 'cache'}\n" + extra
    )
    return load_config(cfg).data


def _assert_same(chunked, memory):
    for name in ("images", "labels", "events", "is_validation"):
        a, b = getattr(chunked, name), getattr(memory, name)
        assert a.shape == b.shape, name
        assert np.array_equal(a, b), name
    assert chunked.physical_labels.keys() == memory.physical_labels.keys()
    for key, values in memory.physical_labels.items():
        assert np.array_equal(chunked.physical_labels[key], values), key
    assert chunked.tel_ids == memory.tel_ids
    assert chunked.label_scaler == memory.label_scaler
    for got, want in zip(
        chunked.normalization.transforms, memory.normalization.transforms
    ):
        assert got.kind == want.kind
        assert got.a == pytest.approx(want.a, rel=1e-12, abs=1e-12)
        assert got.b == pytest.approx(want.b, rel=1e-12)


@pytest.mark.parametrize(
    "mode, channels, chunk",
    [
        ("mono", "[image]", 97),
        ("mono", "[image, peak_time]", 64),
        ("stereo", "[image, peak_time]", 30),
    ],
)
def test_chunked_build_gives_the_arrays_of_the_in_memory_build(
    tmp_path, toy_pair, mode, channels, chunk
):
    cfg = _data_config(tmp_path, toy_pair, f"  mode: {mode}\n  channels: {channels}\n")
    memory = build_dataset(cfg, SEED)
    assert len(memory.images) > 3 * chunk  # several chunks, the last one partial
    path = tmp_path / "chunked.h5"
    build_cache(cfg, SEED, path, split_by_event, chunk_size=chunk)
    _assert_same(read_cache(path), memory)
    # The charge peak is the same number whatever the chunks; time moments too.
    whole = tmp_path / "one_chunk.h5"
    build_cache(cfg, SEED, whole, split_by_event, chunk_size=10**6)
    assert read_cache(whole).normalization == read_cache(path).normalization
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []


def test_chunked_build_check_refusal_leaves_no_file(tmp_path, toy_pair):
    cfg = _data_config(tmp_path, toy_pair)
    path = tmp_path / "refused.h5"
    seen = []

    def refuse(dataset):
        seen.append(len(dataset.images))
        raise ValueError("no")

    with pytest.raises(ValueError):
        build_cache(cfg, SEED, path, split_by_event, refuse, chunk_size=128)
    assert seen and seen[0] > 0
    assert list(tmp_path.glob("*.h5*")) == []


def test_memory_budget_of_in_memory_auto():
    gb = 10**9
    assert keep_in_memory("auto", 2 * gb, memory=8 * gb)
    assert not keep_in_memory("auto", 2 * gb + 1, memory=8 * gb)
    assert keep_in_memory("true", 100 * gb, memory=8 * gb)
    assert not keep_in_memory("false", 1, memory=8 * gb)
    assert cache_module.MEMORY_FRACTION == 0.25


def test_disk_images_index_like_the_array(tmp_path, toy_pair, monkeypatch):
    cfg = _data_config(tmp_path, toy_pair)
    path = tmp_path / "c.h5"
    build_cache(cfg, SEED, path, split_by_event, chunk_size=500)
    memory = read_cache(path).images
    on_disk = read_cache(path, "false").images
    assert isinstance(on_disk, DiskImages)
    assert on_disk.shape == memory.shape and on_disk.ndim == memory.ndim
    assert all(type(s) is int for s in on_disk.shape)  # JSON-writable
    monkeypatch.setattr(DiskImages, "READ_ROWS", 7)
    rng = np.random.default_rng(0)
    mask = rng.random(len(memory)) < 0.3
    rows = rng.permutation(len(memory))[:50]
    for key in (mask, rows, slice(10, 40), 5, (rows, 3)):
        assert np.array_equal(on_disk[key], memory[key])
    assert np.array_equal(np.asarray(on_disk), memory)


# --- feeding from disk ---


def _numbered_cache(tmp_path, n=1000, val_every=7):
    """A cache whose image i is filled with i and whose label row i is (i, -i)."""
    from ctgans.data.cache import CachedDataset, write_cache
    from ctgans.data.normalize import ImageNormalization, LabelScaler

    events = np.zeros(
        n, [(c, np.int64) for c in ("file_index", "obs_id", "event_id", "tel_id")]
    )
    events["event_id"] = np.arange(n)
    physical = {"a": np.arange(n, dtype=np.float64), "b": -np.arange(n, dtype=float)}
    dataset = CachedDataset(
        path=None,
        images=np.broadcast_to(
            np.arange(n, dtype=np.float32)[:, None, None, None], (n, 5, 5, 1)
        ).copy(),
        labels=np.stack([physical["a"], physical["b"]], 1).astype(np.float32),
        physical_labels=physical,
        events=events,
        is_validation=np.arange(n) % val_every == 0,
        normalization=ImageNormalization(("image",), ()),
        label_scaler=LabelScaler(("a", "b"), (0.0, 0.0), (1.0, 1.0)),
        tel_ids=(1,),
    )
    path = tmp_path / "numbered.h5"
    write_cache(path, dataset)
    return read_cache(path, "false")


def _epochs(stream, n_epochs=2):
    """Per epoch, the list of batches as arrays of example numbers."""
    out = []
    for _ in range(n_epochs):
        epoch = []
        for images, labels in stream:
            ids = images.numpy()[:, 0, 0, 0].astype(np.int64)
            assert np.array_equal(labels.numpy()[:, 0], ids)  # labels follow
            assert images.numpy().min(axis=(1, 2, 3)).tolist() == ids.tolist()
            epoch.append(ids)
        out.append(epoch)
    return out


def _disk(dataset, seed, **kwargs):
    from ctgans.data.disk_pipeline import make_disk_dataset

    kwargs = {"chunk_examples": 64, "shuffle_buffer": 100, **kwargs}
    rows = np.flatnonzero(~dataset.is_validation)
    return make_disk_dataset(dataset.images, dataset.labels, rows, 32, seed, **kwargs)


def test_disk_feeding_every_example_once_per_epoch(tmp_path):
    dataset = _numbered_cache(tmp_path)
    train = np.flatnonzero(~dataset.is_validation)
    first, second = _epochs(_disk(dataset, 5, drop_remainder=False))
    for epoch in (first, second):
        seen = np.concatenate(epoch)
        assert len(seen) == len(train)
        assert np.array_equal(np.sort(seen), train)
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    # Examples of one chunk are spread out: not read in cache order.
    assert not np.array_equal(np.concatenate(first), np.sort(np.concatenate(first)))
    # drop_remainder: full batches only, still no example twice.
    batches = _epochs(_disk(dataset, 5), 1)[0]
    seen = np.concatenate(batches)
    assert {len(b) for b in batches} == {32}
    assert len(seen) == len(train) // 32 * 32 == len(set(seen.tolist()))


def test_disk_feeding_same_seed_same_batches_other_seed_others(tmp_path):
    dataset = _numbered_cache(tmp_path)
    a = _epochs(_disk(dataset, 5))
    b = _epochs(_disk(dataset, 5))
    c = _epochs(_disk(dataset, 6))
    assert all(np.array_equal(x, y) for ea, eb in zip(a, b) for x, y in zip(ea, eb))
    assert not all(np.array_equal(x, y) for ea, ec in zip(a, c) for x, y in zip(ea, ec))


def test_disk_feeding_without_shuffle_is_cache_order(tmp_path):
    dataset = _numbered_cache(tmp_path)
    val = np.flatnonzero(dataset.is_validation)
    from ctgans.data.disk_pipeline import make_disk_dataset

    stream = make_disk_dataset(
        dataset.images,
        dataset.labels,
        val,
        10,
        0,
        shuffle=False,
        drop_remainder=False,
        chunk_examples=16,
    )
    assert np.array_equal(np.concatenate(_epochs(stream, 1)[0]), val)


def test_disk_feeding_shards_by_chunk_disjoint_and_equal(tmp_path):
    dataset = _numbered_cache(tmp_path)
    train = set(np.flatnonzero(~dataset.is_validation).tolist())
    shards = [
        _epochs(_disk(dataset, 5, num_shards=3, shard_index=i, drop_remainder=False))
        for i in range(3)
    ]
    for epoch in range(2):
        seen = [np.concatenate(s[epoch]) for s in shards]
        assert len({len(s) for s in seen}) == 1  # same steps on every worker
        assert len(seen[0]) == len(train) // 64 // 3 * 64
        together = np.concatenate(seen).tolist()
        assert len(set(together)) == len(together)  # disjoint
        assert set(together) <= train


def test_split_dataset_in_memory_keeps_the_batches_of_the_copied_split(tmp_path):
    from ctgans.data.pipeline import make_tf_dataset, split_dataset

    dataset = read_cache(_numbered_cache(tmp_path).path)  # in memory
    train = ~dataset.is_validation
    copied = make_tf_dataset(dataset.images[train], dataset.labels[train], 32, 4)
    in_place = split_dataset(dataset, train, 32, 4)
    assert all(
        np.array_equal(x, y)
        for ea, eb in zip(_epochs(copied), _epochs(in_place))
        for x, y in zip(ea, eb)
    )
    assert in_place.element_spec[0].shape.as_list() == [32, 5, 5, 1]


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_in_memory_feeding_holds_no_second_copy_of_the_arrays():
    from ctgans.data.pipeline import make_tf_dataset

    images = np.ones((12000, 43, 43, 2), np.float32)  # 355 MB
    labels = np.ones((12000, 3), np.float32)
    next(iter(make_tf_dataset(images[:100], labels[:100], 8, 0)))  # TF warmed up
    before = _rss()
    stream = make_tf_dataset(images, labels, 64, 0, rows=np.arange(0, 12000, 2))
    for _ in zip(range(5), stream):
        pass
    assert _rss() - before < 100e6  # a tensor copy of the images was +370 MB


@pytest.mark.slow
def test_training_fed_from_disk_is_deterministic(tmp_path, toy_pair):
    """configs/smoke.yml with data.in_memory false, twice: same history."""
    from test_determinism import _smoke_config

    from ctgans.config import load_config
    from ctgans.train.run import run

    histories = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        path = _smoke_config(folder, toy_pair["gamma"])
        path.write_text(
            path.read_text().replace("data:\n", "data:\n  in_memory: false\n", 1)
        )
        cfg = load_config(path)
        assert cfg.data.in_memory == "false"
        histories.append((run(cfg) / "history.csv").read_text())
    assert histories[0] == histories[1]
    assert len(histories[0].splitlines()) == 2  # header and the one epoch
