"""Where a camera-aware generator's CPU goes: the network and the camera layer's stages.

Builds the generator of ``--config`` (``ctgans.train.run.build_gan``, fresh
weights: the cost does not depend on them) and times, traced, at ``--batch``:
the network (dense + convolution blocks), the whole camera layer, and, with
``render: pixels``, its stages: the sampling of the canvas at the camera pixels
(``render_on_pixels``), the photon and pedestal noise, and the grid mapping with
the charge transform. Medians of ``--repeats`` calls, CPU time of this process.

    python bench/generator_stages.py [--config configs/gamma.yml] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def cpu_ms_per_image(function, args, batch: int, repeats: int) -> float:
    function(*args)  # trace
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function(*args)
        times.append(time.process_time() - start)
    return 1000.0 * float(np.median(times)) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/gamma.yml")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import keras
    import tensorflow as tf
    from keras import ops

    from ctgans.config import load_config
    from ctgans.data import prepare_dataset
    from ctgans.models.camera import expected_signal
    from ctgans.models.layers import depth_to_space2
    from ctgans.models.pixel_render import render_on_pixels
    from ctgans.train.run import build_gan

    cfg = load_config(args.config)
    dataset = prepare_dataset(cfg.data, cfg.seed)
    generator = build_gan(cfg, dataset, None, tf.distribute.get_strategy()).generator
    camera = generator.camera_response
    if camera is None:
        raise SystemExit(f"{args.config}: not a camera-aware generator")
    rng = np.random.default_rng(0)
    z = tf.constant(rng.standard_normal((args.batch, generator.latent_dim)), tf.float32)
    labels = tf.constant(
        rng.standard_normal((args.batch, generator.n_labels)) * 0.5, tf.float32
    )

    @tf.function
    def network(z, labels):
        x = generator.project(ops.concatenate([z, labels], axis=-1))
        if generator.project_norm is not None:
            x = generator.project_norm(x, training=False)
        x = ops.leaky_relu(ops.reshape(x, (-1, *generator.seed_shape)), 0.2)
        for layer in generator.body:
            x = layer(x, training=False)
        return ops.cast(generator.crop(generator.to_image(x)), "float32")

    raw = network(z, labels)
    rows = {
        "network": cpu_ms_per_image(network, (z, labels), args.batch, args.repeats),
        "camera layer, all": cpu_ms_per_image(
            tf.function(generator._through_camera),
            (raw, z, labels),
            args.batch,
            args.repeats,
        ),
        "generator, all": cpu_ms_per_image(
            tf.function(lambda z, labels: generator((z, labels), training=False)),
            (z, labels),
            args.batch,
            args.repeats,
        ),
    }
    if camera.render_points:
        canvas = raw if generator.canvas_scale == 1 else depth_to_space2(raw)
        signal = expected_signal(canvas, generator.camera)
        window = (
            generator.envelope_window(z, labels)
            if generator.envelope_at == "pixels"
            else None
        )
        iso = ops.convert_to_tensor(generator.source_frame["iso_scale"], "float32")
        source = generator.source_position(labels) * iso
        angle = tf.constant(rng.uniform(0, 2 * np.pi, args.batch), tf.float32)
        origin = tuple(generator.source_frame["origin"])

        @tf.function
        def render(signal, source, angle):
            return render_on_pixels(
                signal,
                camera.pixel_points,
                camera.pixel_weights,
                source,
                angle,
                origin,
                generator.canvas_scale,
                window,
            )

        mu = render(signal, source, angle)

        @tf.function
        def noise(mu):
            shape = ops.shape(mu)
            normal = keras.random.normal(shape, seed=camera.seed_generator)
            charge = mu + ops.sqrt(camera.excess_noise * mu + 1e-6) * normal
            return charge + camera.sample_pedestal(shape)

        charge = noise(mu)

        @tf.function
        def to_grid(charge):
            square = ops.matmul(charge, camera.to_square)
            return ops.sign(square) * ops.log1p(ops.abs(square) / camera.charge_scale)

        rows["  sampling at the pixels"] = cpu_ms_per_image(
            render, (signal, source, angle), args.batch, args.repeats
        )
        rows["  photon + pedestal noise"] = cpu_ms_per_image(
            noise, (mu,), args.batch, args.repeats
        )
        rows["  grid mapping + transform"] = cpu_ms_per_image(
            to_grid, (charge,), args.batch, args.repeats
        )
    print(
        f"{args.config}, batch {args.batch}, "
        f"CPU ms per image (median of {args.repeats}):"
    )
    for name, value in rows.items():
        print(f"  {name:30s} {value:.3f}")


if __name__ == "__main__":
    main()
