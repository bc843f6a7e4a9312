"""Each recipe's committed results/summary.tsv holds the numbers of its committed RESULTS.md."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sepplug.utils.results_table import read_summary

EGS = Path(__file__).resolve().parents[1] / "egs"
RECIPES = sorted(p.parent.parent for p in EGS.glob("**/results/summary.tsv"))


def test_every_recipe_with_results_has_its_summary():
    with_results = {p.parent for p in EGS.glob("**/RESULTS.md") if "TEMPLATE" not in p.parts}
    assert with_results and with_results <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(EGS)))
def test_summary_rows_are_in_the_results_tables(recipe):
    rows = read_summary(recipe / "results" / "summary.tsv")
    assert rows
    table_lines = [line for line in (recipe / "RESULTS.md").read_text().splitlines()
                   if line.startswith("|")]
    for row in rows:
        mean = "n/a" if math.isnan(row.mean) else f"{row.mean:.2f}"
        hits = [line for line in table_lines
                if line.startswith(f"|{row.model}|{row.subset}|") and f"|{mean}" in line]
        assert hits, f"{recipe.name}: {row} not in a RESULTS.md table row"
