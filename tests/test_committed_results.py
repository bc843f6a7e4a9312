"""Each recipe's committed results/summary.tsv holds the numbers of its committed RESULTS.md."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sepplug.results.summary import read_summary

EGS = Path(__file__).resolve().parents[1] / "egs"
# (a recipe's own exp/results/summary.tsv, git-ignored, is not a committed result)
RECIPES = sorted(p.parent.parent for p in EGS.glob("**/results/summary.tsv")
                 if "exp" not in p.relative_to(EGS).parts)


def _cells_near(line: str, value: float) -> bool:
    """A cell of the table row within rounding of ``value``: the summary keeps 3-4
    decimals, the table 2, so a value such as 3.945 may print as 3.94 or 3.95."""
    for cell in line.strip("|").split("|"):
        try:  # a cell may read "2.19 ± 0.11": its first number
            if abs(float(cell.split()[0]) - value) <= 0.0051:
                return True
        except (ValueError, IndexError):
            continue
    return False


def test_every_recipe_with_results_has_its_summary():
    with_results = {p.parent for p in EGS.glob("**/RESULTS.md")
                    if "TEMPLATE" not in p.parts and "exp" not in p.relative_to(EGS).parts}
    assert with_results and with_results <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(EGS)))
def test_summary_rows_are_in_the_results_tables(recipe):
    rows = read_summary(recipe / "results" / "summary.tsv")
    assert rows
    table_lines = [line for line in (recipe / "RESULTS.md").read_text().splitlines()
                   if line.startswith("|")]
    for row in rows:
        prefix = f"|{row.model}|{row.subset}|"
        hits = [line for line in table_lines if line.startswith(prefix) and (
            "|n/a" in line if math.isnan(row.mean) else _cells_near(line, row.mean))]
        assert hits, f"{recipe.name}: {row} not in a RESULTS.md table row"
