"""Does adding generated images help CTLearn models? Three training sets compared.

    python scripts/augmentation_study.py runs/gamma-001 --n 2000 --m 2000 \\
        --seeds 0 1 2 --output reports/augmentation

For energy regression (gammas) and gamma/proton classification, a CTLearn ResNet
(ctgans' builder around ``CTLearnModel.from_name("ResNet")``, Keras ``fit``) is
trained on

(a) N simulated images (classification: N gammas + N protons),
(b) the same N simulated + M generated images (ctapipe DL1 file written by
    ``ctgans.generate`` from the run; energies resampled to the simulated
    training spectrum),
(c) the same N simulated + M more *simulated* images of the same kind as the
    generated ones (= 2N simulated when M = N),

and every model is evaluated on the same held-out simulated showers: energy
resolution and bias (pyirf conventions) and the ROC AUC of the gamma score, as
mean ± std over seeds. A gamma-only run augments the gamma class only (the
classification arms (b) and (c) then have more gammas than protons; the table
says so). Images are read from the DL1 files with the run's telescopes, mapper
and quality cuts, and normalised with the run's normalisation.

``--quick`` runs the whole chain on tiny sizes (a test uses it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ctgans.cli import ArgumentParser, run_main
from ctgans.exceptions import ConfigError, DataError

log = logging.getLogger("augmentation_study")

ARMS = {
    "a": "N simulated",
    "b": "N simulated + M generated",
    "c": "N + M simulated",
}
BINS_PER_DECADE = 5


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="augmentation_study.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_folder", type=Path, help="training run folder (generator)")
    parser.add_argument("--output", type=Path, required=True, help="result folder")
    parser.add_argument(
        "--gamma-file", type=Path, default=Path("data/toy/gamma_diffuse.dl1.h5")
    )
    parser.add_argument(
        "--proton-file", type=Path, default=Path("data/toy/proton_diffuse.dl1.h5")
    )
    parser.add_argument(
        "--n", type=int, default=2000, help="simulated images per class"
    )
    parser.add_argument("--m", type=int, default=2000, help="generated images added")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--test-fraction", type=float, default=0.3, help="showers held out"
    )
    parser.add_argument(
        "--filters", type=int, nargs="+", default=[16, 32], help="ResNet stage filters"
    )
    parser.add_argument(
        "--generated-cuts",
        choices=["run", "none"],
        default="run",
        help="quality cuts on generated images: the run's (default) or none",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, 1 epoch, 2 seeds"
    )
    parser.add_argument("--overwrite", action="store_true")
    return parser


@dataclasses.dataclass
class Pool:
    """Normalised square images, true log10(E/TeV) and shower ids of one source."""

    images: np.ndarray
    log_energy: np.ndarray
    groups: np.ndarray

    def take(self, rows) -> Pool:
        return Pool(self.images[rows], self.log_energy[rows], self.groups[rows])

    def __len__(self) -> int:
        return len(self.log_energy)


def read_pool(run, path: Path, cuts: bool = True) -> Pool:
    """The images of ``path`` that pass the run's selection, in network units."""
    from ctgans.data.reader import read_examples
    from ctgans.evaluate.inputs import shower_groups

    cfg = dataclasses.replace(
        run.data,
        signal=(path,),
        background=(),
        labels=("energy",),
        cuts=run.data.cuts if cuts else (),
    )
    examples = read_examples(cfg)
    return Pool(
        run.normalization.forward(examples.images),
        examples.labels["log_true_energy"].astype(np.float64),
        shower_groups(examples.events),
    )


def split_showers(pool: Pool, fraction: float, seed: int) -> tuple[Pool, Pool]:
    """(training pool, held-out test pool), whole showers on each side."""
    unique = np.unique(pool.groups)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E57]))
    test = np.isin(
        pool.groups, rng.permutation(unique)[: int(round(fraction * len(unique)))]
    )
    return pool.take(~test), pool.take(test)


