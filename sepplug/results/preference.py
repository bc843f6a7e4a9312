"""``sepplug preference``'s results: the summary rows, ``preference.md``, ``per_utt.tsv``
and ``preference.png`` of its per-utterance SI-SDRi rows (``{model, subset, utt, si_sdr,
si_sdr_mix, si_sdri}``, :mod:`sepplug.bin.preference` scores them). ``FS(both)`` rows
(subset ``test_both_fs``) hold utterance ids with the FS suffix.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sepplug.results.markdown import markdown_table
from sepplug.results.per_utt import paired_differences
from sepplug.results.summary import (
    ResultRow,
    mean_stderr,
    row_from_values,
    table_number,
    write_summary,
)
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

FS_SET, FS_SUFFIX = "test_both_fs", "_fs"
LABELS = {"test_easy": "easy", "test_hard": "hard", "test_both": "both", FS_SET: "FS(both)"}
PER_UTT_COLUMNS = ("si_sdr", "si_sdr_mix", "si_sdri")


class ScoredModel(Protocol):
    """What the results say of a scored model (:class:`sepplug.bin.preference.Evaluated`)."""

    tag: str
    family: str
    input: str  # the input it got: "all" or "ref"
    why: str

    @property
    def checkpoint(self) -> Path: ...


def by_utt(rows: list[dict], tag: str, subset: str) -> dict[str, float]:
    """``utt -> si_sdri`` of one model on one subset (FS ids without their suffix)."""
    return {r["utt"].removesuffix(FS_SUFFIX): r["si_sdri"] for r in rows
            if r["model"] == tag and r["subset"] == subset}


def ratio_of_means(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """mean(num) / mean(den) of paired values and its delta-method standard error."""
    n, a, b = len(num), float(np.mean(num)), float(np.mean(den))
    if n < 2:
        return a / b, math.nan
    r, cov = a / b, np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * b * b)
    return r, float(math.sqrt(max(var, 0.0)))


def summarize(models: Sequence[ScoredModel], rows: list[dict], sets: list[str]) -> list[ResultRow]:
    """SI-SDRi per model and subset, FS shares, and the paired gap to the timbre model."""
    out = []
    for ev in models:
        for s in sets:
            out.append(row_from_values(ev.tag, ev.family, s, "si_sdri",
                                       list(by_utt(rows, ev.tag, s).values())))
        if FS_SET in sets:
            fs, both = by_utt(rows, ev.tag, FS_SET), by_utt(rows, ev.tag, "test_both")
            common = sorted(fs.keys() & both.keys())
            share, se = ratio_of_means(np.array([fs[u] for u in common]),
                                       np.array([both[u] for u in common]))
            out += [ResultRow(ev.tag, ev.family, FS_SET, "fs_retained_share", len(common),
                              share, se),
                    ResultRow(ev.tag, ev.family, FS_SET, "spatial_reliance", len(common),
                              1 - share, se)]
    if len(models) == 2:
        main, timbre = models
        for s in sets:
            diff = paired_differences(by_utt(rows, main.tag, s), by_utt(rows, timbre.tag, s))
            out.append(ResultRow(main.tag, main.family, s, "si_sdri_gap", *mean_stderr(diff)))
    return out


def _cell(row: ResultRow | None) -> str:
    """``mean ± s.e.`` rounded as summary.tsv holds it."""
    if row is None or math.isnan(row.mean):
        return "n/a"
    se = "" if math.isnan(row.stderr) else f" ± {table_number(row.stderr)}"
    return f"{table_number(row.mean)}{se}"


def report(models: Sequence[ScoredModel], summary: list[ResultRow], sets: list[str],
           args: argparse.Namespace) -> str:
    """``preference.md``: what was run, then one table (subsets × models)."""
    get = {(r.model, r.subset, r.metric): r for r in summary}
    head = ["subset", "n", *(f"{ev.tag} SI-SDRi (dB)" for ev in models)]
    if len(models) == 2:
        head.append(f"{models[0].tag} − {models[1].tag} (dB, paired)")
    lines = []
    for s in sets:
        line = [LABELS[s], get[(models[0].tag, s, "si_sdri")].n,
                *(_cell(get.get((ev.tag, s, "si_sdri"))) for ev in models)]
        lines.append(line + ([_cell(get[(models[0].tag, s, "si_sdri_gap")])]
                             if len(models) == 2 else []))
    for metric, label in (("fs_retained_share", "FS(both) / both: retained share"),
                          ("spatial_reliance", "spatial reliance: 1 − FS(both) / both")):
        if FS_SET in sets:
            n = get[(models[0].tag, FS_SET, metric)].n
            lines.append([label, n, *(_cell(get.get((ev.tag, FS_SET, metric))) for ev in models),
                          *([""] if len(models) == 2 else [])])
    about = [f"# Feature preference of {models[0].tag}", "",
             f"- data: {args.data_dir} (SI-SDRi at mic {args.ref_channel}, PIT over 2 sources)",
             f"- FS model: {args.fs_model or 'none (no FS(both))'}"]
    for ev in models:
        about.append(f"- {ev.tag} ({ev.family}): {ev.checkpoint}; input channels "
                     f"**{ev.input}** ({ev.why})")
    return "\n".join([*about, "", *markdown_table(head, lines)]) + "\n"


def figure(models: Sequence[ScoredModel], summary: list[ResultRow], sets: list[str],
           path: Path) -> None:
    """Bars of SI-SDRi per subset with s.e. error bars, the models side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    get = {(r.model, r.subset, r.metric): r for r in summary}
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(sets), 3.4))
    width = 0.8 / len(models)
    for i, ev in enumerate(models):
        cells = [get[(ev.tag, s, "si_sdri")] for s in sets]
        ax.bar(np.arange(len(sets)) + (i - (len(models) - 1) / 2) * width,
               [c.mean for c in cells], width, yerr=[np.nan_to_num(c.stderr) for c in cells],
               capsize=3, label=f"{ev.tag} ({ev.input})", color=f"C{i}")
    ax.set_xticks(np.arange(len(sets)), [LABELS[s] for s in sets])
    ax.axhline(0, color="k", linewidth=0.6)
    ax.set_ylabel("SI-SDRi (dB)")
    ax.set_title(f"feature preference of {models[0].tag} (mean ± s.e.)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def per_utt_text(rows: list[dict]) -> str:
    """``per_utt.tsv``: ``model subset utt si_sdr si_sdr_mix si_sdri`` (4 decimals)."""
    lines = ["\t".join(("model", "subset", "utt", *PER_UTT_COLUMNS))]
    lines += ["\t".join([r["model"], r["subset"], r["utt"],
                         *(f"{r[c]:.4f}" for c in PER_UTT_COLUMNS)]) for r in rows]
    return "\n".join(lines) + "\n"


def write_results(out_dir: Path, models: Sequence[ScoredModel], rows: list[dict],
                  sets: list[str], args: argparse.Namespace) -> None:
    """Write (each atomically) ``preference.png``, ``per_utt.tsv``, ``summary.tsv`` and
    ``preference.md`` into ``out_dir`` (created)."""
    summary = summarize(models, rows, sets)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure(models, summary, sets, out_dir / "preference.png")
    atomic_write_text(out_dir / "per_utt.tsv", per_utt_text(rows))
    write_summary(out_dir / "summary.tsv", summary)
    atomic_write_text(out_dir / "preference.md", report(models, summary, sets, args))
