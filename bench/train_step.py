"""Critic images per second: ctgans' training loop vs the 2022 prototype's recipe.

Both arms train the same conditional WGAN-GP (generator and critic built by
``ctgans.train.run.build_gan`` from the config, fresh weights per arm, same
optimizers, ``train.batch_size`` images per critic update, ``loss.critic_steps``
critic updates plus one generator update per step, gradient penalty included, no
label predictor):

* **ours**: ``gan.fit`` (compiled ``train_step``) over the cached ``tf.data`` pipeline,
  ``batch_size * critic_steps`` real images per step;
* **baseline** (prototype recipe): ctlearn's ``DLDataLoader`` reading DL1 per batch,
  images and labels normalised exactly as the cache is, and an eager Python loop of
  ``tf.GradientTape`` updates (no ``tf.function``), each critic update on a fresh
  loader batch;
* **ours, XLA** (unless ``--no-xla``): the first arm with ``jit_compile=True``.

Critic images/s = steps x critic_steps x batch_size / seconds (real images through the
critic). All arms run in one process and are interleaved: ``--rounds`` rounds, each
timing ``steps / rounds`` generator steps of every arm in turn, after an untimed
warm-up (tracing, XLA compilation, the reader's first batches). Another process
competing for the CPU therefore slows all arms alike, not one of them.

    python bench/train_step.py [--config configs/gamma.yml] [--steps 20] [--warmup 2]
                               [--rounds 10] [--no-xla] [--output BENCHMARKS.md]
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

MARK_BEGIN = "<!-- bench/train_step.py begin -->"
MARK_END = "<!-- bench/train_step.py end -->"
TARGET = 3.0  # ours / baseline critic images/s wanted


class OursArm:
    """``gan.fit`` on the cached ``tf.data`` pipeline (optionally with XLA)."""

    def __init__(self, cfg, dataset, jit_compile: bool):
        import tensorflow as tf

        from ctgans.data.pipeline import make_tf_dataset
        from ctgans.train.run import build_gan

        self.gan = build_gan(cfg, dataset, None, tf.distribute.get_strategy())
        if jit_compile:
            self.gan.jit_compile = (
                True  # before the first fit: train_function not built
            )
        self.jit_compile = bool(self.gan.jit_compile)
        train = ~dataset.is_validation
        global_batch = cfg.train.batch_size * cfg.loss.critic_steps
        self.data = make_tf_dataset(
            dataset.images[train], dataset.labels[train], global_batch, cfg.seed
        ).repeat()

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        self.gan.fit(self.data, steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - start


class BaselineArm:
    """The prototype recipe: ctlearn ``DLDataLoader`` batches, eager GradientTape."""

    def __init__(self, cfg, dataset):
        import tensorflow as tf
        from ctlearn.core.loader import DLDataLoader

        from ctgans.config import LABEL_COLUMNS
        from ctgans.config_types import CONDITION_LABELS
        from ctgans.data.reader import open_reader
        from ctgans.train.run import build_gan

        gan = build_gan(cfg, dataset, None, tf.distribute.get_strategy())
        self.generator, self.critic = gan.generator, gan.critic
        self.g_opt, self.c_opt = gan.generator_optimizer, gan.critic_optimizer
        self.gp_weight = cfg.loss.gradient_penalty
        self.critic_steps = cfg.loss.critic_steps
        self.latent_dim = cfg.model.latent_dim
        self.normalization, self.scaler = dataset.normalization, dataset.label_scaler
        # Condition labels (the impact distance) are no ctlearn task: computed per
        # batch from the reader's rows, as ctgans' reader does.
        self.tasks = [t for t in cfg.data.labels if t not in CONDITION_LABELS]
        self.columns = {t: LABEL_COLUMNS[t] for t in self.tasks}
        conditions = [t for t in cfg.data.labels if t in CONDITION_LABELS]
        self.conditions = [c for t in conditions for c in LABEL_COLUMNS[t]]

        self.reader = open_reader(cfg.data)
        n = self.reader._get_n_events()
        # The reader's rows are the cache's rows (mono, no non-finite image dropped):
        # then train on the same training rows; otherwise on all rows.
        same_rows = cfg.data.mode == "mono" and n == len(dataset.images)
        indices = np.flatnonzero(~dataset.is_validation) if same_rows else np.arange(n)
        self.loader = DLDataLoader(
            self.reader,
            indices.copy(),
            tasks=self.tasks,
            batch_size=cfg.train.batch_size,
            random_seed=cfg.seed,
        )
        self.next_index = 0
        self.load_seconds = 0.0

    def _labels(self, raw) -> dict[str, np.ndarray]:
        """ctlearn's per-task labels -> ctgans' label columns (physical units)."""
        if not isinstance(raw, dict):  # a lone `type` task: a bare one-hot array
            raw = {"type": raw}
        out = {}
        for task, columns in self.columns.items():
            value = np.asarray(raw[task])
            if task == "type":  # one-hot -> class
                value = value.argmax(axis=-1)
            value = value.reshape(len(value), -1)
            for i, column in enumerate(columns):
                out[column] = value[:, i]
        return out

    def _batch(self):
        import tensorflow as tf

        from ctgans.data.reader import label_values

        start = time.perf_counter()
        if self.next_index == len(self.loader):
            self.loader.on_epoch_end()
            self.next_index = 0
        features, labels = self.loader[self.next_index]
        labels = self._labels(labels)
        if self.conditions:
            first = self.next_index * self.loader.batch_size
            batch = self.loader.indices[first : first + self.loader.batch_size]
            rows = self.reader.example_identifiers[batch]
            labels.update(label_values(rows, self.conditions, self.reader.subarray))
        self.next_index += 1
        images = tf.constant(self.normalization.forward(np.asarray(features)))
        labels = tf.constant(self.scaler.forward(labels))
        self.load_seconds += time.perf_counter() - start
        return images, labels

    def _step(self) -> None:
        import tensorflow as tf

        from ctgans.models import gradient_penalty

        first_labels = None
        for _ in range(self.critic_steps):
            real, labels = self._batch()
            first_labels = labels if first_labels is None else first_labels
            batch = real.shape[0]
            z = tf.random.normal((batch, self.latent_dim))
            epsilon = tf.random.uniform((batch,))
            fake = self.generator((z, labels), training=True)
            with tf.GradientTape() as tape:
                real_scores = self.critic((real, labels), training=True)
                fake_scores = self.critic((fake, labels), training=True)
                gp = gradient_penalty(self.critic, real, fake, labels, epsilon)
                loss = (
                    tf.reduce_mean(fake_scores)
                    - tf.reduce_mean(real_scores)
                    + self.gp_weight * gp
                )
            weights = self.critic.trainable_weights
            self.c_opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        # Generator update on the labels of the step's first real batch, as ours does.
        z = tf.random.normal((first_labels.shape[0], self.latent_dim))
        with tf.GradientTape() as tape:
            fake = self.generator((z, first_labels), training=True)
            loss = -tf.reduce_mean(self.critic((fake, first_labels), training=False))
        weights = self.generator.trainable_weights
        self.g_opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        float(loss)  # wait for the step, as fit does

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self._step()
        return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/gamma.yml")
    parser.add_argument(
        "--steps",
        type=int,
        default=20,
        help="generator steps timed per arm (split over the rounds)",
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed generator steps per arm first"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="interleaved rounds (each times steps/rounds per arm)",
    )
    parser.add_argument(
        "--no-xla",
        dest="xla",
        action="store_false",
        help="skip the extra jit_compile=True arm",
    )
    parser.add_argument("--output", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.steps < args.rounds or args.rounds < 1:
        parser.error("--steps must be >= --rounds >= 1")

    import keras

    from ctgans.config import load_config
    from ctgans.data.prepare import prepare_dataset

    wall = time.perf_counter()
    cfg = load_config(args.config)
    keras.utils.set_random_seed(cfg.seed)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    batch, critic_steps = cfg.train.batch_size, cfg.loss.critic_steps

    arms = {
        "ours": OursArm(cfg, dataset, jit_compile=False),
        "baseline": BaselineArm(cfg, dataset),
    }
    if args.xla:
        arms["xla"] = OursArm(cfg, dataset, jit_compile=True)
    warmup = {}
    for name, arm in arms.items():
        warmup[name] = arm.run(args.warmup) if args.warmup else 0.0
        print(
            f"warm-up {name}: {args.warmup} steps in {warmup[name]:.1f} s", flush=True
        )
    arms["baseline"].load_seconds = 0.0

    per_round = [
        args.steps // args.rounds + (r < args.steps % args.rounds)
        for r in range(args.rounds)
    ]
    seconds = {name: [] for name in arms}
    for r, steps in enumerate(per_round):
        for name, arm in arms.items():
            seconds[name].append(arm.run(steps))
            print(
                f"round {r + 1}/{args.rounds} {name}: {steps} steps, "
                f"{seconds[name][-1] / steps:.2f} s/step",
                flush=True,
            )

    def rate(name):
        return args.steps * critic_steps * batch / sum(seconds[name])

    def step_range(name):
        per_step = [s / n for s, n in zip(seconds[name], per_round)]
        mean = sum(seconds[name]) / args.steps
        return f"{mean:.2f} ({min(per_step):.2f}-{max(per_step):.2f})"

    def median(name):  # per-round rates: robust to a few disturbed rounds
        return float(
            np.median(
                [n * critic_steps * batch / s for s, n in zip(seconds[name], per_round)]
            )
        )

    base = rate("baseline")
    base_load = arms["baseline"].load_seconds / sum(seconds["baseline"])
    labels = {
        "baseline": "baseline: ctlearn `DLDataLoader` + eager `GradientTape` "
        "(2022 prototype recipe)",
        "ours": "ours: `gan.fit` on cached `tf.data` (graph, XLA off)",
        "xla": "ours with `jit_compile=True` (XLA"
        + (
            ""
            if not args.xla or arms["xla"].jit_compile
            else " refused by Keras, ran without"
        )
        + ")",
    }
    shape = "x".join(str(s) for s in dataset.image_shape)
    n_train = int((~dataset.is_validation).sum())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = [
        _report.machine_line(),
        f"Config `{args.config}`: {len(dataset.images)} images of {shape} "
        f"({n_train} training), {cfg.data.mode}; batch {batch}, critic_steps "
        f"{critic_steps} ({batch * critic_steps} real images per generator step); "
        f"generator base_filters {cfg.model.generator.base_filters}, critic filters "
        f"{list(cfg.model.critic.filters)}, conditioning "
        f"`{cfg.model.critic.conditioning}`; no label predictor in any arm.",
        f"{args.steps} timed generator steps per arm, in {args.rounds} interleaved "
        f"rounds in one process (every round times each arm in turn), after "
        f"{args.warmup} untimed warm-up steps each; 1-minute load average at the end "
        f"{load:.2f}. Other processes may share the 2 cores: compare rows, not runs; "
        "the median columns are the least disturbed estimate.",
        f"Both arms build the config's networks (`model.precision: "
        f"{cfg.model.precision}`)"
        + (
            f"; ours also keeps the generator EMA (`train.generator_ema: "
            f"{cfg.train.generator_ema}`)"
            if cfg.train.generator_ema
            else ""
        )
        + '. XLA off in the first two rows (`jit_compile="auto"` means no XLA on '
        "CPU, see STACK.md).",
        "",
        "| arm | s per generator step: mean (best-worst round) | critic images/s "
        "| ratio | critic images/s, median of rounds | ratio of medians |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("baseline", "ours", "xla"):
        if name in arms:
            rows.append(
                f"| {labels[name]} | {step_range(name)} | {rate(name):,.0f} | "
                f"{rate(name) / base:.1f}x | {median(name):,.0f} | "
                f"{median(name) / median('baseline'):.1f}x |"
            )
    ratio = rate("ours") / base
    rows += [
        "",
        f"Target: ours >= {TARGET:.0f}x the baseline; measured {ratio:.1f}x overall, "
        f"{median('ours') / median('baseline'):.1f}x of medians "
        f"({'met' if ratio >= TARGET else 'not met'}).",
        f"Baseline time spent in `DLDataLoader` + normalisation: {base_load:.0%} "
        f"({arms['baseline'].load_seconds / args.steps:.2f} s per generator step); "
        "the rest is eager TensorFlow. Warm-up (tracing / compiling / first reads): "
        + ", ".join(f"{n} {s:.1f} s" for n, s in warmup.items())
        + f" for "
        f"{args.warmup} steps. Run took {time.perf_counter() - wall:.0f} s.",
        "",
        f"    python bench/train_step.py --config {args.config} --steps {args.steps} "
        f"--warmup {args.warmup} --rounds {args.rounds}"
        + ("" if args.xla else " --no-xla"),
    ]
    table = "\n".join(rows)
    print(table)
    _report.write_section(
        Path(args.output), MARK_BEGIN, MARK_END, "Training step", table
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
