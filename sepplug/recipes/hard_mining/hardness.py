"""Which speaker pairs make hard mixtures? Pair features, a hardness predictor, hard pairs.

    python -m sepplug.recipes.hard_mining.hardness --params_dir exp/spk --out exp/spk/pairs.tsv \\
        [--predictor f0|embedding|linear] [--analysis mixtures.tsv] [--hard_quantile 0.2] \\
        [--report pearson.json] [--plot pearson.png]

Global hard-sample mining ("Mining hard samples locally and globally", sec. 2.2-2.3): the
SI-SNRi a separator reaches on a two-speaker mixture correlates with two numbers of its
speakers, the median-F0 difference |ΔF0| (Hz) and the speaker-embedding cosine distance
(1 - cos); close pitches and close voices are hard. From the per-speaker parameters of
:mod:`sepplug.recipes.hard_mining.speaker_params` this module makes

* the **pair table**: every ordered pair (s1, s2), s1 != s2, with ``delta_f0``,
  ``cos_dist``, the predicted ``hardness`` and ``hard`` (1 for the top ``hard_quantile``
  of hardness over all pairs, ties included); both features are symmetric, so (s1, s2)
  and (s2, s1) get the same row values. Columns (TSV, header)::

      spk1  spk2  delta_f0  cos_dist  hardness  hard

* the **predictor** (:class:`HardnessPredictor`): ``f0`` (hardness = -|ΔF0|),
  ``embedding`` (alias ``xvector``; hardness = -cos_dist), or ``linear``: SI-SNRi ≈
  a + b |ΔF0| + c cos_dist fitted on an analysis set of scored mixtures with b, c >= 0
  (:func:`fit_linear_predictor`; hardness = -predicted SI-SNRi, dB). Hardness only ranks
  pairs: values of different predictors are not comparable.
* the **Pearson analysis** (:func:`pearson_analysis`) of an analysis set and its
  scatter plot (:func:`plot_analysis`). An analysis set is a TSV with a header naming at
  least ``spk1  spk2  si_snri``, one row per scored mixture.

The dynamic-mixing preprocessor ``hard_dm`` (:mod:`sepplug.enh.preprocessor.hard_mixing`)
reads the pair table.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.mixing.pair_table import (
    PairTable,
    hard_mask,
    read_analysis_tsv,
    write_pair_table,
)
from sepplug.recipes.hard_mining.speaker_params import SpeakerParams
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

logger = logging.getLogger(__name__)

FEATURES = ("f0", "embedding")  #: names of the two feature columns, in order
PREDICTORS = ("f0", "embedding", "linear")
_ALIASES = {"xvector": "embedding", "x-vector": "embedding", "combined": "linear"}


def pair_features(params: SpeakerParams, spk1: Sequence[str], spk2: Sequence[str]
                  ) -> np.ndarray:
    """[|ΔF0| (Hz), cosine distance] of N speaker pairs: (N, 2); DataError names a speaker
    without parameters."""
    a = np.array([params.index(s) for s in spk1], dtype=np.int64)
    b = np.array([params.index(s) for s in spk2], dtype=np.int64)
    delta_f0 = np.abs(params.median_f0[a] - params.median_f0[b])
    cos_dist = 1.0 - np.sum(params.embeddings[a] * params.embeddings[b], axis=-1)
    return np.stack([delta_f0, cos_dist], axis=-1).reshape(len(a), 2)


@dataclass(frozen=True)
class HardnessPredictor:
    """Hardness of speaker pairs from their features (see the module doc).

    Attributes:
        kind: ``f0``, ``embedding`` or ``linear``.
        coef: (3,) intercept, |ΔF0| and cos-distance coefficients of the SI-SNRi fit
            (``linear`` only).
    """

    kind: str
    coef: tuple[float, float, float] | None = None

    @classmethod
    def named(cls, name: str) -> HardnessPredictor:
        """A single-feature predictor by name (``f0``, ``embedding``/``xvector``)."""
        kind = _ALIASES.get(name.lower(), name.lower())
        if kind not in FEATURES:
            raise DataError(f"hardness predictor {name!r}: a single-feature predictor is one "
                            f"of {FEATURES} (+ 'xvector'); 'linear' is fitted")
        return cls(kind)

    def predicted_si_snri(self, features: np.ndarray) -> np.ndarray:
        """The linear fit's SI-SNRi (dB) of features (N, 2): (N,)."""
        if self.coef is None:
            raise ValueError(f"the {self.kind} predictor has no SI-SNRi fit")
        return self.coef[0] + np.asarray(features) @ np.asarray(self.coef[1:])

    def hardness(self, features: np.ndarray) -> np.ndarray:
        """Hardness of features (N, 2): (N,), larger = harder."""
        features = np.asarray(features, dtype=np.float64)
        if self.kind == "linear":
            return -self.predicted_si_snri(features)
        return -features[:, FEATURES.index(self.kind)]


