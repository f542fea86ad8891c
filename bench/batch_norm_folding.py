"""A trained generator with and without its batch normalisation folded.

Loads ``--run``'s generator twice (``load_generator(fold=False)`` and the
folded one that generation and evaluation use, ``ctgans.models.folding``), and
times both traced (``inference_function``, camera charges where the run makes
them) at ``--batch``, interleaved over ``--rounds`` rounds so that a competing
process slows both alike. Also compares what they draw from the same noise and
labels (the camera noise reseeded alike): the total charge per image and the
charges of pixels above 20 p.e.

    python bench/batch_norm_folding.py [--run runs/X-001] [--batch 256] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/shower_angle_contained_critic2-001")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    from ctgans.generate.images import writes_camera_pixels
    from ctgans.generate.trained_run import inference_function, load_generator, open_run

    run = open_run(Path(args.run))
    generators = {
        "as trained": load_generator(run, seed=0, fold=False),
        "folded": load_generator(run, seed=0),
    }
    first = generators["folded"]
    rng = np.random.default_rng(0)
    z = rng.standard_normal((args.batch, first.latent_dim)).astype(np.float32)
    labels = rng.standard_normal((args.batch, first.n_labels)).astype(np.float32)
    labels *= 0.5  # standardised labels near the middle of the training range
    pixels = writes_camera_pixels(first, run)
    arms, outputs = {}, {}
    for name, generator in generators.items():
        arms[name] = inference_function(generator, pixels=pixels)
        outputs[name] = np.asarray(arms[name](z, labels)).reshape(args.batch, -1)
    times = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, arm in arms.items():
            start = time.process_time()
            arm(z, labels)
            times[name].append(time.process_time() - start)
    print(f"{args.run}, batch {args.batch}, {args.rounds} interleaved rounds")
    for name, values in times.items():
        low, mid, high = np.percentile(values, [25, 50, 75]) * 1000 / args.batch
        print(f"  {name:12s} {mid:.3f} CPU ms an image (25-75 %: {low:.3f}-{high:.3f})")
    ratio = np.median(times["as trained"]) / np.median(times["folded"])
    print(f"  folded is {ratio:.2f}x the speed")
    plain, folded = outputs["as trained"], outputs["folded"]
    total = np.abs(folded.sum(1) / plain.sum(1) - 1.0)
    bright = np.abs(plain) > 20.0
    relative = np.abs(folded - plain)[bright] / np.abs(plain[bright])
    print(
        "  same noise and labels: total charge differs by "
        f"{np.median(total):.2%} (median), {np.quantile(total, 0.99):.2%} (99 %); "
        f"pixels above 20 p.e. by {np.median(relative):.2%} (median), "
        f"{np.quantile(relative, 0.99):.2%} (99 %)"
    )


if __name__ == "__main__":
    main()
