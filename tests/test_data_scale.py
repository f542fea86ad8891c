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
    monkeypatch.setattr(DiskImages, "READ_ROWS", 7)
    rng = np.random.default_rng(0)
    mask = rng.random(len(memory)) < 0.3
    rows = rng.permutation(len(memory))[:50]
    for key in (mask, rows, slice(10, 40), 5, (rows, 3)):
        assert np.array_equal(on_disk[key], memory[key])
    assert np.array_equal(np.asarray(on_disk), memory)
