"""RESULTS.md and results/summary.tsv of the hard-sample-mining recipe (egs/vctk/hard_mining).

    python -m sepplug.recipes.hard_mining.make_results --expdir exp --out exp/RESULTS.md

Reads each model's per-utterance test scores (``<expdir>/enh_<tag>/enhanced_test/scoring/
per_utt.tsv``; its family from ``enh_<tag>/family``; its seed k from a ``_seed<k>`` suffix,
0 without one), the hard test subset decided in advance by the dev-fitted hardness
predictor (``<expdir>/hardness/test_hard.list``), the correlation analysis
(``<expdir>/hardness/analysis.{json,tsv}``) and stage 8's dev choice of the hard share
(``<expdir>/hardness/hm_share/``), all optional but the scores. Of ``dm_hm`` and
``dm_hm_wtl`` only the runs at the chosen share (``..._share<s>``) count.

Comparisons are paired per mixture and by seed: every phase-2 family against ``dm_long``
(dm continued with uniform DM for the same steps), ``dm_long`` against ``dm`` (what the
extra steps gave). Per run: the mean SI-SNRi on ``test`` and on ``test_hard25`` with
standard errors over mixtures, and the paired difference to the baseline's run of the same
seed. Per family with every seed of its baseline: the mean over seeds (per mixture), its
paired difference, and each seed's paired difference with their mean and standard error
over seeds (the seed-to-seed spread: the error to read a difference against).

``summary.tsv``: metric ``si_snri`` (per_utt.tsv's ``si_sdri``: for one channel and
scale-invariant scoring SI-SNR and SI-SDR are the same quantity); ``si_snri_diff_dm_long``
(``si_snri_diff_dm`` for dm_long): the paired difference, per run and for the seed mean
``<family>_<n>seeds`` (stderr over mixtures); ``si_snri_diff_dm_long_over_seeds``: n =
seeds, the mean of the per-seed differences and their standard error over seeds;
``si_snri_diff_seed0``: a ``_seed<k>`` run minus its family's seed 0; subsets ``test`` and
``test_hard25``; the analysis rows of ``analysis.tsv`` (family ``analysis``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.results.markdown import environment, markdown_row, markdown_table
from sepplug.results.per_utt import read_per_utt
from sepplug.results.summary import (
    ResultRow,
    format_mean_se,
    mean_stderr,
    read_family,
    read_summary,
    results_tool_parser,
    row_from_values,
    summary_path,
    table_number,
    write_summary,
)
from sepplug.utils.atomic import atomic_write_text

SCORE_COLUMN = "si_sdri"
METRIC = "si_snri"
HARD_SUBSET = "test_hard25"
PHASE1, CONTROL = "dm", "dm_long"
SHARED = ("dm_hm", "dm_hm_wtl")  #: families trained at the chosen hard share
#: the families in the order of the paper's table, with its row names
LABEL = {"dm": "DM (phase 1 only)", "dm_long": "DM", "dm_wtl": "WTL", "dm_wvl": "WVL",
         "dm_hm": "HM", "dm_hm_wtl": "HM + WTL"}
ORDER = tuple(LABEL)

Models = dict[str, tuple[str, list[str], np.ndarray]]


def baseline_of(family: str) -> str | None:
    """The family a family is paired to: dm_long for phase 2, dm for dm_long."""
    if family == PHASE1:
        return None
    return PHASE1 if family == CONTROL else CONTROL


def seed_of(tag: str) -> int:
    """k of a run ``<name>_seed<k>``, 0 for any other run."""
    match = re.fullmatch(r".+_seed(\d+)", tag)
    return int(match.group(1)) if match else 0


def chosen_share(expdir: Path) -> str | None:
    """Stage 8's hard share (``hardness/hm_share/chosen``), None before stage 8."""
    path = expdir / "hardness" / "hm_share" / "chosen"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def collect(expdir: Path, subset: str = "test") -> Models:
    """``tag -> (family, utts, si_snri (N,))`` of every scored model (of dm_hm and
    dm_hm_wtl: the runs at the chosen share only)."""
    share = chosen_share(expdir)
    out = {}
    for per_utt in sorted(expdir.glob(f"enh_*/enhanced_{subset}/scoring/per_utt.tsv")):
        model_dir = per_utt.parents[2]
        tag, family = model_dir.name.removeprefix("enh_"), read_family(model_dir, "unknown")
        if family in SHARED and share is not None and \
                re.sub(r"_seed\d+$", "", tag) != f"{family}_share{share}":
            continue
        utts, scores = read_per_utt(per_utt)
        if SCORE_COLUMN not in scores:
            raise ValueError(f"{per_utt}: no {SCORE_COLUMN} column")
        out[tag] = (family, utts, scores[SCORE_COLUMN])
    return out


