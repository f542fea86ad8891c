"""Generation in chunks: which events a chunk holds and where its randomness comes from.

A generated file is made chunk by chunk, :data:`CHUNK_EVENTS` events each (the
last one may be shorter): chunk ``k`` holds the events ``k * CHUNK_EVENTS`` to
``(k + 1) * CHUNK_EVENTS - 1`` (their ``event_id``). Every random draw of a chunk
is seeded from the generation seed and ``k`` alone (:func:`chunk_seed`):

* sampled truth (energy, direction): ``SeedSequence([seed, 0, k])``;
* generator noise ``z``: ``[seed, 1, k]``; stereo cores: ``[seed, 2, k]``;
* camera noise of a camera-aware generator: reseeded from ``[seed, 3, k]``;
* ctapipe's timing fit: ``[seed, 0xF17, k]``;

so a chunk's events are the same whichever process writes it and however many
chunks are made at once, and memory is bounded by a chunk, not by the number of
events. The chunk size is part of the seeding, hence a constant and not an
option: changing it would change the events of a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import numpy as np

from ctgans.generate.labels import Truth

__all__ = [
    "CHUNK_EVENTS",
    "CopiedTruth",
    "SampledTruth",
    "chunk_ranges",
    "chunk_seed",
    "concatenate",
]

#: Events per chunk (the unit of seeding, of memory and of a written part).
CHUNK_EVENTS = 2000

#: The random streams of a chunk (:func:`chunk_seed`).
STREAMS = {"truth": 0, "noise": 1, "cores": 2, "camera": 3, "fit": 0xF17}


def chunk_ranges(n_events: int) -> Iterator[tuple[int, int, int]]:
    """``(k, start, stop)`` of every chunk of ``n_events`` events, in order."""
    for k, start in enumerate(range(0, n_events, CHUNK_EVENTS)):
        yield k, start, min(start + CHUNK_EVENTS, n_events)


def chunk_seed(seed: int, stream: str, chunk: int) -> np.random.SeedSequence:
    """The seed of one random ``stream`` (a key of :data:`STREAMS`) of a chunk."""
    return np.random.SeedSequence([int(seed), STREAMS[stream], int(chunk)])


@dataclass(frozen=True)
class CopiedTruth:
    """The truth of a file's selected events, cycled to ``n_events``."""

    events: Truth
    n_events: int

    def chunk(self, k: int, start: int, stop: int) -> Truth:
        """The truth of events ``start`` to ``stop - 1`` (chunk ``k``)."""
        return self.events.take(np.arange(start, stop) % len(self.events))

    def obs_counts(self) -> dict[int, int]:
        """Events per obs_id over the whole file."""
        repeats, rest = divmod(self.n_events, len(self.events))
        obs_id = self.events.obs_id
        counts = {}
        for obs in np.unique(obs_id):
            mine = obs_id == obs
            counts[int(obs)] = int(repeats * mine.sum() + mine[:rest].sum())
        return counts


@dataclass(frozen=True)
class SampledTruth:
    """Truth drawn chunk by chunk: ``draw(n, rng)`` samples ``n`` events, and
    ``cores(truth, rng)`` (stereo) gives them the cores of simulated showers."""

    draw: Callable[[int, np.random.Generator], Truth]
    n_events: int
    obs_id: int
    seed: int
    cores: Callable[[Truth, np.random.Generator], Truth] | None = None

    def chunk(self, k: int, start: int, stop: int) -> Truth:
        """The truth of events ``start`` to ``stop - 1`` (chunk ``k``)."""
        rng = np.random.default_rng(chunk_seed(self.seed, "truth", k))
        truth = self.draw(stop - start, rng)
        if self.cores is None:
            return truth
        core_rng = np.random.default_rng(chunk_seed(self.seed, "cores", k))
        return self.cores(truth, core_rng)

    def obs_counts(self) -> dict[int, int]:
        """Events per obs_id over the whole file (all in one observation)."""
        return {int(self.obs_id): int(self.n_events)}


def concatenate(parts: list[Truth]) -> Truth:
    """The rows of ``parts``, in order, as one Truth."""
    first = parts[0]
    return replace(
        first,
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(first)
        },
    )
