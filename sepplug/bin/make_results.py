"""Collect every scored model under an exp dir into RESULTS.md and a bar chart.

    python -m sepplug.bin.make_results --expdir exp --out exp/RESULTS.md \\
        --plot exp/results_si_sdri.png

Reads the per-utterance scores ``<expdir>/enh_*/enhanced_*/scoring/per_utt.tsv`` (written
by ``sepplug.bin.score_separation``) and writes, from the same numbers, RESULTS.md (ESPnet's
layout: environment block, then a table with one row per model x test subset) and
``<expdir>/results/summary.tsv`` (:mod:`sepplug.results.summary`; metrics ``si_sdri``,
``si_sdr``, ``sdri``, ``sdr`` with standard errors).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sepplug.results.markdown import environment, markdown_table
from sepplug.results.per_utt import read_per_utt
from sepplug.results.summary import (
    ResultRow,
    mean_stderr,
    read_family,
    results_tool_parser,
    row_from_values,
    summary_path,
    write_summary,
)
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

SUBSET_ORDER = {"test_easy": 0, "test_hard": 1, "test_both": 2}


def subset_key(subset: str) -> tuple[int, str]:
    """Order test subsets easy, hard, both, then the rest alphabetically."""
    return SUBSET_ORDER.get(subset, len(SUBSET_ORDER)), subset


SUMMARY_METRICS = ("si_sdri", "si_sdr", "sdri", "sdr")
TABLE_HEADER = ("model", "subset", "#utt", "SI-SDR (dB)", "SI-SDRi mean (dB)",
                "SI-SDRi median (dB)", "SDR (dB)", "SDRi (dB)", "SI-SDRi s.e.", "family")


def collect(expdir: Path) -> list[dict]:
    """One row per (model, subset): the per-utterance scores and where they came from."""
    rows = []
    for per_utt in sorted(expdir.glob("enh_*/enhanced_*/scoring/per_utt.tsv")):
        enhanced = per_utt.parent.parent
        rows.append({
            "model": enhanced.parent.name.removeprefix("enh_"),
            "family": read_family(enhanced.parent),
            "subset": enhanced.name.removeprefix("enhanced_"),
            "scores": read_per_utt(per_utt)[1],
        })
    return sorted(rows, key=lambda r: (r["model"], subset_key(r["subset"])))


def summary_rows(rows: list[dict]) -> list[ResultRow]:
    return [row_from_values(r["model"], r["family"], r["subset"], metric, r["scores"][metric])
            for r in rows for metric in SUMMARY_METRICS]


#: a recipe's addition to the results: ``expdir -> (summary rows, Markdown parts)``
ExtraResults = Callable[[Path], tuple[list[ResultRow], list[str]]]


def table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        sc = r["scores"]
        n, si_sdri, stderr = mean_stderr(sc["si_sdri"])
        cells.append([r["model"], r["subset"], n, f"{np.mean(sc['si_sdr']):.2f}",
                      f"{si_sdri:.2f}", f"{np.median(sc['si_sdri']):.2f}",
                      f"{np.mean(sc['sdr']):.2f}", f"{np.mean(sc['sdri']):.2f}",
                      f"{stderr:.2f}", r["family"]])
    return "\n".join(markdown_table(TABLE_HEADER, cells))


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Grouped bars: SI-SDRi per test subset, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    subsets = sorted({r["subset"] for r in rows}, key=subset_key)
    value = {(r["model"], r["subset"]): float(np.mean(r["scores"]["si_sdri"])) for r in rows}
    width = 0.8 / max(len(models), 1)
    # Wide enough for every bar and its label; distinct colours for up to 20 models; the
    # legend right of the axes, where it cannot hide bars.
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 1.5 + 0.13 * len(models) * len(subsets))),
                                    max(3.6, 0.22 * len(models))))
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    x = np.arange(len(subsets))
    for i, m in enumerate(models):
        vals = [value.get((m, s), np.nan) for s in subsets]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=m,
                      color=cmap(i % cmap.N))
        ax.bar_label(bars, fmt="%.1f", fontsize=6, rotation=90 if len(models) > 6 else 0,
                     padding=2)
    long_names = max(len(s) for s in subsets) > 14
    ax.set_xticks(x, subsets, rotation=12 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_ylabel("SI-SDRi (dB), mean")
    ax.axhline(0, color="k", lw=0.6)
    ax.margins(y=0.15)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None, extra: ExtraResults | None = None,
         prog: str = "sepplug.bin.make_results", description: str | None = __doc__) -> int:
    """The command line; a recipe's own results tool passes ``extra`` (its rows join
    summary.tsv, its Markdown parts follow the separation table; ValueError: exit 1), and
    its module name and doc as ``prog`` and ``description``."""
    p = results_tool_parser(description, "SpatialVCTK")
    p.prog = f"python -m {prog}"
    p.add_argument("--plot", type=Path, default=None,
                   help="bar chart (default: <expdir>/results_si_sdri.png)")
    p.add_argument("--no_plot", action="store_true")
    args = p.parse_args(argv)
    try:
        rows = collect(args.expdir)
    except ValueError as exc:
        print(f"make_results: error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"make_results: error: no scoring/per_utt.tsv under {args.expdir}/enh_*/",
              file=sys.stderr)
        return 1
    try:
        extra_rows, extra_parts = extra(args.expdir) if extra else ([], [])
    except ValueError as exc:
        print(f"make_results: error: {exc}", file=sys.stderr)
        return 1
    parts = [
        f"<!-- Generated by {prog} -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## Separation (SI-SDRi against the reference-mic mixture)",
        table(rows),
        "The same numbers as data: `results/summary.tsv` (standard errors over utterances).",
    ]
    text = "\n\n".join(parts + extra_parts) + "\n"
    write_summary(summary_path(args), summary_rows(rows) + extra_rows)
    atomic_write_text(args.out, text)
    if not args.no_plot:
        plot(rows, args.plot or args.expdir / "results_si_sdri.png", args.title)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
