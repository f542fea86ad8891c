"""Command line: ``python -m ctgans.simulate`` (or ``ctgans-simulate``).

Without arguments, writes the embedded toy dataset (40000 thrown gammas and
protons, diffuse) into ``data/toy/``. With ``--particle`` and ``--output``,
writes one file with the given settings; with ``--fixed-energies`` and
``--fixed-directions`` as well, every shower has one of those exact labels (for
the fixed-label diversity of ``python -m ctgans.evaluate --fixed-labels``).
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
    single.add_argument(
        "--fixed-energies",
        nargs="+",
        type=float,
        default=(),
        metavar="TEV",
        help="with --fixed-directions: showers at exactly these energies, cycling "
        "through energies x directions (--n-events in total; cores drawn as usual)",
    )
    single.add_argument(
        "--fixed-directions",
        nargs="+",
        type=_direction,
        default=(),
        metavar="OFFSET,ANGLE",
        help="with --fixed-energies: shower directions, offset from the pointing "
        "and position angle in degrees (angle 0: the camera's fov_lon axis)",
    )
    return parser


def _direction(text: str) -> tuple[float, float]:
    """``"0.4,120"`` -> ``(0.4, 120.0)``."""
    try:
        offset, angle = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected OFFSET,ANGLE in degrees (e.g. 0.4,120); received {text!r}"
        ) from None
    return offset, angle


def _summary(stats: SimulationStats) -> str:
    return (
        f"{stats.path}: {stats.n_thrown} showers thrown, {stats.n_written} events "
        f"written, {stats.events_per_second:.0f} events/s"
    )


def _plan(args) -> list[tuple[SimulationSettings, Path]]:
    """Validate everything before anything is written."""
    if args.particle is None and (args.fixed_energies or args.fixed_directions):
        raise CtgansInputError(
            "--fixed-energies/--fixed-directions: expected single-file mode "
            "(--particle and --output)"
        )
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
            fixed_energies_tev=tuple(args.fixed_energies),
            fixed_directions_deg=tuple(args.fixed_directions),
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