def fit_linear_predictor(features: np.ndarray, si_snri: np.ndarray, *,
                         constrained: bool = True,
                         allow_contradicting_signs: bool = False) -> HardnessPredictor:
    """SI-SNRi ≈ a + b |ΔF0| + c cos_dist fitted on features (N, 2), SI-SNRi (N,).

    The paper's finding is that both distances make a pair *easier* (b, c >= 0). The two
    are correlated (close voices tend to have close pitches), so a free least-squares fit
    can give one of them a negative weight and then rank pairs of more distant voices as
    harder. ``constrained`` (default) fits with b, c >= 0 and a free intercept
    (``scipy.optimize.lsq_linear``, a bounded least squares: NNLS with an unbounded
    intercept): a distance that adds nothing beyond the other gets weight 0, i.e. the
    predictor uses the other alone. When both weights are 0 (no distance predicts the
    scores, e.g. a tiny fit set) the predictor falls back to |ΔF0| alone (b = 1, c = 0,
    the paper's main feature), with a warning.

    ``constrained=False`` is the plain least-squares fit; it is refused (DataError) when a
    weight is negative unless ``allow_contradicting_signs``.
    """
    from scipy.optimize import lsq_linear

    features, y = np.asarray(features, dtype=np.float64), np.asarray(si_snri, dtype=np.float64)
    if features.shape[0] != y.shape[0] or features.shape[0] < 3:
        raise DataError(f"linear hardness fit: need >= 3 mixtures with features and SI-SNRi, "
                        f"got {features.shape[0]} and {y.shape[0]}")
    design = np.column_stack([np.ones(len(y)), features])
    if constrained:
        coef = lsq_linear(design, y, bounds=([-np.inf, 0.0, 0.0], [np.inf] * 3)).x
        # a weight at its bound comes back as +-1e-17 or so: one that moves the prediction
        # by less than 1e-6 of the scores' spread over the features' spread is 0
        spread = np.std(features, axis=0) * np.maximum(coef[1:], 0.0)
        coef[1:] = np.where(spread > 1e-6 * (np.std(y) + 1e-12), coef[1:], 0.0)
        if not np.any(coef[1:] > 0):
            logger.warning("linear hardness fit: neither distance predicts SI-SNRi with the "
                           "paper's sign on these %d mixtures: |ΔF0| alone is used", len(y))
            coef = np.array([float(np.mean(y)), 1.0, 0.0])
    else:
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        if np.any(coef[1:] < 0) and not allow_contradicting_signs:
            raise DataError(
                f"linear hardness fit: coefficients {np.round(coef, 4).tolist()} (intercept, "
                f"|ΔF0|, cos_dist): a larger distance predicts a lower SI-SNRi, against the "
                f"paper's finding that distant voices separate better; fit with the sign "
                f"constraint (the default) or allow it explicitly "
                f"(--allow_contradicting_signs)")
    return HardnessPredictor("linear", tuple(float(c) for c in coef))


