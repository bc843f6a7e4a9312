"""FEABASE Table 2 (a): what the feature-suppression model takes away from separators.

    python -m sepplug.recipes.spatialvctk.fs_table2 --expdir exp --orig test_both --transformed
    test_both_fs \\
        --model "spatial_only_mc_dprnn_cpu=spatial-only (6-ch, trained on D_easy)" \\
        --model "train_enh_dprnn_refmic_erm=timbre-only (1-ch)" --out exp/fs_table2.md

For each ``--model TAG=LABEL`` it reads the stage-6 scores of ``<expdir>/enh_<TAG>`` on
the original test set and on its FS-transformed copy (``fs_apply`` output, whose
references follow the transform) and writes a markdown table of mean SI-SDRi and the
change. A working FS model removes the spatial cue and keeps timbre: the spatial-only
separator should lose most of its SI-SDRi, the timbre-only one should barely change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.utils.atomic import atomic_write_text


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--expdir", type=Path, required=True)
    p.add_argument("--orig", default="test_both", help="original test set")
    p.add_argument("--transformed", default="test_both_fs", help="its FS-transformed copy")
    p.add_argument("--model", action="append", required=True, metavar="TAG=LABEL",
                   help="experiment tag (exp/enh_<TAG>) and how to call it; repeatable")
    p.add_argument("--out", type=Path, default=None, help="markdown file (default: stdout)")
    return p


def read_si_sdri(expdir: Path, tag: str, test_set: str) -> tuple[float, int]:
    """Mean SI-SDRi and #utts of ``<expdir>/enh_<tag>/enhanced_<test_set>``."""
    path = expdir / f"enh_{tag}" / f"enhanced_{test_set}" / "scoring" / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: score {tag} on {test_set} first "
                                "(enh.sh stage 6 with --test_sets)")
    summary = json.loads(path.read_text())
    try:
        return float(summary["si_sdri_mean"]), int(summary["num_utts"])
    except KeyError as err:
        raise ValueError(f"{path}: no key {err}") from None


def format_table(rows: list[dict], orig: str, transformed: str) -> str:
    lines = [f"|separator|SI-SDRi on {orig} (dB)|SI-SDRi on {transformed} (dB)|change (dB)|#utt|",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"|{r['label']}|{r['orig']:.2f}|{r['fs']:.2f}|{r['fs'] - r['orig']:+.2f}|"
                     f"{r['n']}|")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    rows = []
    try:
        for item in args.model:
            tag, sep, label = item.partition("=")
            if not sep or not tag:
                raise ValueError(f"--model '{item}': expected TAG=LABEL")
            orig, n_orig = read_si_sdri(args.expdir, tag, args.orig)
            fs, n_fs = read_si_sdri(args.expdir, tag, args.transformed)
            if n_orig != n_fs:
                raise ValueError(f"{tag}: {n_orig} utterances scored on {args.orig} but "
                                 f"{n_fs} on {args.transformed}")
            rows.append({"label": label, "orig": orig, "fs": fs, "n": n_orig})
    except (FileNotFoundError, ValueError) as err:
        print(f"fs_table2: error: {err}", file=sys.stderr)
        return 1
    table = format_table(rows, args.orig, args.transformed)
    if args.out is None:
        sys.stdout.write(table)
    else:
        atomic_write_text(args.out, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
