"""``python -m sepplug.train.dist_check``: refuse, before launching, a DDP training ESPnet
would stop in (or never finish forming a batch in).

    python -m sepplug.train.dist_check --world_size W --config train.yaml \\
        --train_dir data/train --valid_dir data/dev [-- ENH_TRAIN_ARGS...]

ESPnet gives each of the ``W`` processes a share of every batch (sequence iterators: batch
``b`` is split ``b[r::W]``) or of the mixtures (the chunk iterator: ``r, r + W, ...``, and
batches of ``batch_size // W`` chunks), in training and validation alike; it stops with a
bare ``RuntimeError`` deep in its iterator when a share is empty. Checked here from the data
dirs and the config (``ENH_TRAIN_ARGS`` override it, as in ``enh_train``): each set has at
least ``W`` examples, and ``batch_size`` (``valid_batch_size`` for the dev set) is at least
``W`` where it sets the batch (``batch_type`` folded, sorted or unsorted, or the chunk
iterator). Whether the chunks fill a batch in every rank is checked later, by the task
(:mod:`sepplug.tasks.chunk_check`), from the shape files. Exit status 1 with the problem
named, 0 when it passes. Light: reads YAML and two ``wav.scp`` line counts (no ESPnet).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from sepplug.errors import DataError, run_or_report, setup_cli_logging

logger = logging.getLogger("sepplug.train.dist_check")

ESPNET_BATCH_SIZE = 20  # enh_train's default --batch_size
SIZE_BATCH_TYPES = ("folded", "sorted", "unsorted")  # types whose batches batch_size sets


def training_options(config: Path, extra: Sequence[str]) -> dict[str, object]:
    """``batch_size``, ``valid_batch_size``, ``batch_type``, ``iterator_type`` of a
    training: the YAML ``config``'s, overridden by ``extra`` (enh_train arguments)."""
    with config.open(encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    parser = argparse.ArgumentParser(add_help=False)
    for name in ("batch_size", "valid_batch_size"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("batch_type", "iterator_type"):
        parser.add_argument(f"--{name}")
    given, _ = parser.parse_known_args(list(extra))
    options = {
        "batch_size": conf.get("batch_size", ESPNET_BATCH_SIZE),
        "valid_batch_size": conf.get("valid_batch_size"),
        "batch_type": conf.get("batch_type", "folded"),
        "iterator_type": conf.get("iterator_type", "sequence"),
    }
    options.update({k: v for k, v in vars(given).items() if v is not None})
    return options


def count_examples(data_dir: Path) -> int:
    """Non-empty lines of ``data_dir/wav.scp``."""
    scp = data_dir / "wav.scp"
    if not scp.is_file():
        raise DataError(f"{scp} not found")
    with scp.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def check(world_size: int, config: Path, train_dir: Path, valid_dir: Path,
          extra: Sequence[str] = ()) -> None:
    """Raise :class:`DataError` naming the first problem (module doc)."""
    if world_size < 1:
        raise DataError(f"--world_size must be at least 1, got {world_size}")
    options = training_options(config, extra)
    sizes_set = (options["iterator_type"] == "chunk"
                 or options["batch_type"] in SIZE_BATCH_TYPES)
    valid_batch = options["valid_batch_size"] or options["batch_size"]
    for label, data_dir, batch, option in (
            ("training", train_dir, options["batch_size"], "batch_size"),
            ("validation", valid_dir, valid_batch,
             "valid_batch_size" if options["valid_batch_size"] else "batch_size")):
        examples = count_examples(data_dir)
        if examples < world_size:
            raise DataError(
                f"{world_size} training processes but the {label} data {data_dir} has "
                f"{examples} examples: ESPnet gives every process a share of each batch, "
                f"so it needs at least {world_size} (run fewer processes)")
        if sizes_set and int(batch) < world_size:
            raise DataError(
                f"{world_size} training processes but {option} {batch} ({config} / "
                f"enh_args): ESPnet splits every {label} batch across the processes, each "
                f"needs at least one example (set {option} >= {world_size} or run fewer "
                "processes)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world_size", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--train_dir", type=Path, required=True)
    parser.add_argument("--valid_dir", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: check(args.world_size, args.config, args.train_dir,
                                       args.valid_dir, extra), logger)


if __name__ == "__main__":
    sys.exit(main())