def build_pair_table(params: SpeakerParams, predictor: HardnessPredictor,
                     hard_quantile: float = 0.2) -> PairTable:
    """Every ordered pair of ``params``' speakers (S (S - 1) rows), s1-major order."""
    if len(params.speakers) < 2:
        raise DataError(f"pair table: need >= 2 speakers, got {len(params.speakers)}")
    spk1 = [a for a in params.speakers for b in params.speakers if a != b]
    spk2 = [b for a in params.speakers for b in params.speakers if a != b]
    features = pair_features(params, spk1, spk2)
    hardness = predictor.hardness(features)
    return PairTable(spk1, spk2, features[:, 0], features[:, 1], hardness,
                     hard_mask(hardness, hard_quantile))


@dataclass(frozen=True)
class Correlation:
    """Pearson r (or the multiple correlation R of the fit) with its p-value, n mixtures."""

    r: float
    p: float
    n: int


@dataclass(frozen=True)
class PearsonAnalysis:
    """:func:`pearson_analysis`'s result: ``correlations`` keyed f0, embedding, linear."""

    correlations: dict[str, Correlation]
    predictor: HardnessPredictor  # the linear fit
    features: np.ndarray  # (N, 2)
    si_snri: np.ndarray  # (N,)

    def as_dict(self) -> dict:
        return {"n": int(self.si_snri.size),
                "correlations": {k: {"r": round(c.r, 4), "p": float(f"{c.p:.4g}")}
                                 for k, c in self.correlations.items()},
                "linear_coef": {"intercept": self.predictor.coef[0],
                                "delta_f0": self.predictor.coef[1],
                                "cos_dist": self.predictor.coef[2]}}


def pearson_analysis(si_snri: Sequence[float], spk1: Sequence[str], spk2: Sequence[str],
                     params: SpeakerParams, **fit_options: bool) -> PearsonAnalysis:
    """Correlation of per-mixture SI-SNRi (N,) with each pair feature of the mixtures'
    speakers (``spk1``, ``spk2``: (N,)) and with the fitted combination of both
    (:func:`fit_linear_predictor` with ``fit_options``).

    ``f0``/``embedding``: ``scipy.stats.pearsonr``. ``linear``: R = Pearson r of the
    fitted vs the measured SI-SNRi, its p-value from the regression's F test (2 and N - 3
    degrees of freedom; pearsonr's p would ignore the two fitted slopes).
    """
    from scipy import stats

    y = np.asarray(si_snri, dtype=np.float64)
    if not len(y) == len(spk1) == len(spk2):
        raise DataError(f"pearson analysis: {len(y)} SI-SNRi values for {len(spk1)} and "
                        f"{len(spk2)} speakers")
    if len(y) < 4:
        raise DataError(f"pearson analysis: need >= 4 mixtures, got {len(y)}")
    features = pair_features(params, spk1, spk2)
    predictor = fit_linear_predictor(features, y, **fit_options)
    out = {}
    for column, name in enumerate(FEATURES):
        result = stats.pearsonr(features[:, column], y)
        out[name] = Correlation(float(result.statistic), float(result.pvalue), len(y))
    fitted = predictor.predicted_si_snri(features)
    r = float(np.corrcoef(fitted, y)[0, 1]) if np.std(fitted) > 0 else 0.0
    out["linear"] = Correlation(r, regression_p_value(r, len(y), 2), len(y))
    return PearsonAnalysis(out, predictor, features, y)


def regression_p_value(r: float, n: int, slopes: int) -> float:
    """p of the F test of a least-squares fit with ``slopes`` slopes (and an intercept) to
    ``n`` points whose fitted-vs-measured Pearson correlation is ``r`` (``slopes`` and
    ``n - slopes - 1`` degrees of freedom); nan when there are no degrees of freedom left."""
    from scipy import stats

    dof = n - slopes - 1
    if dof < 1 or not math.isfinite(r):  # as many parameters as points: no test
        return math.nan
    f_stat = (r**2 / slopes) / max((1 - r**2) / dof, 1e-300)
    return float(stats.f.sf(f_stat, slopes, dof))


