"""Pareto plot of easy-test vs hard-test SI-SDRi for the FEABASE comparison.

    python -m sepplug.recipes.spatialvctk.plot_pareto --expdir exp --out pareto.png --table
    pareto.md

Every ``<expdir>/enh_<tag>/enhanced_{test_easy,test_hard}/scoring/summary.json``
is a point; its family is read from the tag: ``feabase``, ``oracle_re``,
``oracle_data``, else ``erm``. Each family's Pareto front (points no other point
of the family beats on both axes) is drawn as a line.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.results.per_utt import paired_difference, read_per_utt_column
from sepplug.results.summary import format_mean_se, mean_stderr
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

FAMILIES = ("erm", "oracle_re", "feabase", "oracle_data")
STYLE = {"erm": ("k", "o"), "oracle_re": ("tab:blue", "s"), "feabase": ("tab:red", "*"),
         "oracle_data": ("tab:green", "^")}


def family_of(tag: str) -> str:
    for fam in ("feabase", "oracle_re", "oracle_data"):
        if fam in tag:
            return fam
    return "erm"


def point_label(point: dict) -> str:
    """What distinguishes a point within its family: the tag after the family name."""
    tag, fam = point["tag"], point["family"]
    rest = tag[tag.find(fam) + len(fam):].strip("_") if fam in tag else ""
    return rest or fam


def collect(expdir: Path, easy: str, hard: str, include: str = "*",
            exclude: Sequence[str] = ()) -> list[dict]:
    """Scored models whose tag matches the glob ``include`` and none of ``exclude``."""
    points = []
    for model_dir in sorted(expdir.glob(f"enh_{include}")):
        if any(fnmatch.fnmatchcase(model_dir.name.removeprefix("enh_"), x) for x in exclude):
            continue
        files = [model_dir / f"enhanced_{s}" / "scoring" / "summary.json" for s in (easy, hard)]
        if not all(f.is_file() for f in files):
            continue
        e, h = (json.loads(f.read_text())["si_sdri_mean"] for f in files)
        tag = model_dir.name.removeprefix("enh_")
        scores = {key: read_per_utt(f.with_name("per_utt.tsv"))
                  for key, f in zip(("easy", "hard"), files, strict=True)}
        points.append({"tag": tag, "family": family_of(tag), "easy": e, "hard": h,
                       "easy_se": standard_error(scores["easy"]),
                       "hard_se": standard_error(scores["hard"]), "scores": scores})
    return points


def read_per_utt(per_utt: Path, column: str = "si_sdri") -> dict[str, float]:
    """``utt -> column`` of a scoring ``per_utt.tsv`` (empty when the file is absent)."""
    return read_per_utt_column(per_utt, column) if per_utt.is_file() else {}


def standard_error(scores: dict[str, float]) -> float:
    """Standard error of the mean of per-utterance scores (nan for fewer than two): how far
    apart two models must be before the difference means something."""
    return mean_stderr(list(scores.values()))[2]


def pareto_front(points: list[dict]) -> list[dict]:
    """Points not dominated (>= on both axes, > on one) by another point, by easy score."""
    front = [p for p in points
             if not any(q["easy"] >= p["easy"] and q["hard"] >= p["hard"] and
                        (q["easy"] > p["easy"] or q["hard"] > p["hard"]) for q in points)]
    return sorted(front, key=lambda p: p["easy"])


def plot(points: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    for fam in FAMILIES:
        pts = [p for p in points if p["family"] == fam]
        if not pts:
            continue
        color, marker = STYLE[fam]
        ax.errorbar([p["easy"] for p in pts], [p["hard"] for p in pts],
                    xerr=[p.get("easy_se", 0.0) for p in pts],
                    yerr=[p.get("hard_se", 0.0) for p in pts],
                    fmt="none", ecolor=color, elinewidth=0.6, alpha=0.5, zorder=2)
        ax.scatter([p["easy"] for p in pts], [p["hard"] for p in pts], c=color, marker=marker,
                   s=70 if marker == "*" else 40, label=fam, zorder=3)
        front = pareto_front(pts)
        if len(front) > 1:
            ax.plot([p["easy"] for p in front], [p["hard"] for p in front], c=color, lw=1,
                    alpha=0.7)
        for p in pts:
            ax.annotate(point_label(p), (p["easy"], p["hard"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("test_easy SI-SDRi (dB)  [spatial cue only]")
    ax.set_ylabel("test_hard SI-SDRi (dB)  [timbre cue only]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_save_figure(fig, out, dpi=130)
    plt.close(fig)


def table(points: list[dict], baseline: str | None = None) -> str:
    """Markdown table; ``± x`` is the standard error over utterances when known. With a
    ``baseline`` tag, also each model's paired difference to it (mean ± standard error),
    and, when an ``oracle_data`` model beats the baseline on the hard set, each model's
    share of that gap (Δ hard / Δ hard of oracle data: the recovery FEABASE is judged by)."""
    def cell(value: float, se: float, fmt: str = ".2f") -> str:
        return format_mean_se(value, se, fmt=fmt)

    def delta(p: dict, key: str) -> tuple[float, float]:
        if "scores" not in p or "scores" not in base:
            return float("nan"), float("nan")
        return paired_difference(p["scores"][key], base["scores"][key])[1:]

    base = next((p for p in points if p["tag"] == baseline), None)
    oracle = next((p for p in points if p["family"] == "oracle_data"), None)
    gap = delta(oracle, "hard")[0] if base is not None and oracle is not None else float("nan")
    head = "|model|family|test_easy SI-SDRi|test_hard SI-SDRi|"
    rule = "|---|---|---|---|"
    if base is not None:
        head += f"Δ easy vs {baseline}|Δ hard vs {baseline}|"
        rule += "---|---|"
    if gap > 0:
        head += "share of the oracle-data gap (hard)|"
        rule += "---|"
    lines = [head, rule]
    for p in sorted(points, key=lambda p: (FAMILIES.index(p["family"]), p["tag"])):
        row = (f"|{p['tag']}|{p['family']}|{cell(p['easy'], p.get('easy_se', float('nan')))}|"
               f"{cell(p['hard'], p.get('hard_se', float('nan')))}|")
        if base is not None:
            for key in ("easy", "hard"):
                diff, se = delta(p, key)
                row += "-|" if p is base else f"{cell(diff, se, '+.2f')}|"
        if gap > 0:
            row += "-|" if p is base else f"{delta(p, 'hard')[0] / gap:.2f}|"
        lines.append(row)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--expdir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="PNG")
    p.add_argument("--table", type=Path, default=None, help="markdown table")
    p.add_argument("--easy_set", default="test_easy")
    p.add_argument("--hard_set", default="test_hard")
    p.add_argument("--include", default="*", help="glob over model tags, e.g. 'mc_dprnn_*'")
    p.add_argument("--exclude", action="append", default=[],
                   help="glob over model tags to leave out; repeatable")
    p.add_argument("--baseline", default=None,
                   help="tag to compare every model with (paired per-utterance differences)")
    p.add_argument("--title", default="FEABASE: easy vs hard SI-SDRi (SpatialVCTK)")
    args = p.parse_args(argv)
    points = collect(args.expdir, args.easy_set, args.hard_set, args.include, args.exclude)
    if not points:
        print(f"plot_pareto: error: no model under {args.expdir} is scored on both "
              f"{args.easy_set} and {args.hard_set}", file=sys.stderr)
        return 1
    plot(points, args.out, args.title)
    text = table(points, args.baseline)
    if args.table is not None:
        atomic_write_text(args.table, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
