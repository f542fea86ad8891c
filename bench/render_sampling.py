"""Bilinear sampling of the pixel render: ctgans' padded sampler against masking.

``render: pixels`` samples each image's 86 x 86 canvas at 1 039 x 7 points
(MAGIC, canvas_scale 2) with :func:`ctgans.models.pixel_render.bilinear_sample`.
This times it against the masked form it replaced (each of the four neighbours
clipped, masked and gathered with its own index), forward and forward + backward
(the generator step's gradient), traced, interleaved over ``--rounds`` rounds so
that a competing process slows both alike, and checks that both give the same
values and gradients.

    python bench/render_sampling.py [--batch 256] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def masked_sample(images, rows, cols):
    """The sampler before 2026-12-07: four masked gathers."""
    from keras import ops

    height, width = images.shape[1], images.shape[2]
    flat = ops.reshape(images, (-1,))
    base = (ops.cumsum(ops.ones_like(rows[:, :1, :1]), axis=0) - 1.0) * (height * width)
    r0, c0 = ops.floor(rows), ops.floor(cols)
    fr, fc = rows - r0, cols - c0
    out = 0.0
    for dr, wr in ((0.0, 1.0 - fr), (1.0, fr)):
        for dc, wc in ((0.0, 1.0 - fc), (1.0, fc)):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
            r = ops.clip(r, 0, height - 1)
            c = ops.clip(c, 0, width - 1)
            index = ops.cast(base + r * width + c, "int32")
            out = out + ops.where(inside, wr * wc * ops.take(flat, index), 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    import tensorflow as tf

    from ctgans.models.pixel_render import RENDER_POINTS, bilinear_sample

    rng = np.random.default_rng(0)
    size, n_pixels = 86, 1039
    shape = (args.batch, n_pixels, RENDER_POINTS)
    images = tf.constant(rng.standard_normal((args.batch, size, size)), tf.float32)
    rows = tf.constant(rng.uniform(-5, size + 5, shape), tf.float32)
    cols = tf.constant(rng.uniform(-5, size + 5, shape), tf.float32)

    def with_gradient(sample):
        @tf.function
        def step(images, rows, cols):
            with tf.GradientTape() as tape:
                tape.watch(images)
                loss = tf.reduce_sum(sample(images, rows, cols) * tf.cos(rows))
            return tape.gradient(loss, images)

        return step

    arms = {
        "masked, forward": tf.function(masked_sample),
        "padded, forward": tf.function(bilinear_sample),
        "masked, forward + backward": with_gradient(masked_sample),
        "padded, forward + backward": with_gradient(bilinear_sample),
    }
    outputs = {name: arm(images, rows, cols).numpy() for name, arm in arms.items()}
    values = np.abs(outputs["masked, forward"] - outputs["padded, forward"]).max()
    gradients = np.abs(
        outputs["masked, forward + backward"] - outputs["padded, forward + backward"]
    ).max()
    print(f"largest difference: values {values:.1e}, gradients {gradients:.1e}")
    times = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, arm in arms.items():
            start = time.process_time()
            arm(images, rows, cols)
            times[name].append(time.process_time() - start)
    print(f"batch {args.batch}, {args.rounds} interleaved rounds, CPU ms per image:")
    for name, values in times.items():
        low, mid, high = np.percentile(values, [25, 50, 75]) * 1000 / args.batch
        print(f"  {name:28s} {mid:.3f}  (25-75 %: {low:.3f}-{high:.3f})")
    for kind in ("forward", "forward + backward"):
        ratio = np.median(times[f"masked, {kind}"]) / np.median(
            times[f"padded, {kind}"]
        )
        print(f"  padded is {ratio:.2f}x the masked sampler's speed, {kind}")


if __name__ == "__main__":
    main()
