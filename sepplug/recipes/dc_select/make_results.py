"""RESULTS.md and results/summary.tsv of clustering-confidence model selection.

    python -m sepplug.recipes.dc_select.make_results --expdir exp --out exp/RESULTS.md \\
        --pair dc_speech=speech_test --pair dc_music=music_test --pair dc_env=env_test

Reads every single model's per-utterance scores (``<expdir>/enh_<model>/enhanced_<set>/
scoring/per_utt.tsv``, ``sepplug.bin.score_separation``) and what ``sepplug select`` wrote
for each **selection group** (``<expdir>/select/<group>/<set>/confidence.tsv``: each
model's confidence per mixture and the chosen one; a group is one set of domain models
and one confidence kind, e.g. ``dc`` = the deep-clustering models with the paper's
clustering confidence, ``mask`` = mask-based models with mask confidence). Then, per
group, as in the paper (Liu, Seetharaman & Pardo):

* Table 1: mean scale-dependent SDR (and SI-SDR) of each single model and of three
  ensembles per test set: **oracle** (per mixture the model with the best true SD-SDR),
  **random** (the expected score of a uniformly random pick: the mean over models),
  **confidence** (the most confident model); and the share of the oracle - random gap
  the confidence ensemble recovers;
* Table 2: confusion matrix oracle pick x confidence pick over all test mixtures, with each
  model's precision and recall;
* Figure 3: confidence against SD-SDR of each domain's own model on its own test set
  (``--pair MODEL=SET``), with the linear fit's r and p (one dot per mixture: confidence is a
  property of the mixture, the score the mean over its sources).

With two or more groups, a comparison on the same mixtures: each group's confidence
ensemble against the first group's (paired per-mixture SD-SDR difference), and how often
each group's confidence picks its oracle model.

``summary.tsv`` rows: family ``single`` (each model), ``oracle`` / ``random`` /
``confidence`` (ensembles; model ``<group>_<ensemble>``), metrics ``sdr`` (the paper's
scale-dependent SDR, per_utt.tsv's ``sd_sdr``; not BSS-Eval's SDR) and ``si_sdr``; family
``analysis``: ``pearson_r`` and ``spearman_rho`` (model = the in-domain model),
``gap_recovered`` and
``oracle_pick_rate`` (model = ``<group>_confidence``), ``sdr_diff`` (model =
``<group>_confidence-<first group>_confidence``, paired mean and standard error).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.results.markdown import environment, markdown_row, markdown_table
from sepplug.results.per_utt import read_per_utt
from sepplug.results.summary import (
    ResultRow,
    format_mean_se,
    mean_stderr,
    read_family,
    results_tool_parser,
    row_from_values,
    summary_path,
    table_number,
    write_summary,
)
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

METRICS = ("sd_sdr", "si_sdr")  # per_utt.tsv columns
SUMMARY_METRIC = {"sd_sdr": "sdr", "si_sdr": "si_sdr"}  # their names in summary.tsv
ENSEMBLES = ("oracle", "random", "confidence")


@dataclass
class Selection:
    """One selection group on one test set: its models and the ensembles' scores."""

    models: list[str]
    order: list[str]  # mixtures
    confidence: dict[str, np.ndarray]  # model -> (N,)
    scores: dict[str, dict[str, np.ndarray]]  # ensemble -> metric -> (N,)
    oracle_pick: np.ndarray  # (N,) index into models
    confidence_pick: np.ndarray  # (N,)


def collect_singles(expdir: Path) -> tuple[dict[tuple[str, str], dict[str, np.ndarray]],
                                            dict[tuple[str, str], list[str]], dict[str, str]]:
    """``(scores, utts, families)``: scores[(model, set)][metric] is (N,) in utts order."""
    scores, utts, families = {}, {}, {}
    for per_utt in sorted(expdir.glob("enh_*/enhanced_*/scoring/per_utt.tsv")):
        enhanced = per_utt.parent.parent
        model = enhanced.parent.name.removeprefix("enh_")
        subset = enhanced.name.removeprefix("enhanced_")
        utts[model, subset], scores[model, subset] = read_per_utt(per_utt)
        families[model] = read_family(enhanced.parent, "single")
    return scores, utts, families


