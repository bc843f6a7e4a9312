"""RESULTS.md and results/summary.tsv of clustering-confidence model selection.

    python -m sepplug.bin.make_selection_results --expdir exp --out exp/RESULTS.md \\
        --pair dc_speech=speech_test --pair dc_music=music_test --pair dc_env=env_test

Reads every single model's per-utterance scores (``<expdir>/enh_<model>/enhanced_<set>/
scoring/per_utt.tsv``, ``sepplug.bin.score_separation``) and, per test set, what
``sepplug select`` wrote (``<expdir>/select/<set>/confidence.tsv``: each model's confidence
per mixture and the chosen one). Then, as in the paper (Liu, Seetharaman & Pardo):

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

``summary.tsv`` rows: family ``single`` (each model), ``oracle`` / ``random`` /
``confidence`` (ensembles), metrics ``sd_sdr`` and ``si_sdr``; family ``analysis``:
``pearson_r`` (model = the in-domain model), ``gap_recovered`` (model = confidence).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.bin.make_results import environment, read_per_utt
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text
from sepplug.utils.results_table import (
    ResultRow,
    mean_stderr,
    read_family,
    results_tool_parser,
    row_from_values,
    summary_path,
    write_summary,
)

METRICS = ("sd_sdr", "si_sdr")
ENSEMBLES = ("oracle", "random", "confidence")


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


def ensemble_scores(scores: dict, utts: dict, subset: str, models: list[str],
                    order: list[str], chosen: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per-mixture scores of the three ensembles on ``subset`` (mixtures in ``order``).

    Raises:
        ValueError: a model lacks scores of a mixture of the confidence file.
    """
    table = {}  # metric -> (M, N)
    for metric in METRICS:
        rows = []
        for m in models:
            if (m, subset) not in scores:
                raise ValueError(f"model {m} has no scores on {subset}: run its stage 6")
            index = {u: i for i, u in enumerate(utts[m, subset])}
            missing = [u for u in order if u not in index]
            if missing:
                raise ValueError(f"model {m} has no score of {missing[0]} ({subset})")
            rows.append(scores[m, subset][metric][[index[u] for u in order]])
        table[metric] = np.stack(rows)
    oracle_pick = np.argmax(table["sd_sdr"], axis=0)
    confidence_pick = np.array([models.index(c) for c in chosen])
    columns = np.arange(len(order))
    return {
        "oracle": {k: v[oracle_pick, columns] for k, v in table.items()},
        "random": {k: v.mean(axis=0) for k, v in table.items()},
        "confidence": {k: v[confidence_pick, columns] for k, v in table.items()},
        "_picks": {"oracle": oracle_pick, "confidence": confidence_pick},
    }


