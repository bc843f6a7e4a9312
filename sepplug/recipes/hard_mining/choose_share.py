"""Choose hard mining's share of hard-pair mixtures on dev (stage 8 of egs/vctk/hard_mining).

    python -m sepplug.recipes.hard_mining.choose_share --expdir exp --shares 0.2 0.35 0.5 \\
        --out_dir exp/hardness/hm_share

Phase 2 of the recipe trains ``dm_hm`` (seed 0) once per candidate ``hard_share`` (run
``enh_dm_hm_share<s>``) beside ``dm_long`` (the same steps of uniform DM), all scored on the
dev set only. The rule, fixed before any run was scored: among the shares whose paired
dev SI-SNRi change against dm_long is at least ``-max_drop`` dB (0.2, the issue's overall
target), the one with the largest paired change on the predicted-hardest quarter of dev
(``<expdir>/hardness/dev_hard.list``, stage 7); when no share keeps the dev mean within
``max_drop``, the share with the smallest dev loss. The test set is never read.

Writes (atomically) ``<out_dir>/chosen`` (the share, as written in ``--shares``),
``choice.tsv`` (per share: the paired dev changes, mean and standard error, and whether it
was eligible) and ``choice.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.errors import DataError
from sepplug.results.per_utt import read_per_utt
from sepplug.results.summary import mean_stderr
from sepplug.utils.atomic import atomic_write_text

SCORE_COLUMN = "si_sdri"  # SI-SNRi for one channel (see make_results)


def dev_scores(expdir: Path, run: str) -> dict[str, float]:
    """``utt -> SI-SNRi`` of ``run``'s dev scoring; DataError names a missing file."""
    path = expdir / f"enh_{run}" / "enhanced_dev" / "scoring" / "per_utt.tsv"
    if not path.is_file():
        raise DataError(f"{path} is missing: run {run} is not scored on dev (stage 8)")
    utts, scores = read_per_utt(path)
    if SCORE_COLUMN not in scores:
        raise DataError(f"{path}: no {SCORE_COLUMN} column")
    return dict(zip(utts, scores[SCORE_COLUMN].tolist(), strict=True))


def paired(candidate: dict[str, float], baseline: dict[str, float], utts: Sequence[str]
           ) -> np.ndarray:
    """candidate - baseline per mixture of ``utts`` (N,)."""
    missing = [u for u in utts if u not in candidate or u not in baseline]
    if missing:
        raise DataError(f"{len(missing)} dev mixtures lack a score (e.g. {missing[0]})")
    return np.array([candidate[u] - baseline[u] for u in utts])


def choose(expdir: Path, shares: Sequence[str], baseline: str = "dm_long",
           max_drop: float = 0.2) -> tuple[str, list[dict]]:
    """The chosen share and one table row per share (module doc)."""
    hard_list = expdir / "hardness" / "dev_hard.list"
    if not hard_list.is_file():
        raise DataError(f"{hard_list} is missing: run stage 7")
    hard = set(hard_list.read_text(encoding="utf-8").split())
    base = dev_scores(expdir, baseline)
    utts = sorted(base)
    hard_utts = [u for u in utts if u in hard]
    if not hard_utts:
        raise DataError(f"{hard_list} names none of {baseline}'s dev mixtures")
    rows = []
    for share in shares:
        scores = dev_scores(expdir, f"dm_hm_share{share}")
        overall, on_hard = paired(scores, base, utts), paired(scores, base, hard_utts)
        _, mean, se = mean_stderr(overall)
        _, hard_mean, hard_se = mean_stderr(on_hard)
        rows.append({"share": share, "dev_diff": mean, "dev_diff_se": se,
                     "dev_hard_diff": hard_mean, "dev_hard_diff_se": hard_se,
                     "n": len(utts), "n_hard": len(hard_utts),
                     "eligible": bool(mean >= -max_drop)})
    eligible = [r for r in rows if r["eligible"]]
    best = (max(eligible, key=lambda r: r["dev_hard_diff"]) if eligible
            else max(rows, key=lambda r: r["dev_diff"]))
    return best["share"], rows


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--expdir", type=Path, required=True)
    p.add_argument("--shares", nargs="+", required=True, help="the candidate hard shares")
    p.add_argument("--baseline", default="dm_long")
    p.add_argument("--max_drop", type=float, default=0.2,
                   help="largest dev SI-SNRi loss (dB) against the baseline a share may cost")
    p.add_argument("--out_dir", type=Path, required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        for share in args.shares:
            if not 0 < float(share) < 1:
                raise DataError(f"--shares: {share} is not in (0, 1)")
        chosen, rows = choose(args.expdir, args.shares, args.baseline, args.max_drop)
    except (DataError, OSError, ValueError) as exc:
        print(f"choose_share: error: {exc}", file=sys.stderr)
        return 1
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    atomic_write_text(out / "choice.tsv", "\t".join(columns) + "\n" + "".join(
        "\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns)
        + "\n" for r in rows))
    atomic_write_text(out / "choice.json", json.dumps(
        {"chosen": chosen, "baseline": args.baseline, "max_drop": args.max_drop,
         "rows": rows}, indent=2) + "\n")
    atomic_write_text(out / "chosen", f"{chosen}\n")
    print(f"choose_share: hard share {chosen} (dev, against {args.baseline})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
