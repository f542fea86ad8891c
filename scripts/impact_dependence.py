"""Does a run's intensity follow the impact distance? (RESULTS.md, issue 16)

For the validation images of a cached dataset that holds the impact label, per
energy bin of 0.2 dex: the 16-84 % width of log10 total charge (all pixels, p.e.)
generated / simulated, and the correlation of log10 total charge with the true
impact distance on simulated and on generated images (the run's generator given
each image's own labels, one draw of z, seed 0).

    python scripts/impact_dependence.py runs/impact_partner-001
    python scripts/impact_dependence.py runs/source_frame-001 \
        --cache cache/dataset-<key>.h5   # a run without the label: its twin cache
"""

from __future__ import annotations

import argparse

import numpy as np

from ctgans.data.cache import read_cache
from ctgans.evaluate.generation import generate_square
from ctgans.generate.trained_run import inference_function, load_generator, open_run
from ctgans.impact import IMPACT_COLUMN
from ctgans.runs.files import read_dataset


def log_size(run, images: np.ndarray) -> np.ndarray:
    charges = run.normalization.inverse(images)[..., 0].clip(0)
    return np.log10(np.clip(charges.sum(axis=(1, 2)), 1.0, None))


def width(values: np.ndarray) -> float:
    return float(np.subtract(*np.percentile(values, [84, 16])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder")
    parser.add_argument("--cache", help="cached dataset with the impact label")
    args = parser.parse_args()
    run = open_run(args.run)
    dataset = read_cache(args.cache or read_dataset(run.folder).cache)
    if IMPACT_COLUMN not in dataset.physical_labels:
        raise SystemExit(f"{dataset.path}: no {IMPACT_COLUMN}; give --cache")
    rows = np.flatnonzero(dataset.is_validation)
    physical = {k: v[rows] for k, v in dataset.physical_labels.items()}
    generator = load_generator(run, seed=0)
    z = np.random.default_rng(0).standard_normal((len(rows), generator.latent_dim))
    fake = generate_square(
        inference_function(generator),
        run.label_scaler.forward(physical),
        z.astype(np.float32),
    )
    real_size, fake_size = log_size(run, dataset.images[rows]), log_size(run, fake)
    energy, impact = physical["log_true_energy"], physical[IMPACT_COLUMN]
    print("| log10 E/TeV | n | width gen/sim | corr sim | corr gen |")
    print("|---:|---:|---:|---:|---:|")
    for low in np.arange(-1.4, 0.2, 0.2):
        sel = (energy >= low) & (energy < low + 0.2)
        if sel.sum() < 30:
            continue
        ratio = width(fake_size[sel]) / width(real_size[sel])
        corr_sim = np.corrcoef(impact[sel], real_size[sel])[0, 1]
        corr_gen = np.corrcoef(impact[sel], fake_size[sel])[0, 1]
        print(
            f"| {low:.1f} | {sel.sum()} | {ratio:.2f} | {corr_sim:+.2f} "
            f"| {corr_gen:+.2f} |"
        )


if __name__ == "__main__":
    main()