def runs_by_family(models: Models) -> dict[str, dict[int, str]]:
    """``family -> seed -> tag``; ValueError for two runs of one family and seed."""
    out: dict[str, dict[int, str]] = {}
    for tag, (family, _, _) in models.items():
        seed = seed_of(tag)
        other = out.setdefault(family, {}).setdefault(seed, tag)
        if other != tag:
            raise ValueError(f"runs {other} and {tag} are both family {family}, seed {seed}")
    return out


def checkpoint_of(model_dir: Path, family: str) -> str:
    """The epoch file stage 6 used: ``valid.si_snr_loss_weighted_set.best.pth`` for a WVL
    family, else ``valid.si_snr_loss.best.pth`` (both links to ``<N>epoch.pth``)."""
    name = "si_snr_loss_weighted_set" if family.endswith("_wvl") else "si_snr_loss"
    link = model_dir / f"valid.{name}.best.pth"
    return Path(os.path.realpath(link)).name if link.exists() else "-"


def _cell(values: np.ndarray, fmt: str = ".2f") -> str:
    n, mean, stderr = mean_stderr(values)
    return "-" if n == 0 else format_mean_se(mean, stderr, fmt=fmt)


def aligned(models: Models, tag: str, utts: Sequence[str]) -> np.ndarray:
    """``tag``'s scores (N,) in the order of ``utts``; ValueError when it lacks one."""
    _, own_utts, y = models[tag]
    index = {u: i for i, u in enumerate(own_utts)}
    missing = [u for u in utts if u not in index]
    if missing:
        raise ValueError(f"model {tag} has no score for {len(missing)} test mixtures "
                         f"(e.g. {missing[0]}): the runs scored different test sets")
    return y[[index[u] for u in utts]]


def _family_rank(family: str) -> tuple[int, str]:
    return (ORDER.index(family) if family in ORDER else len(ORDER), family)


def run_table(models: Models, runs: dict[str, dict[int, str]], masks: dict[str, np.ndarray],
              utts: list[str], expdir: Path) -> tuple[list[str], list[ResultRow]]:
    """One line per run: scores, and the paired difference to the baseline's same seed."""
    header = ["model", "family", "seed", "checkpoint", *masks, "paired to",
              *(f"{s}: difference" for s in masks)]
    lines, rows = markdown_table(header), []
    for family in sorted(runs, key=_family_rank):
        base = baseline_of(family)
        for seed, tag in sorted(runs[family].items()):
            y = aligned(models, tag, utts)
            pair = runs.get(base, {}).get(seed) if base else None
            scores, diffs = [], []
            for subset, mask in masks.items():
                rows.append(row_from_values(tag, family, subset, METRIC, y[mask]))
                scores.append(_cell(y[mask]))
                if pair is None:
                    diffs.append("-")
                    continue
                diff = y[mask] - aligned(models, pair, utts)[mask]
                rows.append(row_from_values(tag, family, subset, f"{METRIC}_diff_{base}", diff))
                diffs.append(_cell(diff, "+.2f"))
            lines.append(markdown_row([tag, family, seed,
                                       checkpoint_of(expdir / f"enh_{tag}", family), *scores,
                                       pair or "-", *diffs]))
    return lines, rows


def seed_table(models: Models, runs: dict[str, dict[int, str]], masks: dict[str, np.ndarray],
               utts: list[str]) -> tuple[list[str], list[ResultRow]]:
    """The paper-like table: per family, the mean over its seeds and the paired
    differences to its baseline over the same seeds (per mixture; per seed)."""
    header = ["method", "family", "seeds", *(f"{s}" for s in masks),
              *(f"{s}: - baseline (mixtures)" for s in masks),
              *(f"{s}: - baseline per seed; mean ± s.e. over seeds" for s in masks)]
    lines, rows = markdown_table(header), []
    for family in sorted(runs, key=_family_rank):
        seeds = sorted(runs[family])
        base = baseline_of(family)
        base_runs = runs.get(base, {}) if base else {}
        paired_ok = base is not None and set(seeds) <= set(base_runs)
        own = np.stack([aligned(models, runs[family][k], utts) for k in seeds])
        model = f"{family}_{len(seeds)}seeds"
        cells = [LABEL.get(family, family), family, " ".join(map(str, seeds))]
        score_cells, diff_cells, seed_cells = [], [], []
        for subset, mask in masks.items():
            score_cells.append(_cell(own.mean(0)[mask]))
            if len(seeds) > 1:
                rows.append(row_from_values(model, family, subset, METRIC, own.mean(0)[mask]))
                for i, k in enumerate(seeds[1:], 1):
                    rows.append(row_from_values(runs[family][k], family, subset,
                                                f"{METRIC}_diff_seed0", (own[i] - own[0])[mask]))
            if not paired_ok:
                diff_cells.append("-")
                seed_cells.append("-")
                continue
            other = np.stack([aligned(models, base_runs[k], utts) for k in seeds])
            diff = (own - other)[:, mask]
            metric = f"{METRIC}_diff_{base}"
            diff_cells.append(_cell(diff.mean(0), "+.2f"))
            per_seed = diff.mean(1)
            n, mean, se = mean_stderr(per_seed)
            seed_cells.append(" / ".join(f"{d:+.2f}" for d in per_seed) +
                              (f"; {format_mean_se(mean, se, fmt='+.2f')}" if n > 1 else ""))
            if len(seeds) > 1:
                rows.append(row_from_values(model, family, subset, metric, diff.mean(0)))
                rows.append(ResultRow(model, family, subset, f"{metric}_over_seeds", n, mean,
                                      se))
        lines.append(markdown_row(cells + score_cells + diff_cells + seed_cells))
    return lines, rows


