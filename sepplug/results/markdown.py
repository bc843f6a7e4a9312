"""Markdown pieces of every RESULTS.md: the environment block (ESPnet's layout) and tables.

Every results tool writes its tables with :func:`markdown_table`, so that they all share
one layout (``|a|b|`` rows under a ``|---|---|`` rule, as ESPnet's RESULTS.md files).
"""

from __future__ import annotations

import datetime
import importlib.metadata as metadata
import os
import platform
import subprocess
from collections.abc import Iterable, Sequence


def markdown_row(cells: Iterable[object]) -> str:
    """``|a|b|c|``: one table row (cells as ``str``)."""
    return "|" + "|".join(str(c) for c in cells) + "|"


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]] = ()
                   ) -> list[str]:
    """The lines of a table: header, rule, one line per row."""
    return [markdown_row(header), "|---" * len(header) + "|", *map(markdown_row, rows)]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> str:
    """The ``## Environments`` block of ESPnet's RESULTS.md (date, versions, git, machine)."""
    try:
        git = subprocess.run(["git", "log", "-1", "--format=%H %cd"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        git = "unknown"
    return "\n".join([
        "## Environments",
        f"- date: `{datetime.datetime.now().strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{platform.python_version()}`",
        f"- espnet version: `espnet {_version('espnet')}`",
        f"- pytorch version: `pytorch {_version('torch')}`",
        f"- sepplug version: `sepplug {_version('sepplug')}`",
        f"- Git hash: `{git}`",
        f"- machine: `{platform.machine()}, {os.cpu_count() or 0} CPU`",
    ])
