"""``python -m ctgans.evaluate RUN_FOLDER --output DIR`` (or ``ctgans-evaluate``).

Writes the fidelity report of FIDELITY.md into ``DIR``: ``report.json``
(every metric with its floor, target, status and sample sizes), ``summary.md``,
and PNG plots. The folder is written under a temporary name and renamed into
place; an existing one is refused unless ``--overwrite``.

Examples::

    python -m ctgans.evaluate runs/gamma-001 --output reports/gamma-001
    # what a perfect generator scores at this sample size
    python -m ctgans.evaluate runs/gamma-001 --output reports/reference \\
        --generator nearest-simulated
    # against 10 000 held-out images simulated with another seed (README)
    python -m ctgans.evaluate runs/gamma-001 --output reports/gamma-001-ref \\
        --reference data/toy/gamma_reference.dl1.h5
    # diversity at exactly repeated labels (README: the toy fixed-label file)
    python -m ctgans.evaluate runs/gamma-001 --output reports/gamma-001-fixed \\
        --fixed-labels data/toy/gamma_fixed_labels.dl1.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ctgans.cli import ArgumentParser, run_main
from ctgans.evaluate.request import GENERATORS, MIN_RESAMPLES, ReportRequest
from ctgans.exceptions import CtgansInputError

log = logging.getLogger("ctgans.evaluate")


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="ctgans-evaluate",
        description="Fidelity report of a training run: generated vs held-out "
        "simulated images with the same labels, each metric next to its "
        "simulation-vs-simulation floor.",
    )
    parser.add_argument("run_folder", type=Path, help="run folder, e.g. runs/gamma-001")
    parser.add_argument("--output", type=Path, required=True, help="report folder")
    parser.add_argument(
        "--n-events", type=int, help="held-out images to use (default: all)"
    )
    parser.add_argument(
        "--reference",
        nargs="+",
        type=Path,
        default=(),
        metavar="FILE",
        help="simulated DL1 files never used in training, read with the run's "
        "selection (telescopes, cuts, labels, mapper) and normalisation, compared "
        "instead of the run's validation split (FIDELITY.md wants ~10 000 images). "
        "Refused: missing or non-DL1 files, other telescopes, no event passing "
        "the cuts, generated files, the run's training files",
    )
    parser.add_argument(
        "--fixed-labels",
        nargs="+",
        type=Path,
        default=(),
        metavar="FILE",
        help="simulated DL1 files whose showers repeat a few labels exactly "
        "(python -m ctgans.simulate --fixed-energies ... --fixed-directions ...), "
        "read like --reference: the generator gets the same labels as often and "
        "the spread of each image parameter at each label is compared. Without "
        "it, groups of nearest neighbours in label space stand in",
    )
    parser.add_argument(
        "--epoch",
        type=int,
        default=None,
        help="evaluate the generator and critic of the checkpoint after this many "
        "epochs (checkpoints/epoch-NNNN) instead of the final generator.keras",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--resamples",
        type=int,
        default=MIN_RESAMPLES,
        help=f"random halvings A/B (>= {MIN_RESAMPLES})",
    )
    parser.add_argument(
        "--generator",
        choices=GENERATORS,
        default="run",
        help="nearest-simulated: answer each label with the simulated training "
        "image of nearest labels (the report of a perfect generator)",
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the speed test")
    parser.add_argument("--overwrite", action="store_true", help="replace REPORT_DIR")
    return parser


def _finite(node):
    """NaN and inf -> None, numpy scalars -> Python: strict JSON."""
    if isinstance(node, dict):
        return {str(k): _finite(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_finite(v) for v in node]
    if hasattr(node, "item") and not isinstance(node, str):
        node = node.item()
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node


def write_report(output: Path, report: dict, data, overwrite: bool) -> None:
    """Write the report folder atomically (temporary sibling folder + rename)."""
    from ctgans.evaluate.plots import feature_histograms, label_recovery_curves
    from ctgans.evaluate.summary import markdown_summary
    from ctgans.runs.samples import plot_sample_grid

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        (tmp / "report.json").write_text(json.dumps(_finite(report), indent=2))
        (tmp / "summary.md").write_text(markdown_summary(report))
        feature_histograms(
            tmp / "feature_histograms.png", data.sim_features, data.gen_features
        )
        label_recovery_curves(tmp / "label_recovery.png", report["label_recovery"])
        inputs = data.inputs
        plot_sample_grid(
            tmp / "samples.png",
            data.real[:8],
            data.fake[:8],
            inputs.labels[:8],
            inputs.dataset.normalization,
            inputs.dataset.label_scaler,
            title=f"{inputs.run.folder.name}: simulated vs generated",
        )
        old = None
        if output.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent)
            )
            os.replace(output, old / output.name)
        os.replace(tmp, output)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""

    def body() -> int:
        args = _parser().parse_args(argv)
        if args.output.exists() and not args.overwrite:
            raise CtgansInputError(
                f"--output {args.output} exists; choose a new folder or pass "
                "--overwrite"
            )
        request = ReportRequest(
            run_folder=args.run_folder,
            n_events=args.n_events,
            seed=args.seed,
            n_resamples=args.resamples,
            generator=args.generator,
            speed=not args.no_speed,
            reference=tuple(args.reference),
            fixed_labels=tuple(args.fixed_labels),
            epoch=args.epoch,
        )
        from ctgans.generate.trained_run import open_run

        run = open_run(args.run_folder)  # bad input is reported before TF loads
        if request.epoch is not None:
            from ctgans.runs.layout import complete_epochs, epoch_checkpoint

            if epoch_checkpoint(run.folder, request.epoch) is None:
                raise CtgansInputError(
                    f"--epoch {request.epoch}: run folder {run.folder} has no "
                    f"complete checkpoint of that epoch; expected one of "
                    f"{complete_epochs(run.folder)}"
                )
        if request.reference:
            from ctgans.data.reference import check_reference_files

            check_reference_files(run.data, request.reference)
        if request.fixed_labels:
            from ctgans.data.reference import check_reference_files
            from ctgans.exceptions import DataError

            try:
                check_reference_files(run.data, request.fixed_labels)
            except DataError as err:  # its messages name --reference
                raise DataError(
                    str(err).replace("--reference", "--fixed-labels")
                ) from None
        from ctgans.evaluate.report import build_report  # imports TensorFlow

        report, data = build_report(request)
        write_report(args.output, report, data, args.overwrite)
        counts = report["summary"]
        print(
            f"{args.output}: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['unresolved']} unresolved ({report['seconds']:.0f} s)"
        )
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
