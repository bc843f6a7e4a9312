"""SpatialVCTK's results tool: the generic one plus the feature-suppression checks.

    python -m sepplug.recipes.spatialvctk.make_results --expdir exp --out exp/RESULTS.md

Everything :mod:`sepplug.bin.make_results` writes (the separation table, the bar chart,
``results/summary.tsv``), and the rows of every ``<expdir>/*/fs_check.tsv``
(:mod:`sepplug.recipes.spatialvctk.fs_check`, family ``fs_check``) with their
``fs_check.md`` tables as a section of RESULTS.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.bin import make_results
from sepplug.results.summary import ResultRow, read_summary

FS_CHECK_HEADING = ("## Feature-suppression checks (family `fs_check`, "
                    "`sepplug.recipes.spatialvctk.fs_check`)")


def fs_check_results(expdir: Path) -> tuple[list[ResultRow], list[str]]:
    """Rows of every ``<expdir>/*/fs_check.tsv`` and the Markdown section of their
    ``fs_check.md`` tables (none when there is no table).

    Raises:
        ValueError: a malformed ``fs_check.tsv`` (names it).
    """
    rows, sections = [], []
    for path in sorted(expdir.glob("*/fs_check.tsv")):
        rows += read_summary(path)
        table = path.with_suffix(".md")
        if table.is_file():
            sections.append(f"### {path.parent.name}\n\n{table.read_text(encoding='utf-8')}")
    return rows, [FS_CHECK_HEADING, *sections] if sections else []


def main(argv: Sequence[str] | None = None) -> int:
    return make_results.main(argv, extra=fs_check_results,
                             prog="sepplug.recipes.spatialvctk.make_results", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