def wvl_text(expdir: Path, runs: dict[str, dict[int, str]]) -> str:
    """Which dm_long epoch each criterion picked, per seed (WVL can only matter when the
    rank-weighted dev statistic picks another epoch than the plain dev loss)."""
    lines, differ = [], 0
    for seed, tag in sorted(runs.get(CONTROL, {}).items()):
        exp = expdir / f"enh_{tag}"
        plain, weighted = checkpoint_of(exp, CONTROL), checkpoint_of(exp, "dm_wvl")
        differ += plain != weighted
        lines.append(f"- seed {seed}: plain dev loss -> `{plain}`, rank-weighted -> "
                     f"`{weighted}`")
    if not lines:
        return ""
    return "\n".join([f"WVL chose another epoch than the plain dev loss in {differ} of "
                      f"{len(lines)} dm_long runs (phase-2 epochs, all kept):", "", *lines])


def share_text(expdir: Path) -> str:
    """Stage 8's dev choice of the hard share, as a table."""
    path = expdir / "hardness" / "hm_share" / "choice.tsv"
    if not path.is_file():
        return ""
    table = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    col = {name: i for i, name in enumerate(table[0])}
    lines = [f"Hard share chosen on dev (seed 0, {table[1][col['n']]} dev mixtures, "
             f"{table[1][col['n_hard']]} predicted hardest; paired to dm_long): "
             f"**{chosen_share(expdir)}**", "",
             *markdown_table(["hard_share", "dev: - dm_long", "dev hardest 25 %: - dm_long",
                              "dev loss <= 0.2 dB"])]
    for r in table[1:]:
        lines.append(markdown_row([
            r[col["share"]],
            format_mean_se(float(r[col["dev_diff"]]), float(r[col["dev_diff_se"]]), fmt="+.2f"),
            format_mean_se(float(r[col["dev_hard_diff"]]), float(r[col["dev_hard_diff_se"]]),
                           fmt="+.2f"),
            r[col["eligible"]]]))
    return "\n".join(lines)


def build(expdir: Path) -> tuple[str, list[ResultRow]]:
    models = collect(expdir)
    if not models:
        raise ValueError(f"no enh_*/enhanced_test/scoring/per_utt.tsv under {expdir}")
    runs = runs_by_family(models)
    first = runs.get(PHASE1, runs[min(runs, key=_family_rank)])
    utts = list(models[first[min(first)]][1])
    masks = {"test": np.ones(len(utts), dtype=bool)}
    hard_list = expdir / "hardness" / "test_hard.list"
    if hard_list.is_file():
        hard = set(hard_list.read_text(encoding="utf-8").split())
        masks[HARD_SUBSET] = np.array([u in hard for u in utts])
    table, rows = seed_table(models, runs, masks, utts)
    run_lines, run_rows = run_table(models, runs, masks, utts, expdir)
    text = "\n".join([
        "Mean over training seeds (per mixture, then over mixtures); every phase-2 family "
        "paired to dm_long (equal steps), dm_long to dm; ± over mixtures, and the per-seed "
        "paired differences with their mean ± s.e. over seeds (the seed-to-seed spread):", "",
        *table, "", "Every run (paired to its baseline's run of the same seed):", "",
        *run_lines])
    rows = run_rows + rows
    analysis = expdir / "hardness" / "analysis.tsv"
    if analysis.is_file():
        rows += read_summary(analysis)
    extra = [part for part in (share_text(expdir), wvl_text(expdir, runs)) if part]
    return "\n\n".join([text, *extra]), rows


