"""SIGTERM, what Slurm, Kubernetes and preemptible nodes send before they kill a job.

Every ``python -m ctgans.X`` command turns SIGTERM into :class:`Terminated`, which
:func:`ctgans.cli.run_main` reports in one line with exit status 143 (128 + 15),
after ``finally`` blocks have removed the temporaries of atomic writers. Python's
default would end the process at once, with nothing said and nothing cleaned up.

Training stops cleanly instead, as TensorFlow's ``PreemptionCheckpointHandler``
does: while the GAN's training loop runs (:func:`defer`), a SIGTERM only sets a
flag (:func:`requested`), and the loop stops at its next step boundary (see
:class:`ctgans.train.callbacks.CheckpointEvery`). A second SIGTERM stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["EXIT_STATUS", "Terminated", "defer", "handle_sigterm", "requested"]

log = logging.getLogger(__name__)

#: Exit status of a process ended by SIGTERM, as shells and schedulers report it.
EXIT_STATUS = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM ended the command; the message says where and what to do next.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except
    Exception`` on the way swallows it.
    """


_state = {"deferring": False, "requested": False}


def _handler(signum, frame) -> None:
    if _state["deferring"] and not _state["requested"]:
        _state["requested"] = True
        log.warning("SIGTERM received: stopping at the end of the current step")
        return
    _state["deferring"] = False
    raise Terminated(
        "terminated by SIGTERM; outputs are written atomically, nothing "
        "half-written is kept: run the same command again"
    )


@contextmanager
def handle_sigterm() -> Iterator[None]:
    """Raise :class:`Terminated` on SIGTERM inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _handler)
    _state.update(deferring=False, requested=False)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _state.update(deferring=False, requested=False)


def defer(on: bool) -> None:
    """Start (``on``) or end a stretch in which SIGTERM only sets :func:`requested`."""
    _state["deferring"] = on


def requested() -> bool:
    """Whether a SIGTERM arrived while deferring."""
    return _state["requested"]
