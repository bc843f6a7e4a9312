"""Weak class labels of the open-domain MixIT sets, from their ``meta.jsonl``.

:mod:`sepplug.recipes.mixit.make_data` draws the sets from the clip pool
(:mod:`.clip_pool`), recording each source's group as its "speaker"; the pool's
``group2class`` turns that into a class. Written beside ``wav.scp`` (ESPnet's
``text_int`` format, one 0/1 per class in ``classes.txt`` order)::

    labels_ref<n>        <utt> <K ints>   the classes present in mixture n (MoM sets: the two
                                          mixtures, i.e. speech_ref1/2; single-mixture sets:
                                          n = 1 only) -> data key labels_ref<n>
    utt2source_classes   <utt> <class of src1> <class of src2> ...   (single-mixture sets;
                                          the scorer's class purity reads it)
    classes.txt          the label order

A training config reads the labels as ``--train_data_path_and_name_and_type
data/train/labels_ref1,labels_ref1,text_int`` (and ``labels_ref2``, and the same for
``valid``); the semantic loss (:mod:`sepplug.enh.loss.wrappers.semantic_mixit`) gets them.

CLI::

    python -m sepplug.recipes.mixit_semantic.labels --pool db/open_domain_8000 \\
        --data_dir data/train --data_dir data/dev --data_dir data/test
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.datadir import kaldi_dir
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.recipes.mixit_semantic.clip_pool import read_classes, read_group2class
from sepplug.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)


def multi_hot(names: Sequence[str], classes: Sequence[str]) -> list[int]:
    """``[1 if class in names else 0 for class in classes]``."""
    present = set(names)
    return [int(c in present) for c in classes]


def write_labels(data_dir: Path | str, pool: Path | str) -> int:
    """Write the label tables of one data dir; returns the number of examples.

    Raises:
        DataError: no ``meta.jsonl``, or a source whose group the pool does not know.
    """
    data_dir = Path(data_dir)
    classes = read_classes(pool)
    group2class = read_group2class(pool)
    meta_path = data_dir / "meta.jsonl"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: missing (a set of sepplug.recipes.mixit.make_data?)")
    meta = kaldi_dir.read_meta(meta_path)
    tables: dict[str, dict[str, str]] = {}
    source_classes: dict[str, str] = {}
    for key, record in meta.items():
        mixtures = record.get("mixtures")
        if not mixtures:
            raise DataError(f"{meta_path}: {key} has no 'mixtures'")
        names = []
        for sources in mixtures:
            try:
                names.append([group2class[s["speaker"]] for s in sources])
            except KeyError as exc:
                raise DataError(f"{meta_path}: {key}: group {exc} is not in "
                                f"{Path(pool) / 'group2class'}") from exc
        for n, mixture in enumerate(names, 1):
            row = " ".join(map(str, multi_hot(mixture, classes)))
            tables.setdefault(f"labels_ref{n}", {})[key] = row
        if not record.get("mom"):
            source_classes[key] = " ".join(names[0])
    for name, table in tables.items():
        atomic_write_text(data_dir / name, "".join(
            f"{k} {table[k]}\n" for k in kaldi_dir.c_sorted(table)))
    if source_classes:
        atomic_write_text(data_dir / "utt2source_classes", "".join(
            f"{k} {source_classes[k]}\n" for k in kaldi_dir.c_sorted(source_classes)))
    atomic_write_text(data_dir / "classes.txt", "".join(f"{c}\n" for c in classes))
    return len(meta)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.mixit_semantic.labels",
        description="Write labels_ref<n> (multi-hot, text_int) and utt2source_classes beside "
        "wav.scp of MixIT sets drawn from an open-domain clip pool.")
    parser.add_argument("--pool", type=Path, required=True, help="the clip pool dir")
    parser.add_argument("--data_dir", type=Path, action="append", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()

    def run() -> None:
        for data_dir in args.data_dir:
            count = write_labels(data_dir, args.pool)
            logger.info("%s: labels of %d examples", data_dir, count)

    return run_or_report(run, logger)


if __name__ == "__main__":
    sys.exit(main())
