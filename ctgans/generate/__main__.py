"""``python -m ctgans.generate RUN_FOLDER --output FILE`` (or ``ctgans-generate``).

Examples::

    # 10000 events, labels sampled in the training range (diffuse, E^-2 or the
    # training files' spectral index)
    python -m ctgans.generate runs/gamma-001 --output gen.dl1.h5 --n-events 10000

    # the truth of the selected events of a simulated file, one image each
    python -m ctgans.generate runs/gamma-001 --output gen.dl1.h5 \\
        --labels-from data/toy/gamma_diffuse.dl1.h5

    # 1 000 000 events in bounded memory, DL1 parameters computed and written
    # by 2 worker processes
    python -m ctgans.generate runs/gamma-001 --output gen.dl1.h5 \\
        --n-events 1000000 --workers 2

    # images and cleaning masks only: ctapipe's default (NaN) DL1 parameters,
    # about a third less CPU
    python -m ctgans.generate runs/gamma-001 --output gen.dl1.h5 \\
        --n-events 100000 --no-parameters

    # a point source 0.4 deg off-axis, 0.1-10 TeV, E^-2.6
    python -m ctgans.generate runs/gamma-001 --output gen.dl1.h5 --n-events 5000 \\
        --energy-min 0.1 --energy-max 10 --spectral-index -2.6 \\
        --direction point --radius-deg 0.4

Bad arguments, a missing run folder or an existing output file: one ``error:``
line and exit status 2, nothing written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ctgans.cli import ArgumentParser, run_main
from ctgans.exceptions import CtgansInputError


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="ctgans-generate",
        description="Generate labeled camera images with a trained run's generator "
        "and write them as a ctapipe DL1 file that dl1-data-handler and CTLearn read.",
    )
    parser.add_argument("run_folder", type=Path, help="run folder, e.g. runs/gamma-001")
    parser.add_argument("--output", type=Path, required=True, help="DL1 file to write")
    parser.add_argument(
        "--n-events",
        type=int,
        help="events to generate (default with --labels-from: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes computing DL1 parameters and writing (default 1: this "
        "one; N > 1: N parts merged by ctapipe; the same events either way)",
    )
    parser.add_argument(
        "--parameters",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compute the DL1 image parameters (default); --no-parameters: "
        "clean the images only and write ctapipe's default (NaN) parameters, "
        "about a third less CPU (dl1-data-handler reads such files with "
        "TableQualityQuery.quality_criteria [])",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    labels = parser.add_argument_group(
        "labels", "copied from a DL1 file, or sampled (defaults: the training range)"
    )
    labels.add_argument(
        "--labels-from",
        type=Path,
        metavar="DL1FILE",
        help="copy the truth of this file's selected events",
    )
    labels.add_argument("--energy-min", type=float, metavar="TEV")
    labels.add_argument("--energy-max", type=float, metavar="TEV")
    labels.add_argument(
        "--spectral-index",
        type=float,
        metavar="X",
        help="dN/dE ~ E**X (default: the training files' index)",
    )
    labels.add_argument("--direction", choices=["diffuse", "point"])
    labels.add_argument(
        "--radius-deg",
        type=float,
        metavar="DEG",
        help="disc radius (diffuse) or source offset (point)",
    )
    labels.add_argument(
        "--particle",
        choices=["gamma", "proton"],
        help="primary of sampled events (default: the run's signal)",
    )
    return parser


SAMPLING_OPTIONS = (
    "energy_min",
    "energy_max",
    "spectral_index",
    "direction",
    "radius_deg",
    "particle",
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""

    def body() -> int:
        args = _parser().parse_args(argv)
        if args.labels_from is not None:
            given = [
                f"--{o.replace('_', '-')}"
                for o in SAMPLING_OPTIONS
                if getattr(args, o) is not None
            ]
            if given:
                raise CtgansInputError(
                    f"--labels-from copies the labels; received "
                    f"sampling options too: {', '.join(given)}"
                )
        from ctgans.generate.run import GenerateRequest, generate

        request = GenerateRequest(
            run_folder=args.run_folder,
            output=args.output,
            n_events=args.n_events,
            labels_from=args.labels_from,
            energy_min=args.energy_min,
            energy_max=args.energy_max,
            spectral_index=args.spectral_index,
            direction=args.direction,
            radius_deg=args.radius_deg,
            particle=args.particle,
            seed=args.seed,
            batch_size=args.batch_size,
            overwrite=args.overwrite,
            workers=args.workers,
            parameters=args.parameters,
        )
        stats = generate(request, progress=not args.no_progress, keep_truth=False)
        outside = ", ".join(stats.outside_training_range)
        note = f"; outside the training range: {outside}" if outside else ""
        print(f"{stats.path}: {stats.n_events} events in {stats.seconds:.1f} s{note}")
        return 0

    return run_main(body, level=logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