def read_confidence(path: Path) -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    """``(utts, model -> confidences, chosen models)`` of a ``confidence.tsv``.

    Raises:
        ValueError: a malformed file (names it).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    if len(header) < 3 or header[0] != "utt_id" or header[-1] != "chosen":
        raise ValueError(f"{path}: not a confidence.tsv of sepplug select")
    models = [name.removeprefix("enh_") for name in header[1:-1]]
    rows = [line.split("\t") for line in lines[1:]]
    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"{path}: a line does not have the header's {len(header)} fields")
    conf = {m: np.array([float(r[i + 1]) for r in rows]) for i, m in enumerate(models)}
    return [r[0] for r in rows], conf, [r[-1].removeprefix("enh_") for r in rows]


def read_selection(path: Path, scores: dict, utts: dict, subset: str) -> Selection:
    """The ensembles of one ``confidence.tsv`` on ``subset``.

    Raises:
        ValueError: a malformed file, or a model without scores of a listed mixture.
    """
    order, conf, chosen = read_confidence(path)
    models = list(conf)
    table = {}  # metric -> (M, N)
    for metric in METRICS:
        rows = []
        for m in models:
            if (m, subset) not in scores:
                raise ValueError(f"{path}: model {m} has no scores on {subset}: run its stage 6")
            index = {u: i for i, u in enumerate(utts[m, subset])}
            missing = [u for u in order if u not in index]
            if missing:
                raise ValueError(f"{path}: model {m} has no score of {missing[0]} ({subset})")
            rows.append(scores[m, subset][metric][[index[u] for u in order]])
        table[metric] = np.stack(rows)
    unknown = sorted(set(chosen) - set(models))
    if unknown:
        raise ValueError(f"{path}: chosen model {unknown[0]} is not a column")
    oracle_pick = np.argmax(table["sd_sdr"], axis=0)
    confidence_pick = np.array([models.index(c) for c in chosen], dtype=int)
    columns = np.arange(len(order))
    ensembles = {
        "oracle": {k: v[oracle_pick, columns] for k, v in table.items()},
        "random": {k: v.mean(axis=0) for k, v in table.items()},
        "confidence": {k: v[confidence_pick, columns] for k, v in table.items()},
    }
    return Selection(models, order, conf, ensembles, oracle_pick, confidence_pick)


def _cell(values: np.ndarray) -> str:
    n, mean, stderr = mean_stderr(values)
    return "-" if n == 0 else format_mean_se(mean, stderr)


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation: unlike r, not dominated by a few extreme SD-SDR values."""
    from scipy import stats

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def scatter(points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> None:
    """Figure 3: confidence vs SD-SDR, one row per group, one panel per (model, test set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = max(len(p) for p in points.values())
    fig, axes = plt.subplots(len(points), ncols, figsize=(4.2 * ncols, 3.6 * len(points)),
                             squeeze=False)
    for row, (group, panels) in zip(axes, points.items(), strict=True):
        for ax in row[len(panels):]:
            ax.axis("off")
        for ax, (label, (conf, sdr)) in zip(row, panels.items(), strict=False):
            ax.scatter(conf, sdr, s=8, alpha=0.6)
            r, p = pearson(conf, sdr)
            if not math.isnan(r):
                slope, intercept = np.polyfit(conf, sdr, 1)
                xs = np.linspace(conf.min(), conf.max(), 2)
                ax.plot(xs, slope * xs + intercept, color="C3")
            ax.set_title(f"{label}\nr = {r:.2f}, p = {p:.1e}", fontsize=9)
            ax.set_xlabel(f"{group} confidence")
            ax.set_ylabel("SD-SDR (dB)")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def gap_share(sel: Selection) -> tuple[float, float, float]:
    """``(share, oracle - random, confidence - random)`` of the mean SD-SDR."""
    e = sel.scores
    gap = float(np.mean(e["oracle"]["sd_sdr"]) - np.mean(e["random"]["sd_sdr"]))
    got = float(np.mean(e["confidence"]["sd_sdr"]) - np.mean(e["random"]["sd_sdr"]))
    return (got / gap if gap > 0 else math.nan), gap, got


def group_section(group: str, sels: dict[str, Selection], scores: dict, subsets: list[str],
                  rows: list[ResultRow]) -> list[str]:
    """Table 1, the gap shares and Table 2 of one group; appends its summary rows."""
    models = next(iter(sels.values())).models if sels else []
    for subset, sel in sels.items():
        if sorted(sel.models) != sorted(models):
            raise ValueError(f"group {group}: {subset} has models {sel.models}, "
                             f"another test set {models}")
        for name in ENSEMBLES:
            rows += [row_from_values(f"{group}_{name}", name, subset, SUMMARY_METRIC[metric],
                                     sel.scores[name][metric]) for metric in METRICS]
    lines = [f"## Group `{group}`: models {', '.join(models)}", ""]
    for metric, title in (("sd_sdr", "scale-dependent SDR"), ("si_sdr", "SI-SDR")):
        lines += [f"### Table 1, {group} ({title}, dB, mean ± standard error over mixtures)",
                  "", *markdown_table(["model", *subsets])]
        for name in ENSEMBLES:
            cells = [_cell(sels[s].scores[name][metric]) if s in sels else "-"
                     for s in subsets]
            lines.append(markdown_row([f"{name} ensemble", *cells]))
        for m in models:
            lines.append(markdown_row([m, *(_cell(scores[m, s][metric]) if (m, s) in scores
                                            else "-" for s in subsets)]))
        lines.append("")
    lines += [f"Share of the oracle - random gap (SD-SDR) the {group} confidence ensemble "
              "recovers:", ""]
    for subset, sel in sels.items():
        share, gap, got = gap_share(sel)
        n = len(sel.order)
        rows.append(ResultRow(f"{group}_confidence", "analysis", subset, "gap_recovered", n,
                              share, math.nan))
        hits = (sel.oracle_pick == sel.confidence_pick).astype(float)
        rows.append(row_from_values(f"{group}_confidence", "analysis", subset,
                                    "oracle_pick_rate", hits))
        lines.append(f"- {subset}: {100 * share:.0f} % (oracle - random {gap:.2f} dB, "
                     f"confidence - random {got:.2f} dB; confidence picks the oracle model "
                     f"on {100 * hits.mean():.0f} % of mixtures)")
    return lines + ["", *confusion(group, sels, models), ""]


def comparison(groups: dict[str, dict[str, Selection]], rows: list[ResultRow]) -> list[str]:
    """Each group's confidence ensemble minus the first group's, paired per mixture."""
    names = list(groups)
    base = names[0]
    lines = ["## Selection groups compared on the same mixtures", "",
             f"Confidence ensemble SD-SDR minus the `{base}` confidence ensemble's, paired "
             "per mixture (mean ± standard error of the differences):", "",
             *markdown_table(["group", *groups[base]])]
    for name in names[1:]:
        cells = []
        for subset, ref in groups[base].items():
            sel = groups[name].get(subset)
            if sel is None:
                cells.append("-")
                continue
            if sel.order != ref.order:
                index = {u: i for i, u in enumerate(sel.order)}
                if set(index) != set(ref.order):
                    raise ValueError(f"groups {base} and {name} list different mixtures "
                                     f"of {subset}")
                take = [index[u] for u in ref.order]
            else:
                take = list(range(len(ref.order)))
            diff = sel.scores["confidence"]["sd_sdr"][take] - ref.scores["confidence"]["sd_sdr"]
            rows.append(row_from_values(f"{name}_confidence-{base}_confidence", "analysis",
                                        subset, "sdr_diff", diff))
            cells.append(_cell(diff))
        lines.append(markdown_row([f"{name} - {base}", *cells]))
    return lines + [""]


def build(expdir: Path, select_dir: Path, pairs: list[tuple[str, str]]
          ) -> tuple[str, list, dict]:
    """The Markdown body, the summary rows and the Figure 3 points (group -> panels)."""
    scores, utts, families = collect_singles(expdir)
    if not scores:
        raise ValueError(f"no scoring/per_utt.tsv under {expdir}/enh_*/")
    subsets = sorted({s for _, s in scores})
    rows: list[ResultRow] = [
        row_from_values(m, families[m], s, SUMMARY_METRIC[metric], scores[m, s][metric])
        for (m, s) in sorted(scores) for metric in METRICS]
    groups: dict[str, dict[str, Selection]] = {}
    for group_dir in sorted(p for p in select_dir.glob("*") if p.is_dir()):
        sels = {s: read_selection(group_dir / s / "confidence.tsv", scores, utts, s)
                for s in subsets if (group_dir / s / "confidence.tsv").is_file()}
        if sels:
            groups[group_dir.name] = sels
    lines: list[str] = []
    for group, sels in groups.items():
        lines += group_section(group, sels, scores, subsets, rows)
    if not groups:  # single models only (selection not run yet)
        lines += markdown_table(["model", *subsets], (
            [m, *(_cell(scores[m, s]["sd_sdr"]) if (m, s) in scores else "-" for s in subsets)]
            for m in sorted(families)))
        lines.append("")
    if len(groups) > 1:
        lines += comparison(groups, rows)
    points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for model, subset in pairs:
        for group, sels in groups.items():
            sel = sels.get(subset)
            if sel is None or model not in sel.confidence or (model, subset) not in scores:
                continue
            conf = sel.confidence[model]
            index = {u: i for i, u in enumerate(utts[model, subset])}
            sdr = scores[model, subset]["sd_sdr"][[index[u] for u in sel.order]]
            r, p = pearson(conf, sdr)
            rows.append(ResultRow(model, "analysis", subset, "pearson_r", len(conf), r,
                                  math.nan))
            points.setdefault(group, {})[f"{model} on {subset}"] = (conf, sdr)
            rho = spearman(conf, sdr)
            rows.append(ResultRow(model, "analysis", subset, "spearman_rho", len(conf), rho,
                                  math.nan))
            lines.append(f"- Figure 3, {model} on {subset}: r = {r:.2f} (p = {p:.1e}, "
                         f"{len(conf)} mixtures; Spearman rho = {rho:.2f})")
    return "\n".join(lines), rows, points


def data_table(rows: list[ResultRow]) -> str:
    """Every summary row as a Markdown table (the numbers of results/summary.tsv)."""
    lines = ["|model|subset|family|metric|n|mean|stderr|", "|---|---|---|---|---|---|---|"]
    lines += [f"|{r.model}|{r.subset}|{r.family}|{r.metric}|{r.n}|{table_number(r.mean)}|"
              f"{table_number(r.stderr)}|" for r in rows]
    return "\n".join(lines)


def confusion(group: str, sels: dict[str, Selection], models: list[str]) -> list[str]:
    """Table 2: oracle pick (rows) x confidence pick (columns), pooled over the test sets."""
    matrix = np.zeros((len(models), len(models)), dtype=int)
    for sel in sels.values():
        # each file may list the models in its own order: map to the group's
        to_group = np.array([models.index(m) for m in sel.models])
        for o, c in zip(to_group[sel.oracle_pick], to_group[sel.confidence_pick], strict=True):
            matrix[o, c] += 1
    lines = [f"### Table 2, {group} (oracle pick x confidence pick, all test mixtures)", "",
             *markdown_table(["oracle \\ confidence", *models, "recall"])]
    for i, m in enumerate(models):
        recall = matrix[i, i] / matrix[i].sum() if matrix[i].sum() else math.nan
        lines.append(markdown_row([m, *matrix[i], f"{100 * recall:.1f} %"]))
    precision = [matrix[j, j] / matrix[:, j].sum() if matrix[:, j].sum() else math.nan
                 for j in range(len(models))]
    lines.append(markdown_row(["precision", *(f"{100 * p:.1f} %" for p in precision), ""]))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = results_tool_parser(__doc__, "Clustering-confidence model selection")
    p.add_argument("--select_dir", type=Path, default=None,
                   help="default: <expdir>/select (one sub-dir per selection group)")
    p.add_argument("--pair", action="append", default=[],
                   help="MODEL=SET: a domain's own model and test set (Figure 3)")
    p.add_argument("--notes", type=Path, default=None,
                   help="Markdown appended before the data table (what was run, reading)")
    args = p.parse_args(argv)
    pairs = []
    for pair in args.pair:
        model, sep, subset = pair.partition("=")
        if not sep:
            p.error(f"--pair {pair}: expected MODEL=SET")
        pairs.append((model, subset))
    try:
        body, rows, points = build(args.expdir, args.select_dir or args.expdir / "select", pairs)
        notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    except (ValueError, OSError) as exc:
        print(f"sepplug.recipes.dc_select.make_results: error: {exc}", file=sys.stderr)
        return 1
    figure = args.out.parent / "confidence_vs_sdr.png"
    if points:
        scatter(points, figure)
    text = "\n\n".join(part for part in [
        "<!-- Generated by sepplug.recipes.dc_select.make_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        body,
        f"![confidence vs SD-SDR]({figure.name})" if points else "",
        notes.strip(),
        "## All numbers (as data: `results/summary.tsv`; `sdr` = scale-dependent SDR)",
        data_table(rows),
    ] if part) + "\n"
    write_summary(summary_path(args), rows)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
