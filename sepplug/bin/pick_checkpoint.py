"""The checkpoint of a trained model that inference uses (``enh.sh --inference_model``).

    python -m sepplug.bin.pick_checkpoint --exp_dir exp/enh_x [--name auto|FILE]

Prints the checkpoint's path on stdout; says on stderr which one it took and why.

``auto`` takes the first ``best_model_criterion`` of the model's ``config.yaml`` whose
``<phase>.<key>.best.pth`` ESPnet wrote, else ``valid.loss.best.pth`` (the default of
ESPnet's own ``enh.sh``). ESPnet writes a criterion's checkpoint only when its reporter
has that stat, and skips an unknown key silently: a published config asking for
``[valid, si_snr, max]`` gets no ``valid.si_snr.best.pth`` from ESPnet 202511, whose
validation reports ``si_snr_loss``. Any other name is taken as given. Exits 1, naming the
exp dir and what is missing, when there is no usable checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from sepplug.train.train_log import read_epoch_stats, train_logs

FALLBACK = "valid.loss.best.pth"


class CheckpointError(Exception):
    """No checkpoint to use (the message says what is missing)."""


def reported_keys(exp_dir: Path, phase: str) -> set[str] | None:
    """The stats ESPnet's per-epoch results in the exp dir's train logs hold for ``phase``
    (None: no log)."""
    if not train_logs(exp_dir):
        return None
    return {key for sections in read_epoch_stats(exp_dir).values()
            for key in sections.get(phase, {})}


def pick(exp_dir: Path, name: str = "auto") -> tuple[Path, str]:
    """The checkpoint for ``name`` (``auto`` or a file name) and why it was taken."""
    config = exp_dir / "config.yaml"
    try:
        conf = yaml.safe_load(config.read_text()) or {}
        criteria = conf.get("best_model_criterion") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint of {exp_dir} missing: cannot read {config} ({exc})"
        ) from exc
    if not isinstance(criteria, list) or not all(
            isinstance(c, list) and len(c) >= 2 and all(isinstance(x, str) for x in c[:2])
            for c in criteria):
        raise CheckpointError(f"checkpoint of {exp_dir} missing: {config}: best_model_criterion "
                              f"must be a list of [phase, key, min|max], got {criteria!r}")
    names = [f"{phase}.{key}.best.pth" for phase, key, *_ in criteria]
    if name != "auto":
        if not (exp_dir / name).is_file():
            raise CheckpointError(f"checkpoint {exp_dir / name} missing")
        return exp_dir / name, "as asked"
    skipped = []
    reported: dict[str, set[str] | None] = {}  # phase -> its stats in the logs, read once
    for phase, key, *_ in criteria:
        ckpt = f"{phase}.{key}.best.pth"
        if (exp_dir / ckpt).is_file():
            return exp_dir / ckpt, "; ".join(skipped) or "the first best_model_criterion"
        if phase not in reported:
            reported[phase] = reported_keys(exp_dir, phase)
        keys = reported[phase]
        if keys is not None and key not in keys:
            skipped.append(f"{ckpt} was never written: ESPnet reported no {phase}/{key}")
        else:
            skipped.append(f"{ckpt} was never written")
    if (exp_dir / FALLBACK).is_file():
        why = "; ".join(skipped) if skipped else "the config has no best_model_criterion"
        return exp_dir / FALLBACK, f"ESPnet's default: {why}"
    tried = ", ".join(dict.fromkeys([*names, FALLBACK]))
    raise CheckpointError(f"checkpoint of {exp_dir} missing: none of {tried} exists")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--exp_dir", type=Path, required=True, help="the model's ESPnet output dir")
    p.add_argument("--name", default="auto", help="auto, or a checkpoint file in exp_dir")
    args = p.parse_args(argv)
    try:
        path, why = pick(args.exp_dir, args.name)
    except CheckpointError as exc:
        print(f"pick_checkpoint: error: {exc}", file=sys.stderr)
        return 1
    print(f"inference model: {path.name} ({why})", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
