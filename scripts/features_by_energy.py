"""Image parameters of a run's generated and simulated images per energy bin.

For the held-out images a fidelity report uses (the run's validation split, the
report's seed 0 choice of z), per bin of 0.2 dex in true energy: the 16 / 50 /
84 % quantiles of each asked parameter after the camera's cleaning, simulated
against generated with the same labels. Answers "at which energies is the
generated length (width, intensity, ...) off?" (RESULTS.md, issue 16).

    python scripts/features_by_energy.py runs/gamma-001
    python scripts/features_by_energy.py runs/gamma-001 \
        --features hillas_length concentration_cog
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ctgans.evaluate.features import FEATURE_NAMES, image_features
from ctgans.evaluate.generation import generate_square, noise
from ctgans.evaluate.inputs import load_inputs
from ctgans.generate.trained_run import inference_function, load_generator

DEFAULT_FEATURES = (
    "hillas_intensity",
    "hillas_length",
    "hillas_width",
    "concentration_cog",
    "morphology_n_pixels",
)


def quantiles(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return "–"
    low, mid, high = np.percentile(values, [16, 50, 84])
    return f"{mid:.3g} ({low:.3g}–{high:.3g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder")
    parser.add_argument("--features", nargs="+", default=DEFAULT_FEATURES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    unknown = sorted(set(args.features) - set(FEATURE_NAMES))
    if unknown:
        raise SystemExit(f"--features: {unknown} unknown; expected {FEATURE_NAMES}")
    inputs = load_inputs(args.run, None, args.seed)
    generator = load_generator(inputs.run, None, args.seed)
    z = noise(len(inputs.rows), generator.latent_dim, args.seed)
    fake = generate_square(inference_function(generator), inputs.labels, z)
    tables = {
        "sim": image_features(inputs.camera_charges(inputs.images), inputs.geometry),
        "gen": image_features(inputs.camera_charges(fake), inputs.geometry),
    }
    energy = inputs.physical_labels["log_true_energy"]
    for feature in args.features:
        print(f"\n{feature}: median (16–84 %) after cleaning\n")
        print("| log10 E/TeV | n | simulated | generated |")
        print("|---:|---:|---:|---:|")
        for low in np.arange(np.floor(energy.min() * 5) / 5, energy.max(), 0.2):
            sel = (energy >= low) & (energy < low + 0.2)
            if sel.sum() < 30:
                continue
            cells = [quantiles(tables[k][feature][sel]) for k in ("sim", "gen")]
            print(f"| {low:.1f}..{low + 0.2:.1f} | {sel.sum()} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
