"""Collect the FUSS-style scores of every MixIT model under an exp dir into RESULTS.md.

    python -m sepplug.recipes.mixit.make_results --expdir exp --out exp/RESULTS.md

Reads ``<expdir>/enh_*/enhanced_*/scoring/summary.json`` written by
``sepplug.bin.score_mixit`` (other summaries are skipped) and each model's
``config.yaml`` (number of outputs M, the output regularisers and their weights). The
layout follows ESPnet's RESULTS.md (environment block, then the table); one row per
model x test set.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from sepplug.results.markdown import environment
from sepplug.results.summary import (
    ResultRow,
    format_mean_se,
    mean_stderr,
    read_family,
    results_tool_parser,
    summary_path,
    write_summary,
)
from sepplug.utils.atomic import atomic_write_text

REQUIRED_KEYS = ("num_single", "num_multi", "num_estimates", "one_source_si_snr", "msi",
                 "msi_all_pairs", "remix_one_source_si_snr", "remix_msi", "over_separation_single",
                 "over_separation_multi", "under_separation_multi", "mean_active_single",
                 "mean_active_multi")

NOTES = """\
- 1S: mean SI-SNR (dB) on single-source test mixtures; MSi: mean SI-SNRi (dB) on 2-3-source
  ones (per count in brackets). The true sources are matched one-to-one to the M outputs by
  the optimal (Hungarian) assignment, as in FUSS; pairs whose output is inactive are left
  out, as in FUSS (`inactive_pairs` in summary.json); MSi all pairs keeps them (an inactive
  output scores about -100 dB): with a high under-separation rate MSi covers few pairs.
- remix: the same means when every output is assigned to one source and the outputs of a
  source are summed (best assignment by exhaustive search, MixIT-style); forgives
  over-separation.
- OS: over-separation rate, share of single-source (1S) / multi-source (MS) mixtures with
  more active outputs than true sources; US: under-separation rate. An output is active
  above -20 dB of the quietest true source's power. active: mean number of active outputs.
- Test mixtures are single mixtures (not mixtures of mixtures) of test-split speakers."""


def regulariser_weights(config: dict) -> dict[str, float]:
    """Output regulariser name -> weight in a training config."""
    return {str(c.get("name")): float((c.get("wrapper_conf") or {}).get("weight", 1.0))
            for c in config.get("criterions") or [] if c.get("wrapper") == "output_regularizer"}

SUPERVISED_HEAD = """## Against the supervised reference

MSi of each MixIT model as a share of each supervised model's with the same M, and the
paired difference: per multi-source test mixture, the mean over its true sources (those
matched to an active output in both models) of the SI-SNRi difference; mean ± standard
error over the mixtures (n)."""

SPARSITY_HEAD = """## Sparsity sweep

