"""Command line: ``python -m ctgans.simulate`` (or ``ctgans-simulate``).

Without arguments, writes the embedded toy dataset (40000 thrown gammas and
protons, diffuse) into ``data/toy/``. With ``--particle`` and ``--output``,
writes one file with the given settings.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ctgans.cli import ArgumentParser, run_main
from ctgans.config import EMBEDDED_EVENTS
from ctgans.exceptions import CtgansInputError, DataError
from ctgans.simulate.settings import SOURCE_MODES, SimulationSettings
from ctgans.simulate.writer import SimulationStats, embedded_settings, simulate


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m ctgans.simulate",
        description="Write toy MAGIC simulations as ctapipe DL1 files.",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("data/toy"))
    parser.add_argument(
        "--n-events", type=int, default=EMBEDDED_EVENTS, help="showers thrown"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    single = parser.add_argument_group("single file (needs --particle and --output)")
    single.add_argument("--particle", choices=["gamma", "proton"])
    single.add_argument("--output", type=Path)
    single.add_argument("--energy-min", type=float, help="TeV")
    single.add_argument("--energy-max", type=float, help="TeV")
    single.add_argument("--spectral-index", type=float)
    single.add_argument("--source", choices=SOURCE_MODES, default="diffuse")
    single.add_argument("--wobble-offset", type=float, default=0.4, help="deg")
    single.add_argument("--diffuse-radius", type=float, default=1.5, help="deg")
    single.add_argument("--max-impact", type=float, default=300.0, help="m")
    return parser


def _summary(stats: SimulationStats) -> str:
    return (
        f"{stats.path}: {stats.n_thrown} showers thrown, {stats.n_written} events "
        f"written, {stats.events_per_second:.0f} events/s"
    )


def _plan(args) -> list[tuple[SimulationSettings, Path]]:
    """Validate everything before anything is written."""
    if (args.particle is None) != (args.output is None):
        raise CtgansInputError(
            "single-file mode: expected both --particle and --output, received "
            f"--particle={args.particle} --output={args.output}"
        )
    if args.particle is not None:
        settings = SimulationSettings(
            particle=args.particle,
            n_events=args.n_events,
            seed=args.seed,
            energy_min_tev=args.energy_min,
            energy_max_tev=args.energy_max,
            spectral_index=args.spectral_index,
            source=args.source,
            wobble_offset_deg=args.wobble_offset,
            diffuse_radius_deg=args.diffuse_radius,
            max_impact_m=args.max_impact,
        )
        plan = [(settings, args.output)]
    else:
        plan = [
            (settings, args.output_dir / name)
            for settings, name in embedded_settings(args.n_events, args.seed).values()
        ]
    for _, path in plan:
        if path.exists() and not args.overwrite and args.particle is not None:
            raise DataError(
                f"--output: expected a new file (or --overwrite), received existing "
                f"{path}"
            )
    return plan


def main(argv=None) -> int:
    """Run the command line; return the exit status."""

    def body() -> int:
        args = _parser().parse_args(argv)
        plan = _plan(args)
        for settings, path in plan:
            if path.exists() and not args.overwrite:
                print(f"{path}: exists, kept (use --overwrite to rewrite)")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            print(_summary(simulate(settings, path, overwrite=args.overwrite)))
        return 0

    return run_main(body, level=logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
