"""Train-step and generator speed of ``model.precision`` float32 vs bfloat16.

Both arms are built by ``ctgans.train.run.build_gan`` from the same config (the
default recipe unless ``--config``), differing only in ``model.precision``, with
fresh weights and no label predictor. They run in one process and are
interleaved: ``--rounds`` rounds, each timing ``--steps`` generator steps of every
arm in turn after an untimed warm-up, so a competing process slows both alike.
Then each generator alone makes images at batch 1 024 for ``--seconds`` per arm.

    python bench/precision.py [--config configs/gamma.yml] [--rounds 4] [--steps 10]

Prints medians and ratios (bfloat16 / float32); this CPU (AVX512-BF16, AMX)
runs bfloat16 convolutions natively, another machine may not.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import _report  # noqa: E402  (bench/ is sys.path[0])
import numpy as np  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/gamma.yml")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    import tensorflow as tf

    from ctgans.config import load_config
    from ctgans.data.pipeline import make_tf_dataset
    from ctgans.data.prepare import prepare_dataset
    from ctgans.train.run import build_gan

    cfg = load_config(args.config)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    train = ~dataset.is_validation
    global_batch = cfg.train.batch_size * cfg.loss.critic_steps
    data = make_tf_dataset(
        dataset.images[train], dataset.labels[train], global_batch, cfg.seed
    ).repeat()
    arms = {}
    for precision in PRECISIONS:
        model = dataclasses.replace(cfg.model, precision=precision)
        arm_cfg = dataclasses.replace(cfg, model=model)
        arms[precision] = build_gan(
            arm_cfg, dataset, None, tf.distribute.get_strategy()
        )
    for gan in arms.values():  # warm-up: tracing, allocation
        gan.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    seconds = {p: [] for p in arms}
    for _ in range(args.rounds):
        for precision, gan in arms.items():
            start = time.perf_counter()
            gan.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            seconds[precision].append(time.perf_counter() - start)

    rng = np.random.default_rng(0)
    z = rng.standard_normal((1024, cfg.model.latent_dim)).astype("float32")
    labels = dataset.labels[rng.integers(0, len(dataset.labels), 1024)]
    rates = {}
    for precision, gan in arms.items():
        call = tf.function(lambda z, y, g=gan.generator: g((z, y), training=False))
        np.asarray(call(z, labels))
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            np.asarray(call(z, labels))
            calls += 1
        rates[precision] = 1024 * calls / (time.perf_counter() - start)

    print(_report.machine_line())
    step = {p: float(np.median(s)) / args.steps for p, s in seconds.items()}
    for precision in PRECISIONS:
        print(
            f"{precision:9s} train step {step[precision] * 1e3:7.1f} ms (median of "
            f"{args.rounds} x {args.steps} steps)   generator "
            f"{rates[precision]:7.0f} img/s at batch 1024"
        )
    print(
        f"bfloat16 / float32: train steps per second x"
        f"{step['float32'] / step['bfloat16']:.2f}, generator images per second x"
        f"{rates['bfloat16'] / rates['float32']:.2f}"
    )


if __name__ == "__main__":
    main()
