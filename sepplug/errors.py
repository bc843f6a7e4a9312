"""The error the data tools raise for bad input (the CLIs turn it into a message + exit 1)."""

from __future__ import annotations

import logging
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class DataError(RuntimeError):
    """Bad input data or options: the message names the file/key and the problem."""


def setup_cli_logging() -> None:
    """INFO logging with timestamps, as every data command line prints its progress."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def run_or_report(work: Callable[[], object], logger: logging.Logger) -> int:
    """Run a command line's work: 0 when it succeeds, 1 after logging the message of a
    :class:`DataError` (bad input: no traceback). Other exceptions propagate."""
    try:
        work()
    except DataError as exc:
        logger.error("%s", exc)
        return 1
    return 0
