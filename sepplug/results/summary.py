"""Results as data: the ``results/summary.tsv`` every recipe's scoring stage writes.

One tab-separated row per (model, test subset, metric)::

    model   family  subset  metric  n   mean    stderr

``model`` is the experiment tag (``exp/enh_<tag>``), ``family`` the method family (``erm``,
``erm_1ch``, ``feabase``, ``mixit``, ...; written by ``enh.sh`` to ``exp/enh_<tag>/family``),
``n`` the number of values averaged (utterances, source pairs or examples), ``stderr`` the
standard error of the mean (sample standard deviation / sqrt(n); ``nan`` for n < 2). The
per-utterance scores stay under ``exp/`` for paired differences.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.utils.atomic import atomic_write_text

COLUMNS = ("model", "family", "subset", "metric", "n", "mean", "stderr")
FAMILY_FILE = "family"


@dataclass(frozen=True)
class ResultRow:
    """One row of ``summary.tsv``."""

    model: str
    family: str
    subset: str
    metric: str
    n: int
    mean: float
    stderr: float


def mean_stderr(values: Sequence[float]) -> tuple[int, float, float]:
    """``(n, mean, standard error of the mean)``; mean is nan for n = 0, stderr for n < 2."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return 0, math.nan, math.nan
    stderr = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return int(x.size), float(x.mean()), stderr


def format_mean_se(mean: float, stderr: float, *, fmt: str = ".2f",
                   missing: str = "n/a") -> str:
    """A results-table cell ``mean ± stderr`` (``fmt`` for the mean, e.g. ``+.2f`` for
    differences); the mean alone when the standard error is nan (one value), ``missing``
    when the mean is nan (no value)."""
    if math.isnan(mean):
        return missing
    text = f"{mean:{fmt}}"
    return text if math.isnan(stderr) else f"{text} ± {stderr:.2f}"


def row_from_values(model: str, family: str, subset: str, metric: str,
                    values: Sequence[float]) -> ResultRow:
    n, mean, stderr = mean_stderr(values)
    return ResultRow(model, family, subset, metric, n, mean, stderr)


def read_family(model_dir: Path, default: str = "unknown") -> str:
    """The family ``enh.sh`` recorded for an experiment dir (``default`` when none)."""
    path = model_dir / FAMILY_FILE
    if path.is_file():
        family = path.read_text(encoding="utf-8").strip()
        if family:
            return family
    return default


def _number(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4f}"


def table_number(x: float) -> str:
    """A summary value as a 2-decimal Markdown cell, rounded from the value summary.tsv
    holds (4 decimals), so that the table and the file agree ("n/a" for nan)."""
    return "n/a" if math.isnan(x) else f"{float(_number(x)):.2f}"


def format_summary(rows: Iterable[ResultRow]) -> str:
    lines = ["\t".join(COLUMNS)]
    for r in rows:
        lines.append("\t".join([r.model, r.family, r.subset, r.metric, str(r.n),
                                _number(r.mean), _number(r.stderr)]))
    return "\n".join(lines) + "\n"


def write_summary(path: Path, rows: Iterable[ResultRow]) -> None:
    """Write ``summary.tsv`` atomically (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, format_summary(rows))


def results_tool_parser(description: str, title: str) -> argparse.ArgumentParser:
    """The command line every ``--results_tool`` of the recipes' ``enh.sh`` takes:
    ``--expdir --out --title`` (and ``--summary``); tools add their own options."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--expdir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="RESULTS.md to write")
    p.add_argument("--summary", type=Path, default=None,
                   help="results as data (default: <expdir>/results/summary.tsv)")
    p.add_argument("--title", default=title)
    return p


def summary_path(args: argparse.Namespace) -> Path:
    """``--summary``, or ``<expdir>/results/summary.tsv``."""
    return args.summary or args.expdir / "results" / "summary.tsv"


def read_summary(path: Path) -> list[ResultRow]:
    """Parse a ``summary.tsv``.

    Raises:
        ValueError: a wrong header or a malformed line (the message names file and line).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"{path}:1: header must be {' '.join(COLUMNS)} (tab-separated)")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{path}:{number}: {len(fields)} fields, expected {len(COLUMNS)}")
        try:
            rows.append(ResultRow(*fields[:4], int(fields[4]), float(fields[5]),
                                  float(fields[6])))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return rows
