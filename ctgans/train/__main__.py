"""``python -m ctgans.train CONFIG``: train (or resume) a conditional WGAN-GP."""

from __future__ import annotations

import sys

from ctgans.cli import ArgumentParser, run_main


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="ctgans-train",
        description="Train a conditional WGAN-GP on the DL1 data named in a config. "
        "Running the same command again resumes the newest run folder of this config "
        "from its last checkpoint.",
    )
    parser.add_argument("config", help="YAML config, e.g. configs/gamma.yml")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start a new run folder instead of resuming",
    )

    def body() -> int:
        args = parser.parse_args(argv)
        from ctgans.config import load_config

        cfg = load_config(args.config)
        from ctgans.train.run import (
            run,  # TensorFlow loads only after the config is valid
        )

        folder = run(cfg, fresh=args.fresh)
        print(f"{folder}: generator.keras, history.csv, samples/, checkpoints/")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