def _signed(value: float, digits: int) -> str:
    """``+ 0.05`` / ``- 5.01``: a term of a fitted formula."""
    return f"{'-' if value < 0 else '+'} {abs(value):.{digits}f}"


def analysis_text(expdir: Path) -> str:
    path = expdir / "hardness" / "analysis.json"
    if not path.is_file():
        return "(no hardness analysis yet: run stage 7)"
    report = json.loads(path.read_text(encoding="utf-8"))
    predictor = report["predictor"]
    coef = predictor["coef"]
    method = predictor.get("fit_method", "lstsq")
    lines = [
        f"Hardness predictor fitted on {predictor['n']} dev mixtures (dm model"
        f"{', distance weights >= 0' if method == 'nonneg' else ', free least squares'}): "
        f"SI-SNRi ≈ {coef[0]:.2f} {_signed(coef[1], 4)} |ΔF0| (Hz) "
        f"{_signed(coef[2], 2)} cos_dist"
        + (f"; terms used: {', '.join(predictor['terms_used']) or 'none'}"
           if "terms_used" in predictor else "") + "."
        + (" The free least-squares fit would give "
           f"{predictor['lstsq_coef'][0]:.2f} {_signed(predictor['lstsq_coef'][1], 4)} |ΔF0| "
           f"{_signed(predictor['lstsq_coef'][2], 2)} cos_dist."
           if "lstsq_coef" in predictor else ""), "",
        "|feature|set|n|Pearson r|p|", "|---|---|---|---|---|"]
    sets = {"eval": "test", "eval_pairs": "test, per speaker pair", "fit": "dev (in-sample)"}
    for where, subset in sets.items():
        if where not in report:
            continue
        for key, label in (("f0", "abs. median-F0 difference"),
                           ("embedding", "embedding cosine distance"),
                           ("linear", "dev-fitted combination")):
            c = report[where][key]
            lines.append(f"|{label}|{subset}|{c['n']}|{c['r']:.3f}|{c['p']:.1e}|")
    lines += ["", f"Hard test subset (`{HARD_SUBSET}`): the {report['hard_eval_mixtures']} "
              f"test mixtures of highest predicted hardness (share {report['hard_share']:.2f}, "
              "speaker pairs tied with the last one included), chosen from the speakers' "
              "features and the dev-fitted predictor only, without any test score; dm's "
              "mean there "
              f"{report['hard_eval_mean']:.2f} dB vs {report['rest_eval_mean']:.2f} dB on "
              f"the rest. Pair table: {report['hard_pairs']} of {report['pairs']} speaker "
              f"pairs are hard (top {report['hard_quantile']:.2f} by predicted hardness)."]
    eer = expdir / "hardness" / "params" / "eer.json"
    if eer.is_file():
        e = json.loads(eer.read_text(encoding="utf-8"))
        name = e.get("embed_fn", "mfcc_stats")
        kind = ("the pretrained Resemblyzer d-vector (weights from its wheel; no corpus "
                "speaker was in its training data)" if "resemblyzer" in name else
                f"`{name}` (untrained MFCC statistics)" if name == "mfcc_stats" else
                f"`{name}`")
        lines += ["", f"Speaker embedding: {kind}; verification EER "
                  f"{100 * e['eer']:.1f} % on held-out utterances ({e['target_trials']} "
                  f"target, {e['nontarget_trials']} non-target trials)."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = results_tool_parser(__doc__, "VCTK 2-speaker dynamic mixing and hard-sample mining")
    p.add_argument("--notes", type=Path, default=None,
                   help="Markdown appended after the tables (what was run, reading)")
    args = p.parse_args(argv)
    try:
        table, rows = build(args.expdir)
        notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    except (ValueError, OSError) as exc:
        print(f"sepplug.recipes.hard_mining.make_results: error: {exc}", file=sys.stderr)
        return 1
    figures = [f"![{name}]({name}.png)" for name in ("analysis", "learning_curves")
               if (args.out.parent / f"{name}.png").is_file()]
    text = "\n\n".join(part for part in [
        "<!-- Generated by sepplug.recipes.hard_mining.make_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## SI-SNRi (dB) on the test set and its predicted-hardest 25 %, phase 2 paired to "
        "dm_long",
        table,
        "## Speaker parameters and separation (correlation analysis)",
        analysis_text(args.expdir),
        "\n\n".join(figures),
        notes.strip(),
        "## All numbers (as data: `results/summary.tsv`)",
        "\n".join(markdown_table(
            ["model", "subset", "family", "metric", "n", "mean", "stderr"],
            ([r.model, r.subset, r.family, r.metric, r.n, table_number(r.mean),
              table_number(r.stderr)] for r in rows))),
    ] if part) + "\n"
    write_summary(summary_path(args), rows)
    atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
