"""The per-epoch stats ESPnet's trainer logs, read back from an exp dir's train logs.

ESPnet's trainer logs one ``<N>epoch results: [train] k=v, ... [valid] k=v, ...`` line per
epoch (``Reporter.log_message``, values rounded to 3 significant decimals). An exp dir
trained in several runs (a killed one, then the resumed one) holds them in
``train.log.<n>`` and ``train.log`` (sepplug's ``enh.sh``) or ``train.*.log``; a later file
overrides an earlier one's epoch.
"""

from __future__ import annotations

import re
from pathlib import Path

EPOCH_LINE = re.compile(r"(\d+)epoch results: (.*)$")
SECTION = re.compile(r"\[(\w+)\] ([^[]*)")

EpochStats = dict[int, dict[str, dict[str, float]]]  # epoch -> section -> key -> value


def train_logs(exp: Path) -> list[Path]:
    """The exp dir's train logs, oldest run first: other ``train.*.log`` (e.g. a continued
    run's ``train.first_part.log``; numbers compared as numbers), then ``train.log.<n>`` by
    ``n`` (enh.sh keeps a killed run's log as the next free ``n``), then ``train.log``."""
    def order(path: Path) -> tuple:
        name = path.name
        if name == "train.log":
            return (2, 0, "")
        suffix = name.removeprefix("train.log.")
        if suffix != name and suffix.isdigit():
            return (1, int(suffix), "")
        words = re.split(r"(\d+)", name)
        return (0, 0, tuple(int(w) if w.isdigit() else w for w in words))

    return sorted({*exp.glob("train.log*"), *exp.glob("train.*.log")}, key=order)


def read_epoch_stats(exp: Path) -> EpochStats:
    """Every number of every ``<N>epoch results`` line of the exp dir's train logs.

    A value with a unit (``time=41.9 seconds``) gives its leading number.
    """
    stats: EpochStats = {}
    for log in train_logs(exp):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = EPOCH_LINE.search(line)
            if not match:
                continue
            epoch = stats.setdefault(int(match.group(1)), {})
            for section, body in SECTION.findall(match.group(2)):
                for item in body.split(","):
                    key, sep, value = item.strip().partition("=")
                    try:
                        number = float(value.split()[0]) if sep else None
                    except (ValueError, IndexError):
                        number = None
                    if number is not None:
                        epoch.setdefault(section, {})[key] = number
    return stats