MixIT models without the covariance loss, by sparsity weight (`l1_l2` variant), each against
the same M without sparsity (weight 0): paired MSi difference as above, and the ratio of the
single-source over-separation rates (the target: 0.5 or less at a cost of at most 1 dB)."""


def model_info(model_dir: Path) -> tuple[str, str, dict[str, float], str]:
    """``(M, regularisers, {regulariser: weight}, separator)`` of a model from its
    ``config.yaml`` ("?" and {} when unreadable)."""
    config_path = model_dir / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return "?", "?", {}, "?"
    num_out = str((config.get("separator_conf") or {}).get("num_spk", "?"))
    weights = regulariser_weights(config)
    text = ", ".join(f"{name} {weight:g}" for name, weight in weights.items())
    return num_out, text or "none", weights, str(config.get("separator", "?"))


def collect(expdir: Path) -> list[dict]:
    """One row per (model, test set) with a FUSS summary.

    Raises:
        ValueError: a FUSS summary lacks a metric (names the file).
    """
    rows = []
    for path in sorted(expdir.glob("enh_*/enhanced_*/scoring/summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from exc
        if summary.get("metric_set") != "fuss":
            continue
        missing = [k for k in REQUIRED_KEYS if k not in summary]
        if missing:
            raise ValueError(f"{path}: lacks {', '.join(missing)} (not score_mixit output?)")
        enhanced = path.parent.parent
        summary["model"] = enhanced.parent.name.removeprefix("enh_")
        summary["subset"] = enhanced.name.removeprefix("enhanced_")
        summary["outputs"], summary["regularisers"], summary["weights"], \
            summary["separator"] = model_info(enhanced.parent)
        summary["family"] = read_family(enhanced.parent)
        summary["scoring_dir"] = path.parent
        rows.append(summary)
    return rows


# summary.tsv metric name -> score_mixit summary key (sepplug.utils.fuss_metrics).
SUMMARY_METRICS = {"msi": "msi", "msi_all_pairs": "msi_all_pairs", "1s": "one_source_si_snr",
                   "os_rate_1s": "over_separation_single", "os_rate_ms": "over_separation_multi",
                   "us_rate_ms": "under_separation_multi"}


def summary_rows(rows: list[dict]) -> list[ResultRow]:
    """The rows of results/summary.tsv (a mean over nothing is nan with n = 0)."""
    out = []
    for r in rows:
        for metric, key in SUMMARY_METRICS.items():
            mean, stderr = r.get(key), r.get(f"{key}_stderr")
            out.append(ResultRow(
                r["model"], r["family"], r["subset"], metric, int(r.get(f"{key}_n", 0)),
                math.nan if mean is None else float(mean),
                math.nan if stderr is None else float(stderr)))
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    lines = [
        "|model|test set|M|regularisers|#1S|#MS|1S (dB)|MSi (dB) [2, 3 src]|MSi all pairs|"
        "1S remix|MSi remix|OS 1S|OS MS|US MS|active 1S/MS|MSi s.e.|family|",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_count = ", ".join(_num(r[k]) for k in sorted(r) if k.startswith("msi_")
                              and k.removeprefix("msi_").isdigit())
        lines.append(
            f"|{r['model']}|{r['subset']}|{r['outputs']}|{r['regularisers']}|"
            f"{r['num_single']}|{r['num_multi']}|{_num(r['one_source_si_snr'])}|"
            f"{_num(r['msi'])} [{per_count}]|{_num(r['msi_all_pairs'])}|"
            f"{_num(r['remix_one_source_si_snr'])}|"
            f"{_num(r['remix_msi'])}|{_num(r['over_separation_single'])}|"
            f"{_num(r['over_separation_multi'])}|{_num(r['under_separation_multi'])}|"
            f"{_num(r['mean_active_single'])}/{_num(r['mean_active_multi'])}|"
            f"{_num(r.get('msi_stderr'))}|{r['family']}|"
        )
    return "\n".join(lines)


# ---- paired comparisons ----------------------------------------------------------------------


def read_pair_scores(scoring_dir: Path) -> dict[str, list[float | None]]:
    """Multi-source examples of ``per_example.tsv``: utt -> SI-SNRi per true source, None
    where the matched output is inactive (left out of MSi, as in FUSS).

    Raises:
        ValueError: the file is missing or malformed (names it).
    """
    path = scoring_dir / "per_example.tsv"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    header = lines[0].split("\t") if lines else []
    if not {"utt", "num_sources", "si_snri", "pit_active"} <= set(header):
        raise ValueError(f"{path}: not a score_mixit per-example table")
    col = {name: i for i, name in enumerate(header)}
    out: dict[str, list[float | None]] = {}
    for number, line in enumerate(lines[1:], 2):
        try:
            cells = line.split("\t")
            if int(cells[col["num_sources"]]) < 2:
                continue
            values = [float(v) for v in cells[col["si_snri"]].split(",")]
            active = [v == "1" for v in cells[col["pit_active"]].split(",")]
            pairs = [v if a else None for v, a in zip(values, active, strict=True)]
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: malformed row ({exc})") from exc
        out[cells[col["utt"]]] = pairs
    return out


class PairScores(dict):
    """Scoring dir -> :func:`read_pair_scores`, each ``per_example.tsv`` read once."""

    def __missing__(self, scoring_dir: Path) -> dict[str, list[float | None]]:
        self[scoring_dir] = read_pair_scores(scoring_dir)
        return self[scoring_dir]


def paired_msi_difference(scores: dict[str, list[float | None]],
                          reference: dict[str, list[float | None]]) -> tuple[int, float, float]:
    """Per multi-source example, the mean over its sources (active in both models) of the
    SI-SNRi difference; ``(n examples, mean, standard error)`` over the examples."""
    diffs = []
    for utt in sorted(set(scores) & set(reference)):
        pairs = [a - b for a, b in zip(scores[utt], reference[utt], strict=True)
                 if a is not None and b is not None]
        if pairs:
            diffs.append(sum(pairs) / len(pairs))
    return mean_stderr(diffs)


def _signed(n: int, mean: float, stderr: float) -> str:
    if n == 0 or math.isnan(mean):
        return "n/a"
    return f"{format_mean_se(mean, stderr, fmt='+.2f')} ({n})"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference <= 0:
        return "n/a"
    return f"{100 * value / reference:.0f} %"


def is_supervised(row: dict) -> bool:
    return row["family"].startswith("supervised")


def supervised_table(rows: list[dict], scores: PairScores) -> str:
    """Each unsupervised model against every supervised model of the same M and test set."""
    references = [r for r in rows if is_supervised(r)]
    lines = ["|model|test set|M|MSi (dB)|supervised model|its MSi (dB)|MSi / supervised|"
             "MSi - supervised, paired (dB, n)|", "|---|---|---|---|---|---|---|---|"]
    for ref in references:
        for r in rows:
            if is_supervised(r) or r["subset"] != ref["subset"] or r["outputs"] != ref["outputs"]:
                continue
            diff = paired_msi_difference(scores[r["scoring_dir"]], scores[ref["scoring_dir"]])
            lines.append(f"|{r['model']}|{r['subset']}|{r['outputs']}|{_num(r['msi'])}|"
                         f"{ref['model']}|{_num(ref['msi'])}|{_ratio(r['msi'], ref['msi'])}|"
                         f"{_signed(*diff)}|")
    return "\n".join(lines) if len(lines) > 2 else ""


def sparsity_table(rows: list[dict], scores: PairScores) -> str:
    """The sparsity sweep: MixIT models with only the sparsity regulariser (or none), per M,
    by weight, each against the same M without it (paired MSi, OS 1S ratio)."""
    sweep = [r for r in rows if r["family"] in ("mixit", "mixit_sparse")]
    lines = ["|separator|M|sparsity weight|model|MSi (dB)|MSi - weight 0, paired (dB, n)|1S (dB)|"
             "OS 1S|OS 1S / weight 0|OS MS|US MS|active 1S/MS|",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def order(r: dict) -> tuple:
        return (r["subset"], r["separator"], int(r["outputs"]) if r["outputs"].isdigit() else 0,
                r["weights"].get("mixit_sparsity", 0.0))

    for r in sorted(sweep, key=order):
        base = next((b for b in sweep if b["family"] == "mixit" and b["subset"] == r["subset"]
                     and b["outputs"] == r["outputs"] and b["separator"] == r["separator"]),
                    None)
        diff, ratio = "n/a", "n/a"
        if base is not None and base is not r:
            diff = _signed(*paired_msi_difference(scores[r["scoring_dir"]],
                                                  scores[base["scoring_dir"]]))
            ratio = (f"{r['over_separation_single'] / base['over_separation_single']:.2f}"
                     if base["over_separation_single"] else "n/a")
        lines.append(
            f"|{r['separator']}|{r['outputs']}|{r['weights'].get('mixit_sparsity', 0.0):g}|"
            f"{r['model']}|"
            f"{_num(r['msi'])}|{diff}|{_num(r['one_source_si_snr'])}|"
            f"{_num(r['over_separation_single'])}|{ratio}|{_num(r['over_separation_multi'])}|"
            f"{_num(r['under_separation_multi'])}|"
            f"{_num(r['mean_active_single'])}/{_num(r['mean_active_multi'])}|")
    return "\n".join(lines) if len(lines) > 2 else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = results_tool_parser(__doc__, "VCTK MixIT (unsupervised)")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown appended after the tables (what was run, reading)")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.expdir)
        notes = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""
        scores = PairScores()
        against_supervised = supervised_table(rows, scores)
        sweep = sparsity_table(rows, scores)
    except (ValueError, OSError) as exc:
        print(f"sepplug.recipes.mixit.make_results: error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"sepplug.recipes.mixit.make_results: error: no score_mixit summary.json under "
              f"{args.expdir}/enh_*/enhanced_*/scoring/", file=sys.stderr)
        return 1
    text = "\n\n".join([
        "<!-- Generated by sepplug.recipes.mixit.make_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## FUSS-style separation metrics",
        table(rows),
        NOTES,
        "The same numbers as data: `results/summary.tsv` (metrics msi, msi_all_pairs, 1s, "
        "os_rate_1s, os_rate_ms, us_rate_ms; n = pairs or examples averaged; standard errors).",
    ] + ([SUPERVISED_HEAD, against_supervised] if against_supervised else [])
      + ([SPARSITY_HEAD, sweep] if sweep else [])
      + ([notes] if notes else [])) + "\n"
    write_summary(summary_path(args), summary_rows(rows))
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
