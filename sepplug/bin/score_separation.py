"""Score separated signals: SI-SDR, SI-SDRi, SDR, SDRi per utterance, mean and median.

    python -m sepplug.bin.score_separation \\
        --ref_scp data/test_hard/spk1.scp --ref_scp data/test_hard/spk2.scp \\
        --inf_scp exp/enh_x/enhanced_test_hard/spk1.scp \\
        --inf_scp exp/enh_x/enhanced_test_hard/spk2.scp \\
        --mix_scp data/test_hard/wav.scp --ref_channel 0 \\
        --out_dir exp/enh_x/enhanced_test_hard/scoring

``--data_dir data/test_hard`` stands for ``--mix_scp`` its ``wav.scp`` and ``--ref_scp`` its
``spk1.scp``, ``spk2.scp``, ... (the scoring interface of the recipes' shared ``enh.sh``).

Writes ``per_utt.tsv`` and ``summary.json`` (atomically) under ``--out_dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from espnet2.fileio.sound_scp import SoundScpReader
from tqdm import tqdm

from sepplug.utils.atomic import atomic_write_text
from sepplug.utils.scoring import score_utterance, summarize

METRICS = ("si_sdr", "si_sdr_mix", "si_sdri", "sdr", "sdr_mix", "sdri", "sd_sdr", "sd_sdr_mix",
           "sd_sdri")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data_dir", type=Path, default=None,
                   help="data dir: its wav.scp and spk<n>.scp stand for --mix_scp/--ref_scp")
    p.add_argument("--ref_scp", action="append", default=[], help="one per source, in order")
    p.add_argument("--inf_scp", action="append", required=True, help="one per estimated source")
    p.add_argument("--mix_scp", default=None, help="mixture wav.scp (mono or multi-channel)")
    p.add_argument("--ref_channel", type=int, default=0, help="mixture channel to compare")
    p.add_argument("--out_dir", type=Path, required=True)
    return p


def _mono(x: np.ndarray, channel: int, where: str) -> np.ndarray:
    if x.ndim == 1:
        return x
    if channel >= x.shape[1]:
        raise ValueError(f"{where}: has {x.shape[1]} channels, ref_channel {channel} requested")
    return x[:, channel]


def reference_scps(data_dir: Path) -> list[str]:
    """``spk1.scp, spk2.scp, ...`` of a data dir, in source order (not ``spk<n>_mc.scp``)."""
    scps = [p for p in data_dir.glob("spk*.scp") if p.stem.removeprefix("spk").isdigit()]
    return [str(p) for p in sorted(scps, key=lambda p: int(p.stem.removeprefix("spk")))]


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.data_dir is not None:
        args.mix_scp = args.mix_scp or str(args.data_dir / "wav.scp")
        args.ref_scp = args.ref_scp or reference_scps(args.data_dir)
    if not args.mix_scp or not args.ref_scp:
        sys.exit("score_separation: give --data_dir, or --mix_scp and --ref_scp")
    if len(args.ref_scp) != len(args.inf_scp):
        sys.exit(f"score_separation: {len(args.ref_scp)} --ref_scp but "
                 f"{len(args.inf_scp)} --inf_scp")
    for scp in [*args.ref_scp, *args.inf_scp, args.mix_scp]:
        if not Path(scp).is_file():
            sys.exit(f"score_separation: missing scp file {scp}")
    refs = [SoundScpReader(s, dtype=np.float32) for s in args.ref_scp]
    infs = [SoundScpReader(s, dtype=np.float32) for s in args.inf_scp]
    mixes = SoundScpReader(args.mix_scp, dtype=np.float32)
    keys = sorted(mixes.keys())
    for scp, reader in zip([*args.ref_scp, *args.inf_scp], [*refs, *infs], strict=True):
        missing = sorted(set(keys) - set(reader.keys()))
        if missing:
            sys.exit(f"score_separation: {scp} lacks {len(missing)} keys of {args.mix_scp}, "
                     f"e.g. '{missing[0]}'")
    rows = []
    lines = ["utt\t" + "\t".join(METRICS)]
    for key in tqdm(keys, desc=f"scoring {args.out_dir}", mininterval=2):
        ref = np.stack([_mono(r[key][1], args.ref_channel, f"{s}:{key}")
                        for r, s in zip(refs, args.ref_scp, strict=True)])
        est = np.stack([_mono(r[key][1], args.ref_channel, f"{s}:{key}")
                        for r, s in zip(infs, args.inf_scp, strict=True)])
        mix = _mono(mixes[key][1], args.ref_channel, f"{args.mix_scp}:{key}")
        row = score_utterance(ref, est, mix, key=key)
        rows.append(row)
        lines.append(key + "\t" + "\t".join(f"{row[m]:.4f}" for m in METRICS))
    summary = summarize(rows)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / "per_utt.tsv", "\n".join(lines) + "\n")
    atomic_write_text(args.out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    logging.info("%s: SI-SDRi mean %.2f dB, median %.2f dB over %d utts", args.out_dir,
                 summary["si_sdri_mean"], summary["si_sdri_median"], len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
