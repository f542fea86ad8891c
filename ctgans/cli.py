"""What every ``python -m ctgans.X`` entry point shares: logging and exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Callable

from ctgans.exceptions import CtgansInputError
from ctgans.preemption import EXIT_STATUS, Terminated, handle_sigterm

log = logging.getLogger("ctgans")

#: Failed writes that are the machine's state, not a bug: reported like bad input.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


class ArgumentParser(argparse.ArgumentParser):
    """Bad arguments become one ``error:`` line and exit 2, like any input error.

    Call ``parse_args`` inside the body given to :func:`run_main`.
    """

    def error(self, message):
        raise CtgansInputError(message)


def run_main(body: Callable[[], int | None], level: int = logging.INFO) -> int:
    """Run ``body``; bad input -> one line on stderr and 2, a bug -> traceback and 1.

    A full disk or read-only file system (``OSError`` ENOSPC, EDQUOT, EFBIG, EROFS)
    counts as bad input: one line naming the file. SIGTERM -> one line and 143
    (:mod:`ctgans.preemption`).
    """
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    try:
        with handle_sigterm():
            return body() or 0
    except Terminated as err:
        print(err, file=sys.stderr)
        return EXIT_STATUS
    except CtgansInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            log.exception("unexpected error")
            return 1
        print(f"error: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.exception("unexpected error")
        return 1