def plot_analysis(analysis: PearsonAnalysis, path: Path | str, title: str = "") -> None:
    """Scatter plots of SI-SNRi vs |ΔF0|, vs cosine distance and vs the fit (r, p in each
    panel's title), saved atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = analysis.si_snri
    panels = [(analysis.features[:, 0], "|ΔF0| (Hz)", "f0"),
              (analysis.features[:, 1], "embedding cosine distance", "embedding"),
              (analysis.predictor.predicted_si_snri(analysis.features),
               "fitted SI-SNRi (dB)", "linear")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    for ax, (x, label, key) in zip(axes, panels, strict=True):
        c = analysis.correlations[key]
        ax.scatter(x, y, s=8, alpha=0.6)
        ax.set_xlabel(label)
        ax.set_title(f"{key}: r = {c.r:.3f}, p = {c.p:.2g}", fontsize=10)
    axes[0].set_ylabel("SI-SNRi (dB)")
    fig.suptitle(title or f"{len(y)} mixtures")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_save_figure(fig, path, dpi=120)
    plt.close(fig)


def read_analysis_set(path: Path | str) -> tuple[np.ndarray, list[str], list[str]]:
    """(SI-SNRi (N,), spk1, spk2) of an analysis-set TSV (see the module doc)."""
    rows = read_analysis_tsv(path, ("spk1", "spk2", "si_snri"), "analysis set")
    try:
        y = np.array([float(r["si_snri"]) for r in rows])
    except ValueError as exc:
        raise DataError(f"analysis set {path}: si_snri not a number: {exc}") from None
    return y, [r["spk1"] for r in rows], [r["spk2"] for r in rows]


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fit_method`` and ``--allow_contradicting_signs`` (:func:`fit_linear_predictor`)."""
    parser.add_argument("--fit_method", choices=("nonneg", "lstsq"), default="nonneg",
                        help="nonneg: distances weigh >= 0 (the paper's signs); lstsq: free")
    parser.add_argument("--allow_contradicting_signs", action="store_true",
                        help="with --fit_method lstsq: accept a negative distance weight")


def fit_options(args: argparse.Namespace) -> dict[str, bool]:
    """:func:`fit_linear_predictor`'s keyword options from :func:`add_fit_arguments`'."""
    return {"constrained": args.fit_method == "nonneg",
            "allow_contradicting_signs": args.allow_contradicting_signs}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params_dir", required=True, type=Path,
                        help="output dir of python -m sepplug.recipes.hard_mining.speaker_params")
    parser.add_argument("--out", required=True, type=Path, help="pair table TSV")
    parser.add_argument("--predictor", default="f0",
                        help="f0 | embedding (xvector) | linear (needs --analysis)")
    parser.add_argument("--analysis", type=Path, help="TSV: spk1 spk2 si_snri per mixture")
    parser.add_argument("--hard_quantile", type=float, default=0.2)
    parser.add_argument("--report", type=Path, help="Pearson analysis JSON (with --analysis)")
    parser.add_argument("--plot", type=Path, help="scatter plots (with --analysis)")
    add_fit_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()

    def work() -> None:
        params = SpeakerParams.load(args.params_dir)
        kind = _ALIASES.get(args.predictor.lower(), args.predictor.lower())
        if kind not in PREDICTORS:
            raise DataError(f"--predictor {args.predictor}: one of {PREDICTORS} or xvector")
        if kind == "linear" and args.analysis is None:
            raise DataError("--predictor linear is fitted on --analysis: give it")
        predictor = None if kind == "linear" else HardnessPredictor.named(kind)
        if args.analysis is not None:
            analysis = pearson_analysis(*read_analysis_set(args.analysis), params,
                                        **fit_options(args))
            logger.info("pearson analysis: %s", json.dumps(analysis.as_dict()))
            if args.report:
                args.report.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(args.report, json.dumps(analysis.as_dict(), indent=2) + "\n")
            if args.plot:
                plot_analysis(analysis, args.plot)
            predictor = predictor or analysis.predictor
        table = build_pair_table(params, predictor, args.hard_quantile)
        write_pair_table(table, args.out)
        logger.info("%s: %d pairs, %d hard (%s predictor)", args.out, len(table.spk1),
                    int(table.hard.sum()), predictor.kind)

    return run_or_report(work, logger)


if __name__ == "__main__":
    sys.exit(main())
