"""The pair table: which speaker pairs are hard, as the ``hard_dm`` preprocessor reads it.

A TSV with a header, one row per ordered speaker pair (s1 != s2)::

    spk1  spk2  delta_f0  cos_dist  hardness  hard

``hardness`` ranks pairs (larger = harder; values of different predictors are not
comparable); ``hard`` is 1 for the pairs a recipe marked hard; ``delta_f0`` (Hz) and
``cos_dist`` (1 - cosine of the speaker embeddings) are informative. The hard-mining recipe
writes it (``sepplug.recipes.hard_mining.hardness``); the dynamic-mixing preprocessor
``hard_dm`` (:mod:`sepplug.enh.preprocessor.hard_mixing`) reads it. This module holds only
the format, so that a change to the recipe's analysis cannot change what training reads.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.datadir.kaldi_dir import read_table
from sepplug.errors import DataError
from sepplug.utils.atomic import atomic_write_text

PAIR_COLUMNS = ("spk1", "spk2", "delta_f0", "cos_dist", "hardness", "hard")


def hard_mask(hardness: np.ndarray, quantile: float) -> np.ndarray:
    """Top ``quantile`` of ``hardness`` (N,): hardness >= the ceil(quantile N)-th largest
    value (ties included, so symmetric pairs stay together): bool (N,)."""
    if not 0 < quantile <= 1:
        raise DataError(f"hard quantile must be in (0, 1], got {quantile}")
    hardness = np.asarray(hardness, dtype=np.float64)
    if hardness.size == 0:
        return np.zeros(0, dtype=bool)
    k = math.ceil(quantile * hardness.size)
    return hardness >= np.sort(hardness)[::-1][k - 1]


@dataclass(frozen=True)
class PairTable:
    """The pair table (P rows, see the module doc). Arrays are (P,)."""

    spk1: list[str]
    spk2: list[str]
    delta_f0: np.ndarray
    cos_dist: np.ndarray
    hardness: np.ndarray
    hard: np.ndarray  # bool

    def to_tsv(self) -> str:
        lines = ["\t".join(PAIR_COLUMNS)]
        for row in zip(self.spk1, self.spk2, self.delta_f0, self.cos_dist, self.hardness,
                       self.hard, strict=True):
            lines.append(f"{row[0]}\t{row[1]}\t{row[2]:.3f}\t{row[3]:.6f}\t{row[4]:.6f}\t"
                         f"{int(row[5])}")
        return "\n".join(lines) + "\n"


def write_pair_table(table: PairTable, path: Path | str) -> None:
    """Write the TSV atomically (its directory is created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, table.to_tsv())


def read_analysis_tsv(path: Path | str, required: Sequence[str], what: str
                      ) -> list[dict[str, str]]:
    """Rows of a TSV with a header that names at least ``required``; DataError names
    ``what``, the file and the problem (missing file or column, no rows)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        rows = list(reader)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{what} {path}: no column(s) {missing} in its header")
    if not rows:
        raise DataError(f"{what} {path}: no rows")
    return rows


def read_pair_table(path: Path | str) -> PairTable:
    """Read a pair table; DataError names a missing file, column or bad line."""
    rows = read_analysis_tsv(path, PAIR_COLUMNS[:2] + ("hardness",), "pair table")
    columns: dict[str, list[float]] = {c: [] for c in PAIR_COLUMNS[2:]}
    for number, row in enumerate(rows, 2):
        try:  # hardness is required, the other numbers are informative
            for c in columns:
                columns[c].append(float(row.get(c) or ("" if c == "hardness" else "nan")))
        except ValueError:
            raise DataError(f"pair table {path}:{number}: not a number in {row}") from None
        if row["spk1"] == row["spk2"]:
            raise DataError(f"pair table {path}:{number}: speaker {row['spk1']} paired "
                            "with itself")
    return PairTable([r["spk1"] for r in rows], [r["spk2"] for r in rows],
                     *(np.array(columns[c]) for c in PAIR_COLUMNS[2:5]),
                     np.nan_to_num(np.array(columns["hard"])) > 0)


def missing_speakers(table: PairTable, speakers: Sequence[str]) -> list[str]:
    """The ``speakers`` (sorted, unique) that no row of ``table`` has as its ``spk1``."""
    listed = set(table.spk1)
    return sorted({s for s in speakers if s not in listed})


def check_covers(path: Path | str, utt2spk: Path | str) -> int:
    """Check before training that pair table ``path`` lists every speaker of ``utt2spk``
    (a table made for another corpus or split is refused here, not in the first epoch);
    the number of speakers. DataError names both files and a missing speaker."""
    table = read_pair_table(path)
    if not Path(utt2spk).is_file():
        raise DataError(f"utt2spk {utt2spk} does not exist")
    speakers = list(read_table(utt2spk).values())
    missing = missing_speakers(table, speakers)
    if missing:
        raise DataError(f"pair table {path} lacks {len(missing)} of the {len(set(speakers))} "
                        f"speakers of {utt2spk} (e.g. {missing[0]}): it was made for other "
                        f"speakers; make it from this data (the recipe's stage 7)")
    return len(set(speakers))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sepplug.mixing.pair_table PAIRS_TSV UTT2SPK``: :func:`check_covers`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=check_covers.__doc__)
    parser.add_argument("pair_table", type=Path)
    parser.add_argument("utt2spk", type=Path)
    args = parser.parse_args(argv)
    try:
        count = check_covers(args.pair_table, args.utt2spk)
    except DataError as exc:
        print(f"pair_table: error: {exc}", file=sys.stderr)
        return 1
    print(f"pair table {args.pair_table}: all {count} speakers of {args.utt2spk} listed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
