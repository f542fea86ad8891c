"""Feeding 10^6 images from disk: peak memory and images/s vs ctlearn's loader.

A synthetic cache of ``--images`` MAGIC images (default 10^6) is made by tiling the
cached toy dataset of CONFIG (``configs/gamma.yml``: 14 730 43x43 images), written
chunk by chunk like a real build, then fed by training's input pipeline
(:func:`ctgans.data.pipeline.split_dataset` with ``data.in_memory`` as set, default
``false``: from the file) for one epoch of the training split, batches of
``train.batch_size x loss.critic_steps``, to a consumer that touches every batch.
The pipeline runs in a fresh process whose peak resident memory (``VmHWM``) is
reported, with that of the same process before the pipeline is built (Python,
TensorFlow, the small cached arrays). ctlearn's ``DLDataLoader`` is timed over the
toy DL1 files as in ``bench/data_pipeline.py``. The synthetic cache is deleted at
the end.

    python bench/data_pipeline_scale.py [CONFIG] [--images N] [--folder DIR]
        [--note TEXT] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _report  # noqa: E402  (bench/ is sys.path[0])
import numpy as np  # noqa: E402

MARK_BEGIN = "<!-- bench/data_pipeline_scale.py begin -->"
MARK_END = "<!-- bench/data_pipeline_scale.py end -->"
WRITE_ROWS = 16384


def make_synthetic_cache(toy, path: Path, n: int) -> float:
    """Write a cache of ``n`` examples tiling ``toy`` (a CachedDataset); seconds."""
    from ctgans.data.cache import CachedDataset, write_cache_file

    start = time.perf_counter()
    reps = np.arange(n) % len(toy.images)
    events = toy.events[reps].copy()
    events["event_id"] = np.arange(n)  # distinct showers
    head = CachedDataset(
        path=path,
        images=None,  # type: ignore[arg-type]  # written chunk by chunk
        labels=toy.labels[reps],
        physical_labels={k: v[reps] for k, v in toy.physical_labels.items()},
        events=events,
        is_validation=toy.is_validation[reps],
        normalization=toy.normalization,
        label_scaler=toy.label_scaler,
        tel_ids=toy.tel_ids,
    )
    chunks = (toy.images[reps[a : a + WRITE_ROWS]] for a in range(0, n, WRITE_ROWS))
    write_cache_file(path, head, chunks, (n, *toy.images.shape[1:]))
    return time.perf_counter() - start


def peak_rss() -> int:
    """Peak resident memory of this process so far (bytes, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child(path: str, batch: int, in_memory: str, seed: int) -> int:
    """One epoch of the input pipeline over ``path``; prints a JSON result."""
    import tensorflow as tf  # noqa: F401  (loaded before the baseline reading)

    from ctgans.data.cache import read_cache
    from ctgans.data.pipeline import split_dataset

    dataset = read_cache(Path(path), in_memory)
    baseline = peak_rss()
    stream = split_dataset(dataset, ~dataset.is_validation, batch, seed)
    first = time.perf_counter()
    n, total = 0, 0.0
    for i, (images, _) in enumerate(stream):
        if i == 0:
            start = time.perf_counter()  # after the first batch (tracing, first read)
        else:
            n += len(images)
        total += float(np.asarray(images).sum())
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "images": n,
                "seconds": seconds,
                "first_batch_s": start - first,
                "peak_rss": peak_rss(),
                "baseline_rss": baseline,
                "on_disk": type(dataset.images).__name__ == "DiskImages",
            }
        )
    )
    return 0


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/gamma.yml")
    parser.add_argument("--images", type=int, default=10**6)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    parser.add_argument("--in-memory", default="false", choices=["auto", "false"])
    parser.add_argument("--ctlearn-epochs", type=int, default=1)
    parser.add_argument("--note", default="", help="said under the machine line")
    parser.add_argument("--output", default="BENCHMARKS.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from ctgans.config import load_config

    cfg = load_config(args.config)
    batch = cfg.train.batch_size * cfg.loss.critic_steps
    if args.child:
        return child(args.child[0], batch, args.child[1], int(args.child[2]))

    from data_pipeline import bench_ctlearn

    from ctgans.data.prepare import ensure_toy_dataset, prepare_dataset

    ensure_toy_dataset(cfg.data)
    toy = prepare_dataset(cfg.data, cfg.seed)
    folder = Path(tempfile.mkdtemp(prefix="ctgans-scale-", dir=args.folder))
    try:
        path = folder / "dataset.h5"
        write_s = make_synthetic_cache(toy, path, args.images)
        size = path.stat().st_size
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                args.config,
                "--child",
                str(path),
                args.in_memory,
                str(cfg.seed),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ours = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    theirs, n_toy = bench_ctlearn(cfg.data, args.ctlearn_epochs)
    rate = ours["images"] / ours["seconds"]
    shape = "x".join(str(s) for s in toy.image_shape)
    gb = 1e9
    rows = [
        _report.machine_line(),
        *([args.note] if args.note else []),
        f"Synthetic cache: {args.images:,} images of {shape} float32 tiled from the "
        f"{n_toy:,} images of `{args.config}` ({size / gb:.1f} GB on disk, written "
        f"chunk by chunk in {write_s:.0f} s, deleted after); "
        f"`data.in_memory: {args.in_memory}` "
        f"({'fed from the file' if ours['on_disk'] else 'held in memory'}); "
        f"one epoch of the training split ({ours['images']:,} images timed after "
        "the first batch), "
        f"batch {batch}; the file had just been written (page cache).",
        "",
        "| loader | images/s | ratio | peak RSS |",
        "|---|---:|---:|---:|",
        "| ctlearn `DLDataLoader` over the toy DL1 files (per event) | "
        f"{theirs:,.0f} | 1.0 | |",
        f"| ctgans on-disk `tf.data` over the synthetic cache | {rate:,.0f} | "
        f"{rate / theirs:,.0f}x | {ours['peak_rss'] / gb:.2f} GB "
        f"({ours['baseline_rss'] / gb:.2f} GB before the pipeline) |",
        "",
        f"Targets: peak RSS <= 2 GB ({_met(ours['peak_rss'] <= 2 * gb)}), "
        "images/s >= 20x `DLDataLoader` "
        f"({_met(rate >= 20 * theirs)}). First batch after "
        f"{ours['first_batch_s']:.1f} s (tracing, first chunk reads).",
        "",
        f"    python bench/data_pipeline_scale.py {args.config} --images {args.images}",
    ]
    table = "\n".join(rows)
    print(table)
    _report.write_section(
        Path(args.output), MARK_BEGIN, MARK_END, "Data pipeline at scale", table
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