def _cell(values: np.ndarray) -> str:
    n, mean, stderr = mean_stderr(values)
    return "-" if n == 0 else f"{mean:.2f} ± {stderr:.2f}"


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan, math.nan
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def scatter(points: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """Figure 3: confidence vs SD-SDR, one panel per (model, test set), with the fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 3.6), squeeze=False)
    for ax, (label, (conf, sdr)) in zip(axes[0], points.items(), strict=True):
        ax.scatter(conf, sdr, s=8, alpha=0.6)
        r, p = pearson(conf, sdr)
        if not math.isnan(r):
            slope, intercept = np.polyfit(conf, sdr, 1)
            xs = np.linspace(conf.min(), conf.max(), 2)
            ax.plot(xs, slope * xs + intercept, color="C3")
        ax.set_title(f"{label}\nr = {r:.2f}, p = {p:.1e}", fontsize=9)
        ax.set_xlabel("confidence (silhouette x posterior)")
        ax.set_ylabel("SD-SDR (dB)")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def build(expdir: Path, select_dir: Path, pairs: list[tuple[str, str]]) -> tuple[str, list, dict]:
    """The Markdown body, the summary rows and the Figure 3 points."""
    scores, utts, families = collect_singles(expdir)
    if not scores:
        raise ValueError(f"no scoring/per_utt.tsv under {expdir}/enh_*/")
    models = sorted(families)
    subsets = sorted({s for _, s in scores})
    rows: list[ResultRow] = [row_from_values(m, families[m], s, metric, scores[m, s][metric])
                             for (m, s) in sorted(scores) for metric in METRICS]
    ensembles, confidences, orders = {}, {}, {}
    for subset in subsets:
        path = select_dir / subset / "confidence.tsv"
        if not path.is_file():
            continue
        order, conf, chosen = read_confidence(path)
        if sorted(conf) != models:
            raise ValueError(f"{path}: models {sorted(conf)}, the exp dir has {models}")
        ensembles[subset] = ensemble_scores(scores, utts, subset, models, order, chosen)
        confidences[subset], orders[subset] = conf, order
        for name in ENSEMBLES:
            rows += [row_from_values(name, name, subset, metric, ensembles[subset][name][metric])
                     for metric in METRICS]

    lines = []
    for metric, title in (("sd_sdr", "scale-dependent SDR"), ("si_sdr", "SI-SDR")):
        lines += [f"### Table 1 ({title}, dB, mean ± standard error over mixtures)", "",
                  "|model|" + "|".join(subsets) + "|", "|---" * (len(subsets) + 1) + "|"]
        for name in ENSEMBLES:
            cells = [_cell(ensembles[s][name][metric]) if s in ensembles else "-"
                     for s in subsets]
            lines.append(f"|{name} ensemble|" + "|".join(cells) + "|")
        for m in models:
            lines.append(f"|{m}|" + "|".join(_cell(scores[m, s][metric]) if (m, s) in scores
                                               else "-" for s in subsets) + "|")
        lines.append("")
    if ensembles:
        lines += ["Share of the oracle - random gap (SD-SDR) the confidence ensemble recovers:",
                  ""]
        for subset, e in ensembles.items():
            gap = float(np.mean(e["oracle"]["sd_sdr"]) - np.mean(e["random"]["sd_sdr"]))
            got = float(np.mean(e["confidence"]["sd_sdr"]) - np.mean(e["random"]["sd_sdr"]))
            share = got / gap if gap > 0 else math.nan
            rows.append(ResultRow("confidence", "analysis", subset, "gap_recovered",
                                  len(orders[subset]), share, math.nan))
            lines.append(f"- {subset}: {100 * share:.0f} % (oracle - random {gap:.2f} dB, "
                         f"confidence - random {got:.2f} dB)")
        lines += ["", *confusion(ensembles, models), ""]
    points = {}
    for model, subset in pairs:
        if subset not in confidences or (model, subset) not in scores:
            continue
        conf = confidences[subset][model]
        index = {u: i for i, u in enumerate(utts[model, subset])}
        sdr = scores[model, subset]["sd_sdr"][[index[u] for u in orders[subset]]]
        r, p = pearson(conf, sdr)
        rows.append(ResultRow(model, "analysis", subset, "pearson_r", len(conf), r, math.nan))
        points[f"{model} on {subset}"] = (conf, sdr)
        lines.append(f"- Figure 3, {model} on {subset}: r = {r:.2f} (p = {p:.1e}, "
                     f"{len(conf)} mixtures)")
    return "\n".join(lines), rows, points


def data_table(rows: list[ResultRow]) -> str:
    """Every summary row as a Markdown table (the numbers of results/summary.tsv)."""
    def num(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{x:.2f}"

    lines = ["|model|subset|family|metric|n|mean|stderr|", "|---|---|---|---|---|---|---|"]
    lines += [f"|{r.model}|{r.subset}|{r.family}|{r.metric}|{r.n}|{num(r.mean)}|{num(r.stderr)}|"
              for r in rows]
    return "\n".join(lines)


def confusion(ensembles: dict, models: list[str]) -> list[str]:
    """Table 2: oracle pick (rows) x confidence pick (columns), pooled over the test sets."""
    matrix = np.zeros((len(models), len(models)), dtype=int)
    for e in ensembles.values():
        for o, c in zip(e["_picks"]["oracle"], e["_picks"]["confidence"], strict=True):
            matrix[o, c] += 1
    lines = ["### Table 2 (oracle pick x confidence pick, all test mixtures)", "",
             "|oracle \\ confidence|" + "|".join(models) + "|recall|",
             "|---" * (len(models) + 2) + "|"]
    for i, m in enumerate(models):
        recall = matrix[i, i] / matrix[i].sum() if matrix[i].sum() else math.nan
        lines.append(f"|{m}|" + "|".join(str(v) for v in matrix[i]) + f"|{100 * recall:.1f} %|")
    precision = [matrix[j, j] / matrix[:, j].sum() if matrix[:, j].sum() else math.nan
                 for j in range(len(models))]
    lines.append("|precision|" + "|".join(f"{100 * p:.1f} %" for p in precision) + "||")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = results_tool_parser(__doc__, "Clustering-confidence model selection")
    p.add_argument("--select_dir", type=Path, default=None, help="default: <expdir>/select")
    p.add_argument("--pair", action="append", default=[],
                   help="MODEL=SET: a domain's own model and test set (Figure 3)")
    args = p.parse_args(argv)
    pairs = []
    for pair in args.pair:
        model, sep, subset = pair.partition("=")
        if not sep:
            p.error(f"--pair {pair}: expected MODEL=SET")
        pairs.append((model, subset))
    try:
        body, rows, points = build(args.expdir, args.select_dir or args.expdir / "select", pairs)
    except ValueError as exc:
        print(f"make_selection_results: error: {exc}", file=sys.stderr)
        return 1
    figure = args.out.parent / "confidence_vs_sdr.png"
    if points:
        scatter(points, figure)
    text = "\n\n".join([
        "<!-- Generated by sepplug.bin.make_selection_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## Single models and ensembles",
        body,
        f"![confidence vs SD-SDR]({figure.name})" if points else "",
        "### All numbers (as data: `results/summary.tsv`)",
        data_table(rows),
    ]) + "\n"
    write_summary(summary_path(args), rows)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
