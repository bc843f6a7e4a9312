"""Measure the angle between the two sources of a data dir (before/after feature suppression).

    python -m sepplug.recipes.spatialvctk.fs_verify --dir data/test_both [--dir2
    data/test_both_fs] \\
        [--max_utts 200] [--threshold 20]

Per data dir and per category: number of pairs, median SRP-PHAT angle between the two
sources, share of pairs closer than the threshold (estimated; and from utt2angle when
present) and the median difference to utt2angle (the estimation error on simulated data;
on an fs_apply output, whose utt2angle is the angle before suppression, how far the
angle moved). With ``--dir2`` (e.g. the fs_apply output of ``--dir``) a second table
pairs the utterances (``<utt>`` with ``<utt>_fs``) and shows the angle before → after.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.errors import DataError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", type=Path, required=True, help="data dir")
    p.add_argument("--dir2", type=Path, default=None, help="second (e.g. transformed) data dir")
    p.add_argument("--suffix", default="_fs", help="utterance suffix of --dir2")
    p.add_argument("--max_utts", type=int, default=None, help="first N utterances per dir")
    p.add_argument("--threshold", type=float, default=20.0, help="'close' angle, degrees")
    p.add_argument("--no_progress", action="store_true")
    return p


def _fmt(value: float, pct: bool = False) -> str:
    if np.isnan(value):
        return "-"
    return f"{100 * value:.1f}%" if pct else f"{value:.1f}"


def format_table(name: str, rows: list[dict], threshold: float) -> str:
    from sepplug.augment.spatial_metrics import summarize

    groups = {"all": rows}
    for cat in sorted({r["category"] for r in rows}):
        groups[cat] = [r for r in rows if r["category"] == cat]
    head = (f"{'dir':<32} {'category':<9} {'n':>5} {'median angle':>12} "
            f"{f'<{threshold:g}° est':>10} {f'<{threshold:g}° utt2angle':>15} "
            f"{'median |est-utt2angle|':>22}")
    lines = [head, "-" * len(head)]
    for cat, group in groups.items():
        s = summarize(group, threshold)
        lines.append(f"{name[-32:]:<32} {cat:<9} {s['n']:>5} {_fmt(s['median_angle']):>12} "
                     f"{_fmt(s['share_close'], True):>10} {_fmt(s['share_close_true'], True):>15} "
                     f"{_fmt(s['median_error']):>22}")
    return "\n".join(lines)


def format_paired(rows1: list[dict], rows2: list[dict], suffix: str, threshold: float) -> str:
    by_utt = {r["utt"]: r for r in rows1}
    pairs = [(by_utt[r["utt"].removesuffix(suffix)], r) for r in rows2
             if r["utt"].removesuffix(suffix) in by_utt]
    if not pairs:
        return "no utterance of --dir2 matches one of --dir (after removing the suffix)"
    before = np.array([a["angle"] for a, _ in pairs])
    after = np.array([b["angle"] for _, b in pairs])
    return (f"paired utterances: {len(pairs)}\n"
            f"  median angle       {np.median(before):6.1f}° -> {np.median(after):6.1f}°\n"
            f"  mean angle         {before.mean():6.1f}° -> {after.mean():6.1f}°\n"
            f"  share < {threshold:g}°       {100 * np.mean(before < threshold):5.1f}% -> "
            f"{100 * np.mean(after < threshold):5.1f}%\n"
            f"  angle decreased in {100 * np.mean(after < before):5.1f}% of pairs")


def waveform_change(dir1: Path, dir2: Path, suffix: str,
                    max_utts: int | None = None) -> dict[str, float]:
    """How the FS model rewrote the audio, medians over paired utterances:

    * ``snr``: ``10 log10(|x|^2 / |G(x) - x|^2)`` on both source images at all mics
      (high = near identity);
    * ``corr_before`` / ``corr_after``: ``|corr(s1, s2)|`` at mic 0, zero lag. Two talkers are
      uncorrelated; a generator that sees both sources can "align" them by leaking one into
      the other, which this exposes.
    """
    from sepplug.augment.source_pairs import load_pair, scan_source_pairs

    set1, set2 = scan_source_pairs(dir1, progress=False), scan_source_pairs(dir2, progress=False)
    if (set1.n_mics, set1.fs) != (set2.n_mics, set2.fs):
        raise ValueError(f"{dir1} is {set1.n_mics} mics at {set1.fs} Hz but {dir2} is "
                         f"{set2.n_mics} mics at {set2.fs} Hz: not the same scenes")
    originals = {e.utt: e for e in set1.entries}
    n_mics = set1.n_mics

    def corr(pair: np.ndarray) -> float:
        a, b = pair[0], pair[n_mics]
        return float(abs(a @ b) / max(np.sqrt((a @ a) * (b @ b)), 1e-20))

    snrs, before, after = [], [], []
    for entry in set2.entries[:max_utts]:
        orig = originals.get(entry.utt.removesuffix(suffix))
        if orig is None:
            continue
        x, y = load_pair(set1, orig), load_pair(set2, entry)
        n = min(x.shape[1], y.shape[1])
        x, y = x[:, :n], y[:, :n]
        snrs.append(10 * np.log10(float((x**2).sum()) / max(float(((x - y) ** 2).sum()), 1e-20)))
        before.append(corr(x))
        after.append(corr(y))
    if not snrs:
        return dict.fromkeys(("snr", "corr_before", "corr_after"), float("nan"))
    return {"snr": float(np.median(snrs)), "corr_before": float(np.median(before)),
            "corr_after": float(np.median(after))}


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from sepplug.augment.spatial_metrics import angle_stats_for_dir

    results = []
    try:
        for d in [args.dir] + ([args.dir2] if args.dir2 else []):
            results.append(angle_stats_for_dir(d, max_utts=args.max_utts,
                                               progress=not args.no_progress))
    except (DataError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"fs_verify: error: {exc}", file=sys.stderr)
        return 2
    names = [str(args.dir)] + ([str(args.dir2)] if args.dir2 else [])
    for name, rows in zip(names, results, strict=True):
        print(format_table(name, rows, args.threshold))
        print()
    if args.dir2:
        print(format_paired(results[0], results[1], args.suffix, args.threshold))
        try:
            change = waveform_change(args.dir, args.dir2, args.suffix, args.max_utts)
        except (DataError, FileNotFoundError, ValueError, OSError) as exc:
            print(f"fs_verify: error: {exc}", file=sys.stderr)
            return 2
        print(f"  waveform change    {change['snr']:6.1f} dB SNR (median; |x|^2 / |G(x) - x|^2)\n"
              f"  |corr(s1, s2)|     {change['corr_before']:6.3f} -> {change['corr_after']:6.3f} "
              "(median, mic 0: leakage between the sources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
