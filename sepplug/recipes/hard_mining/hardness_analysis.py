"""Which speaker pairs are hard? Correlation analysis, hardness predictor, hard subsets.

    python -m sepplug.recipes.hard_mining.hardness_analysis --params_dir exp/hardness/params \\
        --fit data/dev/mixtures.tsv exp/enh_dm/enhanced_dev/scoring/per_utt.tsv \\
        --eval data/test/mixtures.tsv exp/enh_dm/enhanced_test/scoring/per_utt.tsv \\
        --out_dir exp/hardness

Global hard-sample mining ("Mining hard samples locally and globally", sec. 2.2-2.3) on
the scores of the uniformly mixed baseline (``dm``):

1. **fit** (the dev set): SI-SNRi ~ a + b |ΔF0| + c cos_dist over its mixtures' speaker
   pairs with b, c >= 0, the paper's signs (``--fit_method nonneg``, the default;
   :func:`sepplug.recipes.hard_mining.hardness.fit_linear_predictor`); a distance whose
   weight comes out 0 adds nothing beyond the other, and the predictor uses the other
   alone (``terms_used`` in ``analysis.json``, beside the free fit's coefficients for
   comparison); hardness = minus the predicted SI-SNRi;
2. **eval** (the test set, unseen speakers, >= 1000 mixtures): Pearson r (and p) of the
   SI-SNRi with |ΔF0|, with the embedding cosine distance, and with the dev-fitted
   prediction (out of sample); the same over the means per speaker pair (a pair's
   mixtures share its features: the mixture-level p overstates the evidence); scatter
   plots;
3. the **hard test subset**, decided by the dev-fitted predictor alone (not by any
   result on the test set): the ``--hard_share`` (25 %) test mixtures of highest
   predicted hardness -> ``test_hard.list``; the same share of the fit set (dev) ->
   ``dev_hard.list`` (what stage 8 chooses the hard-mining share on: in-sample for the
   predictor, never the test set);
4. the **pair table** of every speaker pair of ``--params_dir`` with the dev-fitted
   hardness; its top ``--hard_quantile`` are the pairs the ``hard_dm`` preprocessor
   favours -> ``pairs.tsv``.

Writes (atomically) ``<out_dir>/{analysis.json, analysis.tsv, pairs.tsv, test_hard.list,
dev_hard.list, analysis.png}``; ``analysis.tsv`` holds summary rows (framework format, family
``analysis``: ``pearson_r_f0``, ``pearson_r_xvector``, ``pearson_r_combined`` on the eval
set (subset ``test``), its speaker-pair means (``test_pairs``) and the fit set (``dev``;
there the combination is in-sample, its p from the regression's F test)).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.errors import DataError
from sepplug.mixing.pair_table import hard_mask, write_pair_table
from sepplug.recipes.hard_mining.hardness import (
    FEATURES,
    add_fit_arguments,
    build_pair_table,
    fit_linear_predictor,
    fit_options,
    pair_features,
    regression_p_value,
)
from sepplug.recipes.hard_mining.speaker_params import SpeakerParams
from sepplug.results.per_utt import read_per_utt
from sepplug.results.summary import ResultRow, write_summary
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

#: summary metric of each feature's r (the issue's names; the embedding stands in for the
#: paper's x-vector)
R_METRIC = {"f0": "pearson_r_f0", "embedding": "pearson_r_xvector",
            "linear": "pearson_r_combined"}


def read_scored_pairs(mixtures: Path, per_utt: Path, metric: str
                      ) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """``(utts, spk1, spk2, scores)`` of the mixtures both files list (mixtures.tsv order).

    Raises:
        DataError: a missing file or column, or a mixture without a score.
    """
    for path in (mixtures, per_utt):
        if not path.is_file():
            raise DataError(f"{path} does not exist")
    lines = [line.split("\t") for line in mixtures.read_text(encoding="utf-8").splitlines()]
    header = lines[0] if lines else []
    if not {"utt", "spk1", "spk2"} <= set(header):
        raise DataError(f"{mixtures}: header must have utt, spk1, spk2 (got {header})")
    col = {name: header.index(name) for name in ("utt", "spk1", "spk2")}
    rows = [r for r in lines[1:] if r and r[0]]
    utts, scores = read_per_utt(per_utt)
    if metric not in scores:
        raise DataError(f"{per_utt}: no column {metric} (has {', '.join(sorted(scores))})")
    index = {u: i for i, u in enumerate(utts)}
    missing = [r[col["utt"]] for r in rows if r[col["utt"]] not in index]
    if missing:
        raise DataError(f"{per_utt}: no score of mixture {missing[0]} of {mixtures} "
                        f"({len(missing)} missing)")
    keys = [r[col["utt"]] for r in rows]
    values = scores[metric][[index[k] for k in keys]]
    return keys, [r[col["spk1"]] for r in rows], [r[col["spk2"]] for r in rows], values


def correlations(features: np.ndarray, y: np.ndarray, predicted: np.ndarray,
                 fitted_slopes: int = 0) -> dict:
    """Pearson r and p of ``y`` (N,) with each feature column of (N, 2) and with
    ``predicted`` (N,). When ``predicted`` was fitted to this ``y`` with ``fitted_slopes``
    slopes, its p is the regression's F test (pearsonr's p would ignore the fit)."""
    from scipy import stats

    out = {}
    for column, name in enumerate(FEATURES):
        res = stats.pearsonr(features[:, column], y)
        out[name] = {"r": float(res.statistic), "p": float(res.pvalue), "n": len(y)}
    res = stats.pearsonr(predicted, y)
    r, p = float(res.statistic), float(res.pvalue)
    if fitted_slopes:
        p = regression_p_value(r, len(y), fitted_slopes)
    out["linear"] = {"r": r, "p": p, "n": len(y)}
    return out


def per_pair(spk1: Sequence[str], spk2: Sequence[str], *columns: np.ndarray
             ) -> list[np.ndarray]:
    """Each column averaged per unordered speaker pair: mixtures of the same two speakers
    share their features, so mixture-level p-values overstate the evidence; the pair
    means (one value per pair) do not."""
    keys = [tuple(sorted(pair)) for pair in zip(spk1, spk2, strict=True)]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    order = sorted(groups)
    return [np.stack([np.mean(c[groups[k]], axis=0) for k in order]) for c in columns]


def scatter(features: np.ndarray, y: np.ndarray, predicted: np.ndarray, corr: dict,
            metric: str, path: Path) -> None:
    """Three panels: SI-SNRi against |ΔF0|, cosine distance, dev-fitted prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [(features[:, 0], "|Δ median F0| (Hz)", "f0"),
          (features[:, 1], "embedding cosine distance", "embedding"),
          (predicted, "predicted (dev-fitted linear)", "linear")]
    fig, axes = plt.subplots(1, 3, figsize=(12.6, 3.8))
    for ax, (x, label, key) in zip(axes, xs, strict=True):
        ax.scatter(x, y, s=6, alpha=0.4)
        if np.std(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            grid = np.linspace(x.min(), x.max(), 2)
            ax.plot(grid, slope * grid + intercept, color="C3")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} (dB)")
        ax.set_title(f"r = {corr[key]['r']:.2f}, p = {corr[key]['p']:.1e}", fontsize=9)
    fig.suptitle(f"test mixtures (n = {len(y)}), uniformly mixed baseline", fontsize=10)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict:
    params = SpeakerParams.load(args.params_dir)
    fit_utts, fit1, fit2, fit_y = read_scored_pairs(*args.fit, args.metric)
    eval_utts, ev1, ev2, eval_y = read_scored_pairs(*args.eval, args.metric)
    fit_x, eval_x = pair_features(params, fit1, fit2), pair_features(params, ev1, ev2)
    predictor = fit_linear_predictor(fit_x, fit_y, **fit_options(args))
    free = fit_linear_predictor(fit_x, fit_y, constrained=False, allow_contradicting_signs=True)
    terms_used = [name for name, c in zip(("|delta_f0|", "cos_dist"), predictor.coef[1:],
                                          strict=True) if c > 0]
    fit_corr = correlations(fit_x, fit_y, predictor.predicted_si_snri(fit_x), fitted_slopes=2)
    eval_pred = predictor.predicted_si_snri(eval_x)
    eval_corr = correlations(eval_x, eval_y, eval_pred)
    pair_corr = correlations(*per_pair(ev1, ev2, eval_x, eval_y, eval_pred))
    hard = hard_mask(predictor.hardness(eval_x), args.hard_share)
    fit_hard = hard_mask(predictor.hardness(fit_x), args.hard_share)
    table = build_pair_table(params, predictor, args.hard_quantile)

    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_pair_table(table, out / "pairs.tsv")
    atomic_write_text(out / "test_hard.list",
                      "".join(f"{u}\n" for u, h in zip(eval_utts, hard, strict=True) if h))
    atomic_write_text(out / f"{args.fit_subset}_hard.list",
                      "".join(f"{u}\n" for u, h in zip(fit_utts, fit_hard, strict=True) if h))
    scatter(eval_x, eval_y, eval_pred, eval_corr, args.metric, out / "analysis.png")
    report = {
        "metric": args.metric,
        "predictor": {"name": predictor.kind, "coef": list(predictor.coef),
                      "fitted_on": str(args.fit[0]), "n": len(fit_y),
                      "terms": ["1", "|delta_f0| (Hz)", "cos_dist"],
                      "fit_method": args.fit_method, "terms_used": terms_used,
                      "lstsq_coef": list(free.coef)},
        "fit": fit_corr,
        "eval": eval_corr,
        "eval_pairs": pair_corr,
        "hard_share": args.hard_share,
        "hard_eval_mixtures": int(hard.sum()),
        "hard_eval_mean": float(np.mean(eval_y[hard])),
        "rest_eval_mean": float(np.mean(eval_y[~hard])),
        "hard_quantile": args.hard_quantile,
        "pairs": len(table.spk1),
        "hard_pairs": int(np.sum(table.hard)),
    }
    atomic_write_text(out / "analysis.json", json.dumps(report, indent=2) + "\n")
    rows = []
    for key, metric in R_METRIC.items():
        for subset, corr in ((args.eval_subset, eval_corr), (args.fit_subset, fit_corr),
                             (f"{args.eval_subset}_pairs", pair_corr)):
            c = corr[key]
            rows.append(ResultRow("dm", "analysis", subset, metric, c["n"], c["r"], math.nan))
    write_summary(out / "analysis.tsv", rows)
    return report


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params_dir", type=Path, required=True,
                   help="output of python -m sepplug.recipes.hard_mining.speaker_params")
    p.add_argument("--fit", type=Path, nargs=2, required=True,
                   metavar=("MIXTURES_TSV", "PER_UTT_TSV"),
                   help="the set the predictor is fitted on (dev)")
    p.add_argument("--eval", type=Path, nargs=2, required=True,
                   metavar=("MIXTURES_TSV", "PER_UTT_TSV"), help="the analysed set (test)")
    p.add_argument("--fit_subset", default="dev")
    p.add_argument("--eval_subset", default="test")
    p.add_argument("--metric", default="si_sdri", help="per_utt.tsv column (SI-SNRi)")
    p.add_argument("--hard_share", type=float, default=0.25,
                   help="share of eval mixtures in test_hard.list")
    p.add_argument("--hard_quantile", type=float, default=0.2,
                   help="share of speaker pairs marked hard in pairs.tsv")
    p.add_argument("--out_dir", type=Path, required=True)
    add_fit_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    for name in ("hard_share", "hard_quantile"):
        if not 0 < getattr(args, name) <= 1:
            print(f"hardness_analysis: error: --{name} must be in (0, 1]", file=sys.stderr)
            return 2
    try:
        report = run(args)
    except (DataError, OSError, ValueError) as exc:
        print(f"hardness_analysis: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: report[k] for k in ("predictor", "eval")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
