"""Images per second delivered to a consumer: ctgans' cached tf.data vs CTLearn.

Both loaders read the same DL1 files with the same selection (telescope type, cuts,
channels, mapper, image size, mono) and hand batches of 64 to a consumer that touches
every batch (a sum, so nothing is optimised away). Measured in one process, side by
side, after one warm-up pass each. The one-off cache build is timed separately.

    python bench/data_pipeline.py [CONFIG] [--epochs N] [--output BENCHMARKS.md]

With no CONFIG it uses configs/gamma.yml (the embedded toy dataset; simulated first
if missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _report  # noqa: E402  (bench/ is sys.path[0])
import numpy as np  # noqa: E402

from ctgans.config import load_config  # noqa: E402
from ctgans.data.cache import cache_path  # noqa: E402
from ctgans.data.prepare import ensure_toy_dataset, prepare_dataset  # noqa: E402
from ctgans.data.reader import open_reader  # noqa: E402

BATCH = 64
MARK_BEGIN = "<!-- bench/data_pipeline.py begin -->"
MARK_END = "<!-- bench/data_pipeline.py end -->"


def consume(batches) -> tuple[int, float]:
    """Iterate all batches; return (images, seconds)."""
    n, total = 0, 0.0
    start = time.perf_counter()
    for images, _ in batches:
        total += float(np.asarray(images).sum())
        n += len(images)
    return n, time.perf_counter() - start


def bench_ctlearn(data_cfg, epochs: int) -> tuple[float, int]:
    from ctlearn.core.loader import DLDataLoader

    reader = open_reader(data_cfg)
    n = reader._get_n_events()
    loader = DLDataLoader(
        reader, np.arange(n), tasks=["energy"], batch_size=BATCH, random_seed=0
    )
    batches = [loader[i] for i in range(min(len(loader), 3))]  # warm-up
    images = 0
    seconds = 0.0
    for _ in range(epochs):
        got, took = consume(loader[i] for i in range(len(loader)))
        loader.on_epoch_end()
        images += got
        seconds += took
    del batches
    return images / seconds, n


def bench_ctgans(dataset, epochs: int) -> float:
    from ctgans.data.pipeline import make_tf_dataset

    tfds = make_tf_dataset(dataset.images, dataset.labels, BATCH, seed=0)
    consume(tfds)  # warm-up epoch (traces the map function)
    images = 0
    seconds = 0.0
    for _ in range(epochs):
        got, took = consume((x.numpy(), y) for x, y in tfds)
        images += got
        seconds += took
    return images / seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/gamma.yml")
    parser.add_argument("--epochs", type=int, default=3, help="ctgans epochs timed")
    parser.add_argument("--ctlearn-epochs", type=int, default=1)
    parser.add_argument("--output", default="BENCHMARKS.md")
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    ensure_toy_dataset(cfg.data)
    cached = cache_path(cfg.data, cfg.seed).is_file()
    start = time.perf_counter()
    dataset = prepare_dataset(cfg.data, cfg.seed)
    prepare_seconds = time.perf_counter() - start
    ours = bench_ctgans(dataset, args.epochs)
    theirs, n_examples = bench_ctlearn(cfg.data, args.ctlearn_epochs)
    ratio = ours / theirs
    shape = "x".join(str(s) for s in dataset.image_shape)
    rows = [
        _report.machine_line(),
        f"Config `{args.config}`: {n_examples} images of {shape}, batch {BATCH}, "
        f"mono; files: {', '.join(str(p) for p in cfg.data.signal)}.",
        "",
        "| loader | images/s | ratio |",
        "|---|---:|---:|",
        "| ctlearn `DLDataLoader` (dl1-data-handler per event) | "
        f"{theirs:,.0f} | 1.0 |",
        f"| ctgans cached `tf.data` | {ours:,.0f} | {ratio:,.0f}x |",
        "",
        f"Cache: {'found' if cached else 'built'} in {prepare_seconds:.1f} s "
        "(one-off per config and input files"
        + ("" if cached else f", {n_examples / prepare_seconds:,.0f} images/s")
        + ").",
    ]
    table = "\n".join(rows)
    print(table)
    write_section(Path(args.output), table)
    return 0


def write_section(path: Path, table: str) -> None:
    """Replace this benchmark's section in BENCHMARKS.md (atomically)."""
    _report.write_section(path, MARK_BEGIN, MARK_END, "Data pipeline", table)


if __name__ == "__main__":
    sys.exit(main())
