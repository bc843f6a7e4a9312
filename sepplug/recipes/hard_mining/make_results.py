"""RESULTS.md and results/summary.tsv of the hard-sample-mining recipe (egs/vctk/hard_mining).

    python -m sepplug.recipes.hard_mining.make_results --expdir exp --out exp/RESULTS.md

Reads each model's per-utterance test scores (``<expdir>/enh_<tag>/enhanced_test/scoring/
per_utt.tsv``; its family from ``enh_<tag>/family``), the hard test subset decided in
advance by the dev-fitted hardness predictor (``<expdir>/hardness/test_hard.list``) and the
correlation analysis (``<expdir>/hardness/analysis.{json,tsv}``), all optional but the
scores. Writes, per model, the mean SI-SNRi on ``test`` and on ``test_hard25`` (the
"hardest 25 %") with standard errors, and the paired per-mixture difference to the
``dm`` family's model (the baseline).

Runs of one family with other training seeds (``enh_<family>_seed<k>``) are rows of their
own and, when a family has two or more seeds, are also averaged: per mixture, the mean over
the family's seeds (model ``<family>_<n>seeds``), its paired difference to dm's seed mean,
and each extra seed's paired difference to seed 0 (how far seeds alone move a family).

``summary.tsv``: metric ``si_snri`` (per_utt.tsv's ``si_sdri``: for one channel and
scale-invariant scoring SI-SNR and SI-SDR are the same quantity), ``si_snri_diff_dm``
(paired difference to dm's run of the same seed, dm's seed 0 when it has none, or
dm's seed mean for a ``_<n>seeds`` model over the same seeds),
``si_snri_diff_seed0`` (a ``_seed<k>`` run minus its family's seed 0), on subsets
``test`` and ``test_hard25``; the analysis rows of ``analysis.tsv`` (family ``analysis``).
"""

from __future__ import annotations

import json
import os
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
BASELINE = "dm"
HARD_SUBSET = "test_hard25"
#: the issue's families in the order of the paper's Table (those present are shown)
ORDER = ("dm", "dm_wtl", "dm_wvl", "dm_wtl_wvl", "dm_hm", "dm_hm_wtl")


def collect(expdir: Path, subset: str = "test"
            ) -> dict[str, tuple[str, list[str], np.ndarray]]:
    """``tag -> (family, utts, si_snri (N,))`` of every scored model."""
    out = {}
    for per_utt in sorted(expdir.glob(f"enh_*/enhanced_{subset}/scoring/per_utt.tsv")):
        model_dir = per_utt.parents[2]
        utts, scores = read_per_utt(per_utt)
        if SCORE_COLUMN not in scores:
            raise ValueError(f"{per_utt}: no {SCORE_COLUMN} column")
        out[model_dir.name.removeprefix("enh_")] = (read_family(model_dir, "unknown"), utts,
                                                    scores[SCORE_COLUMN])
    return out


def checkpoint_of(model_dir: Path, family: str) -> str:
    """The epoch file stage 6 used: ``valid.si_snr_loss_weighted_set.best.pth`` for a WVL
    family, else ``valid.si_snr_loss.best.pth`` (both links to ``<N>epoch.pth``)."""
    name = "si_snr_loss_weighted_set" if family.endswith("_wvl") else "si_snr_loss"
    link = model_dir / f"valid.{name}.best.pth"
    return Path(os.path.realpath(link)).name if link.exists() else "-"


def _cell(values: np.ndarray) -> str:
    n, mean, stderr = mean_stderr(values)
    if n == 0:
        return "-"
    return format_mean_se(mean, stderr)


def seed_of(tag: str, family: str) -> int | None:
    """0 for the run ``<family>``, k for ``<family>_seed<k>``, None for any other tag (a
    variant of the family, e.g. another option value, is not a seed)."""
    if tag == family:
        return 0
    rest = tag.removeprefix(f"{family}_seed")
    return int(rest) if rest != tag and rest.isdigit() else None


def aligned(models: dict[str, tuple[str, list[str], np.ndarray]], tag: str,
            utts: Sequence[str]) -> np.ndarray:
    """``tag``'s scores (N,) in the order of ``utts``; ValueError when it lacks one."""
    _, own_utts, y = models[tag]
    index = {u: i for i, u in enumerate(own_utts)}
    missing = [u for u in utts if u not in index]
    if missing:
        raise ValueError(f"model {tag} has no score for {len(missing)} test mixtures "
                         f"(e.g. {missing[0]}): the runs scored different test sets")
    return y[[index[u] for u in utts]]


def paired_baseline(models: dict[str, tuple[str, list[str], np.ndarray]], tag: str,
                    base: str | None) -> str | None:
    """The dm run ``tag`` is paired to: dm's run of the same seed when there is one (a
    seed-k run of another family against dm_seed<k>), else dm's seed 0; None for dm's own
    runs and when there is no dm run."""
    family = models[tag][0]
    if base is None or family == BASELINE:
        return None
    seed = seed_of(tag, family)
    same_seed = BASELINE if not seed else f"{BASELINE}_seed{seed}"
    return same_seed if same_seed in models and models[same_seed][0] == BASELINE else base


