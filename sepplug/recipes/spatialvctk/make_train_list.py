"""Build the training list of a baseline variant from SpatialVCTK data dirs.

* ``--in_dir A --in_dir B``: union (oracle data: train + extra real D_hard);
  ``--extra_limit N`` takes only N utterances (a seeded draw) of each dir after the first;
* ``--weights easy=1,hard=4,both=1``: oracle re-sampling — each utterance of a
  category appears round(weight) times (copies get the suffix ``-rN``), so one
  epoch samples the subsets in those proportions. Fractional weights keep a
  deterministic, seeded subset of the utterances. In expectation this equals
  weighting the loss per subset.

Audio is not copied: the new dir points at the same files.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.datadir.kaldi_dir import UTT_FILES, read_table, write_spk2utt, write_table
from sepplug.errors import DataError

CATEGORIES = ("easy", "hard", "both")


def parse_weights(spec: str) -> dict[str, float]:
    """``easy=1,hard=4,both=0.5`` -> dict; every category must be given, weights >= 0."""
    weights: dict[str, float] = {}
    for item in spec.split(","):
        name, sep, value = item.partition("=")
        if not sep or name not in CATEGORIES:
            raise ValueError(f"--weights: bad item '{item}' (expected easy=W,hard=W,both=W)")
        weights[name] = float(value)
        if weights[name] < 0:
            raise ValueError(f"--weights: negative weight for {name}")
    if set(weights) != set(CATEGORIES):
        raise ValueError(f"--weights must give all of {CATEGORIES}, got {sorted(weights)}")
    return weights


def copies_of(utt: str, weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


def build(in_dirs: list[Path], out_dir: Path, weights: dict[str, float] | None, seed: int,
          extra_limit: int | None = None) -> int:
    if extra_limit is not None and extra_limit < 0:
        raise ValueError(f"--extra_limit must be >= 0, got {extra_limit}")
    files = [f for f in UTT_FILES if all((d / f).is_file() for d in in_dirs)]
    if "wav.scp" not in files or "utt2category" not in files:
        raise FileNotFoundError(f"wav.scp and utt2category needed in every one of {in_dirs}")
    merged: dict[str, dict[str, str]] = {f: {} for f in files}
    for i, d in enumerate(in_dirs):
        keep = None
        if i > 0 and extra_limit is not None:
            utts = sorted(read_table(d / "wav.scp"))
            if extra_limit > len(utts):
                raise ValueError(f"{d}: --extra_limit {extra_limit} but it has {len(utts)} "
                                 "utterances")
            keep = set(random.Random(seed).sample(utts, extra_limit))
        for f in files:
            table = read_table(d / f)
            if keep is not None:
                table = {k: v for k, v in table.items() if k in keep}
            clash = set(table) & set(merged[f])
            if clash:
                raise ValueError(f"{d / f}: key '{sorted(clash)[0]}' already in another --in_dir")
            merged[f].update(table)
    if weights is not None:
        rng = random.Random(seed)
        out: dict[str, dict[str, str]] = {f: {} for f in files}
        for utt in sorted(merged["wav.scp"]):
            n = copies_of(utt, weights[merged["utt2category"][utt]], rng)
            for r in range(n):
                new = utt if r == 0 else f"{utt}-r{r}"
                for f in files:
                    value = merged[f][utt]
                    out[f][new] = new if f == "utt2spk" else value
        merged = out
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in files:
        write_table(tmp / f, merged[f])
    if "utt2spk" in files:
        write_spk2utt(tmp)
    for extra in ("fs",):
        if (in_dirs[0] / extra).is_file():
            shutil.copy(in_dirs[0] / extra, tmp / extra)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return len(merged["wav.scp"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--in_dir", type=Path, action="append", required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--weights", type=str, default=None, help="easy=W,hard=W,both=W")
    p.add_argument("--extra_limit", type=int, default=None,
                   help="utterances taken from each --in_dir after the first (default: all)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        weights = parse_weights(args.weights) if args.weights else None
        n = build(args.in_dir, args.out_dir, weights, args.seed, args.extra_limit)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"make_train_list: error: {exc}", file=sys.stderr)
        return 1
    print(f"make_train_list: {args.out_dir}: {n} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
