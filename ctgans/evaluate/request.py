"""What a fidelity report is asked for: checked before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctgans.exceptions import ConfigError

__all__ = ["GENERATORS", "MIN_EVENTS", "MIN_RESAMPLES", "ReportRequest"]

#: ``run``: the run's generator; ``nearest-simulated``: simulated training images
#: with the nearest labels (what a perfect generator would score).
GENERATORS = ("run", "nearest-simulated")
MIN_EVENTS = 20
MIN_RESAMPLES = 5  # FIDELITY.md: >= 5 seeds or resamples


@dataclass(frozen=True)
class ReportRequest:
    """What to evaluate; checked when made (``ConfigError`` names the option).

    Parameters
    ----------
    run_folder : pathlib.Path
        A finished training run folder.
    n_events : int or None
        Validation images to use (whole showers, seeded); None: all.
    seed : int
        Seeds the choice of events, the generator noise, the halvings A/B and the
        classifiers.
    n_resamples : int
        Random halvings A/B every metric is measured on.
    generator : {"run", "nearest-simulated"}
        What makes the images compared with simulation.
    speed : bool
        Time the generator (section 5).
    reference : tuple of pathlib.Path
        Simulated DL1 files never used in training, compared instead of the
        run's validation split (read with the run's selection); empty: the
        validation split.
    fixed_labels : tuple of pathlib.Path
        Simulated DL1 files whose showers repeat a few labels exactly, for the
        fixed-label diversity row; empty: nearest neighbours in label space.
    epoch : int or None
        Evaluate the generator (and critic) of the checkpoint after this many
        epochs; None: the final ``generator.keras`` and the last checkpoint.
    """

    run_folder: Path
    n_events: int | None = None
    seed: int = 0
    n_resamples: int = MIN_RESAMPLES
    generator: str = "run"
    speed: bool = True
    reference: tuple[Path, ...] = ()
    fixed_labels: tuple[Path, ...] = ()
    epoch: int | None = None

    def __post_init__(self):
        if self.epoch is not None and self.epoch < 1:
            raise ConfigError(f"--epoch must be >= 1; received {self.epoch}")
        if self.n_events is not None and self.n_events < MIN_EVENTS:
            raise ConfigError(
                f"--n-events must be at least {MIN_EVENTS}; received {self.n_events}"
            )
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0; received {self.seed}")
        if self.n_resamples < MIN_RESAMPLES:
            raise ConfigError(
                f"--resamples must be at least {MIN_RESAMPLES} (FIDELITY.md); "
                f"received {self.n_resamples}"
            )
        if self.generator not in GENERATORS:
            raise ConfigError(
                f"--generator must be one of {GENERATORS}; received {self.generator!r}"
            )