def seed_table(models: dict[str, tuple[str, list[str], np.ndarray]],
               masks: dict[str, np.ndarray], utts: list[str]
               ) -> tuple[list[str], list[ResultRow]]:
    """Markdown lines and summary rows of the seed means (families with >= 2 seeds)."""
    seeds: dict[str, dict[int, str]] = {}
    for tag, (family, _, _) in models.items():
        k = seed_of(tag, family)
        if k is not None:
            seeds.setdefault(family, {})[k] = tag
    seeds = {f: runs for f, runs in seeds.items() if len(runs) >= 2 and 0 in runs}
    if not seeds:
        return [], []
    rank = {f: i for i, f in enumerate(ORDER)}
    means = {f: np.mean([aligned(models, t, utts) for t in runs.values()], axis=0)
             for f, runs in seeds.items()}
    base = means.get(BASELINE)
    base_seeds = sorted(seeds.get(BASELINE, {}))
    header = ["family", "seeds"] + [f"{s}: mean over seeds" for s in masks] + \
        [f"{s}: - dm (paired)" for s in masks] + [f"{s}: seed k - seed 0" for s in masks]
    lines = markdown_table(header)
    rows: list[ResultRow] = []
    for family in sorted(seeds, key=lambda f: (rank.get(f, len(ORDER)), f)):
        runs, model = seeds[family], f"{family}_{len(seeds[family])}seeds"
        cells = [family, " ".join(str(k) for k in sorted(runs))]
        score_cells, diff_cells, seed_cells = [], [], []
        seed0 = aligned(models, runs[0], utts)
        for subset, mask in masks.items():
            y = means[family][mask]
            rows.append(row_from_values(model, family, subset, METRIC, y))
            score_cells.append(_cell(y))
            if base is None or family == BASELINE or sorted(runs) != base_seeds:
                diff_cells.append("-")  # a mean over other seeds than dm's is not paired
            else:
                rows.append(row_from_values(model, family, subset, f"{METRIC}_diff_dm",
                                            y - base[mask]))
                diff_cells.append(_cell(y - base[mask]))
            spreads = []
            for k in sorted(runs)[1:]:
                d = aligned(models, runs[k], utts)[mask] - seed0[mask]
                rows.append(row_from_values(runs[k], family, subset, f"{METRIC}_diff_seed0",
                                            d))
                spreads.append(f"{k}: {_cell(d)}")
            seed_cells.append("; ".join(spreads))
        lines.append(markdown_row(cells + score_cells + diff_cells + seed_cells))
    return lines, rows


def build(expdir: Path) -> tuple[str, list[ResultRow]]:
    models = collect(expdir)
    if not models:
        raise ValueError(f"no enh_*/enhanced_test/scoring/per_utt.tsv under {expdir}")
    hard_list = expdir / "hardness" / "test_hard.list"
    hard = set(hard_list.read_text(encoding="utf-8").split()) if hard_list.is_file() else None
    rank = {f: i for i, f in enumerate(ORDER)}
    tags = sorted(models, key=lambda t: (rank.get(models[t][0], len(ORDER)), t))
    base = next((t for t in tags if models[t][0] == BASELINE), None)
    rows: list[ResultRow] = []
    header = ["model", "family", "checkpoint", "test", HARD_SUBSET,
              "test: - dm (paired, same seed)", f"{HARD_SUBSET}: - dm (paired, same seed)"]
    lines = markdown_table(header)
    for tag in tags:
        family, utts, y = models[tag]
        masks = {"test": np.ones(len(utts), dtype=bool),
                 HARD_SUBSET: None if hard is None else np.array([u in hard for u in utts])}
        scores, diffs = [], []
        for subset, mask in masks.items():
            if mask is None:  # no hard subset yet (stage 7 not run)
                scores.append("-")
                diffs.append("-")
                continue
            rows.append(row_from_values(tag, family, subset, METRIC, y[mask]))
            scores.append(_cell(y[mask]))
            pair = paired_baseline(models, tag, base)
            if pair is None:
                diffs.append("-")
                continue
            diff = y[mask] - aligned(models, pair, list(np.array(utts)[mask]))
            rows.append(row_from_values(tag, family, subset, f"{METRIC}_diff_dm", diff))
            diffs.append(_cell(diff))
        cells = [tag, family, checkpoint_of(expdir / f"enh_{tag}", family)] + scores + diffs
        lines.append(markdown_row(cells))
    utts = models[base][1] if base is not None else models[tags[0]][1]
    subsets = {"test": np.ones(len(utts), dtype=bool)}
    if hard is not None:
        subsets[HARD_SUBSET] = np.array([u in hard for u in utts])
    seed_lines, seed_rows = seed_table(models, subsets, utts)
    rows += seed_rows
    if seed_lines:
        lines += ["", "Mean over training seeds (per mixture, then over mixtures), paired "
                  "to dm's mean over the same seeds; ± is the standard error over mixtures "
                  "only (it leaves out the seed-to-seed variance, which the last columns "
                  "show: another seed of the same family, paired per mixture):", ""]
        lines += seed_lines
    analysis = expdir / "hardness" / "analysis.tsv"
    if analysis.is_file():
        rows += read_summary(analysis)
    return "\n".join(lines), rows


def _signed(value: float, digits: int) -> str:
    """``+ 0.05`` / ``- 5.01``: a term of a fitted formula."""
    return f"{'-' if value < 0 else '+'} {abs(value):.{digits}f}"


def analysis_text(expdir: Path) -> str:
    path = expdir / "hardness" / "analysis.json"
    if not path.is_file():
        return "(no hardness analysis yet: run stage 7)"
    report = json.loads(path.read_text(encoding="utf-8"))
    coef = report["predictor"]["coef"]
    lines = [
        f"Hardness predictor fitted on {report['predictor']['n']} dev mixtures (dm model): "
        f"SI-SNRi ≈ {coef[0]:.2f} {_signed(coef[1], 4)} |ΔF0| (Hz) "
        f"{_signed(coef[2], 2)} cos_dist.", "",
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
        "## SI-SNRi (dB) on the test set and its predicted-hardest 25 %",
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
