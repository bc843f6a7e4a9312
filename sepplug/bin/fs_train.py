"""Train FEABASE's feature-suppression WaveCycleGAN (D_both → D_hard-like pairs).

    python -m sepplug.bin.fs_train --train_dir data/train --out_dir exp/fs_cyclegan \\
        [--config conf/fs_cyclegan.yaml] [--max_epochs N --batch_size B --segment S \\
        --channels C ...] [--resume]

Options on the command line override the YAML config, which overrides the paper's
defaults (sepplug.augment.fs_trainer.FSConfig). ``--resume`` continues from the newest
``<out_dir>/checkpoints/epochNNN.pth`` with the config stored there; only run options
(max_epochs, learning rates, num_workers, device, examples, tensorboard) may change on
resume; lowering lr_g/lr_d is how to continue after a divergence.

Exit status: 0 done, 2 bad input, 3 training diverged (NaN/inf loss; the message names
the last good checkpoint, which is kept).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: options that may differ from the checkpoint's when resuming
RUN_OPTIONS = ("max_epochs", "num_workers", "device", "num_examples", "example_seconds",
               "keep_checkpoints", "tensorboard", "lr_g", "lr_d")

#: command-line overrides: name -> (type, nargs)
OVERRIDES = {
    "channels": (int, None), "segment": (float, None), "batch_size": (int, None),
    "max_epochs": (int, None), "steps_per_epoch": (int, None), "lr_g": (float, None),
    "lr_d": (float, None), "lambda_cycle": (float, None), "lambda_identity": (float, None),
    "source_categories": (str, "+"), "target_categories": (str, "+"),
    "target_rms": (float, None), "num_workers": (int, None), "seed": (int, None),
    "num_examples": (int, None), "device": (str, None),
}


def set_torch_threads(n_threads: int) -> None:
    """One torch thread by default, and flush denormals (they made CPU steps 10x slower
    on a shared machine)."""
    import numpy as np
    import torch

    # numpy warns about subnormals if it first computes its float limits after flushing.
    np.finfo(np.float32), np.finfo(np.float64)
    torch.set_num_threads(n_threads)
    torch.set_flush_denormal(True)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train_dir", type=Path, required=True, help="Kaldi-style data dir")
    p.add_argument("--out_dir", type=Path, required=True, help="experiment dir")
    p.add_argument("--config", type=Path, help="YAML with FSConfig options")
    p.add_argument("--valid_dir", type=Path, default=None,
                   help="data dir whose pairs (valid_categories) pick the epoch saved as "
                        "model.pth: the largest share of pairs < 20° apart after G")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no_progress", action="store_true", help="no tqdm bars")
    for name, (typ, nargs) in OVERRIDES.items():
        p.add_argument(f"--{name}", type=typ, nargs=nargs, default=None)
    return p


def resolve_config(args: argparse.Namespace):
    """``(config, checkpoint to resume from or None)`` from defaults, YAML, CLI and the
    newest checkpoint."""
    import yaml

    from sepplug.augment.fs_trainer import FSConfig, list_checkpoints, load_checkpoint

    requested: dict = {}
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config {args.config} not found")
        requested.update(yaml.safe_load(args.config.read_text(encoding="utf-8")) or {})
    requested.update({k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None})
    if not args.resume:
        return FSConfig.from_dict(requested, str(args.config or "command line")), None
    checkpoints = list_checkpoints(args.out_dir)
    if not checkpoints:
        logging.getLogger(__name__).warning(
            "--resume: no checkpoint in %s/checkpoints, starting from scratch", args.out_dir)
        return FSConfig.from_dict(requested, str(args.config or "command line")), None
    latest = checkpoints[-1]
    stored = load_checkpoint(latest)["config"]
    merged = dict(stored)
    for key, value in requested.items():
        if key in RUN_OPTIONS:
            merged[key] = value
        elif key not in stored:
            raise ValueError(f"unknown option '{key}'")
        elif _normalize(value) != _normalize(_without_filled_in(stored[key])):
            raise ValueError(f"--resume: {key}={value!r} differs from {stored[key]!r} stored in "
                             f"{latest}; start a new out_dir to change it")
    return FSConfig.from_dict(merged, str(latest)), latest


def _normalize(value):
    return list(value) if isinstance(value, tuple) else value


def _without_filled_in(value):
    """A stored generator/discriminator conf without what the trainer took from the data
    (``sample_rate``, ``mic_xy``; see ``FSTrainer._fill_in_array``)."""
    if not isinstance(value, dict):
        return value
    return {k: _without_filled_in(v) for k, v in value.items()
            if k not in ("sample_rate", "mic_xy")}


def _fail(log_file: logging.Handler, exc: Exception, status: int) -> int:
    """Report ``exc`` on stderr and in train.log (once each); return the exit status."""
    log_file.handle(logging.makeLogRecord({"name": "sepplug.bin.fs_train", "msg": str(exc),
                                           "levelno": logging.ERROR, "levelname": "ERROR"}))
    print(f"fs_train: error: {exc}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    set_torch_threads(args.num_threads)
    from sepplug.augment.fs_trainer import FSTrainer, TrainingDivergedError

    args.out_dir.mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(args.out_dir / "train.log")
    log_file.setFormatter(logging.Formatter(LOG_FORMAT))
    package_logger = logging.getLogger("sepplug")
    old_level = package_logger.level
    package_logger.setLevel(logging.INFO)  # also when the caller configured logging already
    package_logger.addHandler(log_file)
    try:
        config, resume_from = resolve_config(args)
        trainer = FSTrainer(config, args.train_dir, args.out_dir, resume_from,
                            progress=not args.no_progress, valid_dir=args.valid_dir)
        model = trainer.run()
    except TrainingDivergedError as exc:
        return _fail(log_file, exc, 3)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return _fail(log_file, exc, 2)
    finally:
        package_logger.removeHandler(log_file)
        package_logger.setLevel(old_level)
        log_file.close()
    print(f"fs_train: done, generator saved to {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
