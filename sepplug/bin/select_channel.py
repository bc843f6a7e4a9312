"""Copy a data dir keeping one channel of the mixture (for 1-channel models).

    python -m sepplug.bin.select_channel --in_dir data/test_hard \\
        --out_dir dump/raw/test_hard_ch0 --channel 0

Writes ``<out_dir>/wav/<utt>.wav`` (the chosen channel) and a ``wav.scp`` pointing
at them; the other files (references, categories ...) are copied unchanged.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from sepplug.datadir.kaldi_dir import read_table, write_table


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--in_dir", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--channel", type=int, default=0)
    args = p.parse_args(argv)
    scp = args.in_dir / "wav.scp"
    if not scp.is_file():
        print(f"select_channel: error: {scp} not found", file=sys.stderr)
        return 1
    tmp = args.out_dir.with_name(args.out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wav").mkdir(parents=True)
    out_scp = {}
    for utt, path in tqdm(read_table(scp).items(), desc=f"channel {args.channel} of {scp}"):
        audio, fs = sf.read(path, dtype="float32", always_2d=True)
        if args.channel >= audio.shape[1]:
            print(f"select_channel: error: {path} ({utt}) has {audio.shape[1]} channels, "
                  f"channel {args.channel} requested", file=sys.stderr)
            shutil.rmtree(tmp)
            return 1
        dst = (args.out_dir / "wav" / f"{utt}.wav").resolve()
        sf.write(tmp / "wav" / f"{utt}.wav", audio[:, args.channel], fs, subtype="FLOAT")
        out_scp[utt] = str(dst)
    write_table(tmp / "wav.scp", out_scp)
    for f in sorted(args.in_dir.iterdir()):
        if f.is_file() and f.name != "wav.scp" and not f.name.startswith("."):
            shutil.copy(f, tmp / f.name)
    shutil.rmtree(args.out_dir, ignore_errors=True)
    tmp.rename(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
