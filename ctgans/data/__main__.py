"""``python -m ctgans.data CONFIG``: build (or find) the cached dataset of a config."""

from __future__ import annotations

import sys

from ctgans.cli import ArgumentParser, run_main


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="ctgans-prepare",
        description="Read the DL1 files named in a config once and cache the mapped, "
        "normalised images and labels.",
    )
    parser.add_argument("config", help="YAML config, e.g. configs/gamma.yml")

    def body() -> int:
        args = parser.parse_args(argv)
        from ctgans.config import load_config
        from ctgans.data import prepare_dataset

        cfg = load_config(args.config)
        dataset = prepare_dataset(cfg.data, cfg.seed)
        n_val = int(dataset.is_validation.sum())
        print(
            f"{dataset.path}: {len(dataset.images)} examples "
            f"({len(dataset.images) - n_val} training, {n_val} validation), "
            f"image shape {dataset.image_shape}, "
            f"labels {', '.join(dataset.label_columns)}"
        )
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
