"""Train-step and generator speed of two (or more) values of one setting.

By default ``model.precision`` float32 vs bfloat16; ``--key`` and ``--values``
compare any other (e.g. ``--key model.generator.render --values grid pixels``).
Every arm is built by ``ctgans.train.run.build_gan`` from the same config (the
default recipe unless ``--config``), differing only in that setting, with fresh
weights and no label predictor. They run in one process and are interleaved:
``--rounds`` rounds, each timing ``--steps`` generator steps of every arm in turn
after an untimed warm-up, so a competing process slows all alike. Then each
generator alone makes images at batch 1 024 for ``--seconds`` per arm.

    python bench/precision.py [--config configs/gamma.yml] [--rounds 4] [--steps 10]
                              [--key model.precision] [--values float32 bfloat16]

Prints medians and ratios (each arm / the first); this CPU (AVX512-BF16, AMX)
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


def with_setting(cfg, key: str, value):
    """``cfg`` with the dotted ``key`` (e.g. ``model.generator.render``) set to
    ``value`` (converted to the type of the value it replaces)."""
    head, _, rest = key.partition(".")
    current = getattr(cfg, head)
    if not rest:
        if isinstance(current, bool):
            value = str(value).lower() in ("true", "1", "yes")
        return dataclasses.replace(cfg, **{head: type(current)(value)})
    return dataclasses.replace(cfg, **{head: with_setting(current, rest, value)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/gamma.yml")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--key", default="model.precision")
    parser.add_argument("--values", nargs="+", default=list(PRECISIONS))
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
    for value in args.values:
        arm_cfg = with_setting(cfg, args.key, value)
        arms[value] = build_gan(arm_cfg, dataset, None, tf.distribute.get_strategy())
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
    print(f"{args.key} ({args.config}):")
    step = {p: float(np.median(s)) / args.steps for p, s in seconds.items()}
    for value in args.values:
        print(
            f"{value:9s} train step {step[value] * 1e3:7.1f} ms (median of "
            f"{args.rounds} x {args.steps} steps)   generator "
            f"{rates[value]:7.0f} img/s at batch 1024"
        )
    first = args.values[0]
    for value in args.values[1:]:
        print(
            f"{value} / {first}: train steps per second x"
            f"{step[first] / step[value]:.2f}, generator images per second x"
            f"{rates[value] / rates[first]:.2f}"
        )


if __name__ == "__main__":
    main()
