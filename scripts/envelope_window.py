"""Where a run's shower envelope sits, and how far its showers lie from the source.

For the validation images of the run's cached dataset (the generator given each
image's own labels, one draw of z, seed 0): the envelope's centre, length and
width (grid pixels, median and 16-84 %), and the distance of the light centroid
from the requested source and the light's rms length on generated and simulated
images (pixels above three pedestal standard deviations, as
``model.generator.envelope_centre``/``envelope_length: fitted`` measure them;
RESULTS.md, issue 16).

    python scripts/envelope_window.py runs/envelope_fitted_rate20-001
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ctgans.data.cache import read_cache
from ctgans.evaluate.generation import generate_square
from ctgans.generate.trained_run import inference_function, load_generator, open_run
from ctgans.runs.files import read_dataset
from ctgans.train.camera_model import pedestal_sigma
from ctgans.train.envelope_fit import THRESHOLD_SIGMAS, image_geometry


def spread(values) -> str:
    low, mid, high = np.percentile(values, [16, 50, 84])
    return f"{mid:.2f} ({low:.2f}-{high:.2f})"


def window(generator, z, labels) -> dict:
    centre, length, width = generator.envelope_window(z, labels)
    return {
        "centre": np.asarray(centre),
        "length": np.asarray(length),
        "width": np.asarray(width),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder")
    parser.add_argument("--epoch", type=int, help="a checkpoint instead of the end")
    args = parser.parse_args()
    run = open_run(args.run)
    dataset = read_cache(read_dataset(run.folder).cache)
    rows = np.flatnonzero(dataset.is_validation)
    labels = dataset.labels[rows].astype(np.float32)
    generator = load_generator(run, epoch=args.epoch, seed=0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((len(rows), generator.latent_dim)).astype(np.float32)
    camera = json.loads((run.folder / "camera_model.json").read_text())
    sigma = pedestal_sigma(np.asarray(camera["pedestal"]["quantiles_pe"]))
    threshold = THRESHOLD_SIGMAS * sigma
    source = np.asarray(generator.source_position(labels))
    fake = generate_square(inference_function(generator), labels, z)
    measured = {
        "simulated": image_geometry(
            run.normalization.inverse(dataset.images[rows])[..., 0], source, threshold
        ),
        "generated": image_geometry(
            run.normalization.inverse(fake)[..., 0], source, threshold
        ),
    }
    print(f"{args.run}: {len(rows)} validation images, threshold {threshold:.2f} p.e.")
    if generator.envelope is not None:
        for name, values in window(generator, z, labels).items():
            print(f"envelope {name}: {spread(values)} grid pixels")
    for name, (distance, length) in measured.items():
        ok = np.isfinite(distance)
        print(f"light centroid from source, {name}: {spread(distance[ok])}")
        print(f"light rms length, {name}: {spread(length[ok])}")


if __name__ == "__main__":
    main()