def match_energy(source: np.ndarray, target: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` rows of ``source`` whose log-energy histogram follows ``target``."""
    low, high = min(source.min(), target.min()), max(source.max(), target.max())
    edges = (
        np.arange(
            math.floor(low * BINS_PER_DECADE), math.ceil(high * BINS_PER_DECADE) + 1
        )
        / BINS_PER_DECADE
    )
    p_target = np.histogram(target, edges)[0] / len(target)
    counts = np.histogram(source, edges)[0]
    index = np.clip(np.digitize(source, edges) - 1, 0, len(counts) - 1)
    weight = p_target[index] / np.maximum(counts[index], 1)
    if weight.sum() == 0:
        raise DataError("generated and simulated energies do not overlap")
    n = min(n, int(np.count_nonzero(weight)))
    return rng.choice(len(source), n, replace=False, p=weight / weight.sum())


def generated_pool(
    run, folder: Path, n_events: int, particle: str, seed: int, cuts: bool
) -> Pool:
    """Generate ``n_events`` with sampled labels into a DL1 file and read it back
    (with the run's quality cuts unless ``cuts`` is false; none passing: empty)."""
    from ctgans.generate.run import GenerateRequest, generate

    path = folder / f"generated_{particle}.dl1.h5"
    stats = generate(
        GenerateRequest(
            run_folder=run.folder,
            output=path,
            n_events=n_events,
            seed=seed,
            particle=particle,
        )
    )
    log.info(
        "generated %d %s events in %.0f s", stats.n_events, particle, stats.seconds
    )
    try:
        return read_pool(run, path, cuts)
    except DataError as err:
        log.warning("no generated %s image is usable: %s", particle, err)
        shape = (0, *run.image_shape)
        return Pool(np.zeros(shape, np.float32), np.zeros(0), np.zeros(0, int))


def train_model(task: str, train: tuple, settings, seed: int):
    """A CTLearn ResNet for ``energy`` (standardised log E) or ``type``."""
    import keras

    from ctgans.data.pipeline import make_tf_dataset
    from ctgans.models.predictor import build_predictor, compile_predictor

    images, targets = train
    keras.utils.set_random_seed(seed)
    model = build_predictor(
        images.shape[1:],
        [task],
        tuple((f, 1) for f in settings.filters),
        "basic",
        None,
        name=f"{task}_model",
    )
    compile_predictor(model, [task], 1e-3)
    labels = targets.astype(np.float32)[:, None]
    stream = make_tf_dataset(
        images, labels, settings.batch_size, seed, drop_remainder=False
    )
    if task == "type":
        stream = stream.map(lambda x, y: (x, {task: keras.ops.cast(y[:, 0], "int32")}))
    else:
        stream = stream.map(lambda x, y: (x, {task: y}))
    model.fit(stream, epochs=settings.epochs, verbose=0)
    return model


def energy_figures(model, test: Pool, mean: float, std: float) -> dict:
    from ctgans.predictor.figures import energy_figures as figures

    reco = model.predict(test.images, batch_size=256, verbose=0)["energy"][:, 0]
    return figures(10 ** (reco * std + mean - test.log_energy) - 1)


def type_auc(model, gammas: Pool, protons: Pool) -> float:
    from ctgans.predictor.figures import type_auc as auc

    images = np.concatenate([gammas.images, protons.images])
    truth = np.r_[np.ones(len(gammas)), np.zeros(len(protons))]
    return auc(truth, model.predict(images, batch_size=256, verbose=0)["type"][:, 1])


def _draw(pool: Pool, n: int, rng, what: str) -> np.ndarray:
    if n > len(pool):
        raise ConfigError(f"{what}: {n} images requested; the pool holds {len(pool)}")
    return rng.permutation(len(pool))[:n]


def run_study(args, folder: Path) -> dict:
    """Train and evaluate every arm for every seed; return the results."""
    from ctgans.generate.trained_run import open_run

    run = open_run(args.run_folder)
    gammas, gamma_test = split_showers(
        read_pool(run, args.gamma_file), args.test_fraction, 0
    )
    protons, proton_test = split_showers(
        read_pool(run, args.proton_file), args.test_fraction, 0
    )
    both = "true_shower_primary_class" in run.label_columns
    cuts = args.generated_cuts == "run"
    generated = {"gamma": generated_pool(run, folder, 3 * args.m, "gamma", 1, cuts)}
    if both:
        generated["proton"] = generated_pool(run, folder, 3 * args.m, "proton", 2, cuts)
    mean, std = gammas.log_energy.mean(), gammas.log_energy.std()
    sizes = {
        "gamma_train_pool": len(gammas),
        "proton_train_pool": len(protons),
        "gamma_test": len(gamma_test),
        "proton_test": len(proton_test),
        **{f"generated_{k}_pool": len(v) for k, v in generated.items()},
    }
    log.info("pools: %s", sizes)
    results = {arm: [] for arm in ARMS}
    timings = {}
    for seed in args.seeds:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA0]))
        order = {"gamma": _draw(gammas, args.n + args.m, rng, "--n + --m gammas")}
        extra_p = args.m if both else 0
        order["proton"] = _draw(protons, args.n + extra_p, rng, "--n (+ --m) protons")
        sim = {"gamma": gammas, "proton": protons}
        base = {k: sim[k].take(order[k][: args.n]) for k in sim}
        more_sim = {k: sim[k].take(order[k][args.n :]) for k in sim}
        more_gen = {}
        for particle, pool in generated.items():
            if len(pool):
                rows = match_energy(
                    pool.log_energy, sim[particle].log_energy, args.m, rng
                )
                more_gen[particle] = pool.take(rows)
        for arm in ARMS:
            start = time.perf_counter()
            extra = {"a": {}, "b": more_gen, "c": more_sim}[arm]
            sets = {k: _concat(base[k], extra.get(k)) for k in base}
            g, p = sets["gamma"], sets["proton"]
            energy = train_model(
                "energy", (g.images, (g.log_energy - mean) / std), args, seed
            )
            classifier = train_model(
                "type",
                (
                    np.concatenate([g.images, p.images]),
                    np.r_[np.ones(len(g)), np.zeros(len(p))],
                ),
                args,
                seed,
            )
            row = {
                "seed": seed,
                "n_gamma_train": len(g),
                "n_proton_train": len(p),
                "n_generated": sum(len(v) for v in extra.values()) if arm == "b" else 0,
                **energy_figures(energy, gamma_test, mean, std),
                "type_auc": type_auc(classifier, gamma_test, proton_test),
            }
            timings.setdefault(arm, []).append(time.perf_counter() - start)
            log.info("arm %s seed %d: %s", arm, seed, row)
            results[arm].append(row)
    return {
        "run_folder": str(args.run_folder),
        "n": args.n,
        "m": args.m,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "filters": args.filters,
        "batch_size": args.batch_size,
        "generated_particles": sorted(generated),
        "generated_cuts": args.generated_cuts,
        "sample_sizes": sizes,
        "arms": ARMS,
        "results": results,
        "seconds_per_arm_and_seed": {k: float(np.mean(v)) for k, v in timings.items()},
    }


def _concat(a: Pool, b: Pool | None) -> Pool:
    if b is None or len(b) == 0:
        return a
    return Pool(
        np.concatenate([a.images, b.images]),
        np.concatenate([a.log_energy, b.log_energy]),
        np.concatenate([a.groups, b.groups]),
    )


def markdown_table(study: dict) -> str:
    """Mean ± std over seeds per arm."""
    lines = [
        f"N = {study['n']}, M = {study['m']}, seeds {study['seeds']}, "
        f"{study['epochs']} epochs; generated: "
        f"{', '.join(study['generated_particles'])}"
        " (classification arms (b), (c) add gammas only)"
        * (study["generated_particles"] == ["gamma"]),
        "",
        "| arm | training set | energy resolution | energy bias | gamma/proton AUC |",
        "|---|---|---:|---:|---:|",
    ]
    for arm, rows in study["results"].items():
        cells = []
        for key in ("energy_resolution", "energy_bias", "type_auc"):
            values = np.array([r[key] for r in rows])
            std = values.std(ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{values.mean():.3f} ± {std:.3f}")
        lines.append(f"| ({arm}) | {study['arms'][arm]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = _parser().parse_args(argv)
        if args.quick:
            args.n, args.m, args.seeds, args.epochs = 20, 20, [0, 1], 1
            args.filters = [16]
        for name in ("n", "m", "epochs", "batch_size"):
            value = getattr(args, name)
            if value < 1:
                option = name.replace("_", "-")
                raise ConfigError(f"--{option} must be >= 1; received {value}")
        if not 0 < args.test_fraction < 1:
            raise ConfigError(
                f"--test-fraction must be in (0, 1); received {args.test_fraction}"
            )
        if args.output.exists() and not args.overwrite:
            raise ConfigError(
                f"--output {args.output} exists; pass --overwrite to replace it"
            )
        for path in (args.gamma_file, args.proton_file):
            if not path.is_file():
                raise DataError(
                    f"{path} does not exist; expected a simulated DL1 file "
                    "(python -m ctgans.simulate writes data/toy/)"
                )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{args.output.name}.", dir=args.output.parent)
        )
        try:
            study = run_study(args, tmp)
            (tmp / "results.json").write_text(json.dumps(study, indent=2))
            (tmp / "table.md").write_text(markdown_table(study))
            if args.output.exists():
                shutil.rmtree(args.output)
            os.replace(tmp, args.output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        print(markdown_table(study))
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
