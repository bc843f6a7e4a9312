"""One line per training epoch from the components that want to say what they did in it.

ESPnet's trainer logs the model's stats per epoch, but a preprocessor (e.g. ``hard_dm``'s
partner draws) has no epoch-end event: it runs in DataLoader workers and never sees the
epoch finish. A component calls :func:`register` once (in the main process, when the task
builds it); :class:`sepplug.train.trainer.SepplugTrainer` calls :func:`log_epoch_reports`
after each training epoch, which logs ``epoch_report()`` of every registered object that is
still alive. Counts kept in the workers must live in shared memory (see ``hard_dm``) to be
seen here.
"""

from __future__ import annotations

import logging
import weakref
from typing import Protocol


class EpochReporter(Protocol):
    def epoch_report(self) -> str | None:
        """What happened since the last call (None or "": nothing to say)."""


_reporters: weakref.WeakSet = weakref.WeakSet()


def register(obj: EpochReporter) -> None:
    """Ask for ``obj.epoch_report()`` after each training epoch (held by a weak reference)."""
    _reporters.add(obj)


def log_epoch_reports(epoch: int) -> list[str]:
    """Log (and return) the reports of the registered objects for ``epoch``."""
    lines = []
    for obj in list(_reporters):
        text = obj.epoch_report()
        if text:
            lines.append(f"{epoch}epoch: {text}")
            logging.info(lines[-1])
    return lines
