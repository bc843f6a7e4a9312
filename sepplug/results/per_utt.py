"""Per-utterance scores (``scoring/per_utt.tsv``) and paired differences between models.

``sepplug.bin.score_separation`` writes one ``per_utt.tsv`` per model and test set: a
header ``utt  <metric>...`` and one row per utterance. Every results tool reads it here,
and compares two models here: on the utterances both scored, the mean and standard error of
the per-utterance differences (tighter than two independent standard errors, since both
models meet the same mixtures).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sepplug.results.summary import mean_stderr


def read_per_utt(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """``(utterance ids, metric -> (N,) column)`` of a ``per_utt.tsv`` (utt, then one float
    column per metric).

    Raises:
        ValueError: an empty or malformed file (names it).
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if header[:1] != ["utt"] or len(lines) < 2:
        raise ValueError(f"{path}: not a per_utt.tsv with scored utterances")
    try:
        values = np.array([[float(v) for v in line.split("\t")[1:]] for line in lines[1:]])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if values.shape[1] != len(header) - 1:
        raise ValueError(f"{path}: rows do not have the header's {len(header)} columns")
    utts = [line.split("\t", 1)[0] for line in lines[1:]]
    return utts, {name: values[:, i] for i, name in enumerate(header[1:])}


def read_per_utt_column(path: Path, column: str = "si_sdri", suffix: str = ""
                        ) -> dict[str, float]:
    """``utt -> column`` of a ``per_utt.tsv``; ``suffix`` is removed from the utterance ids
    (an FS-transformed set's ``<utt>_fs`` meets its original ``<utt>``).

    Raises:
        FileNotFoundError: no such file (the set was not scored).
        ValueError: a malformed file, or no such column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: score the separator on that set first")
    utts, scores = read_per_utt(path)
    if column not in scores:
        raise ValueError(f"{path}: no {column} column")
    return {u.removesuffix(suffix): float(v) for u, v in zip(utts, scores[column], strict=True)}


def paired_differences(model: Mapping[str, float], baseline: Mapping[str, float]
                       ) -> np.ndarray:
    """``model - baseline`` per utterance, over the utterances both scored (sorted ids)."""
    return np.array([model[u] - baseline[u] for u in sorted(model.keys() & baseline.keys())],
                    dtype=np.float64)


def paired_difference(model: Mapping[str, float], baseline: Mapping[str, float]
                      ) -> tuple[int, float, float]:
    """``(n, mean, standard error)`` of :func:`paired_differences`."""
    return mean_stderr(paired_differences(model, baseline))
