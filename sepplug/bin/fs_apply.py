"""Transform a data dir with a trained feature-suppression generator (FEABASE augmentation).

    python -m sepplug.bin.fs_apply --model exp/fs_cyclegan/model.pth \\
        --in_dir data/train --out_dir data/train_fs [--wav_dir DIR] [--categories both]

Writes a data dir with the same files as the input (spk1_mc/spk2_mc transformed,
spk1/spk2 = their channel 0, wav.scp = their sum), utterance ids suffixed ``_fs`` and
``utt2category`` = ``fs``; see sepplug.augment.fs_apply. ``--categories all`` takes
every utterance. Exit status 2 on bad input (missing model, channel/rate mismatch).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.bin.fs_train import set_torch_threads


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="model.pth or a training checkpoint")
    p.add_argument("--in_dir", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--wav_dir", type=Path, default=None, help="audio dir (default OUT_DIR/wav)")
    p.add_argument("--categories", nargs="+", default=["both"],
                   help="utt2category values to transform, or 'all' (default: both)")
    p.add_argument("--suffix", default="_fs", help="appended to utterance ids")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_threads", type=int, default=1)
    p.add_argument("--no_progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    set_torch_threads(args.num_threads)
    from sepplug.augment.fs_apply import FeatureSuppressor, apply_to_data_dir

    categories = None if args.categories == ["all"] else args.categories
    try:
        suppressor = FeatureSuppressor.from_checkpoint(args.model, args.device)
        n = apply_to_data_dir(suppressor, args.in_dir, args.out_dir, args.wav_dir, categories,
                              suffix=args.suffix, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"fs_apply: error: {exc}", file=sys.stderr)
        return 2
    print(f"fs_apply: wrote {n} utterances to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
