"""Collect the FUSS-style scores of every MixIT model under an exp dir into RESULTS.md.

    python -m sepplug.bin.make_mixit_results --expdir exp --out exp/RESULTS.md

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

from sepplug.bin.make_results import environment
from sepplug.utils.atomic import atomic_write_text
from sepplug.utils.results_table import (
    ResultRow,
    read_family,
    results_tool_parser,
    summary_path,
    write_summary,
)

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


def model_info(model_dir: Path) -> tuple[str, str]:
    """``(M, regularisers)`` of a model from its ``config.yaml`` ("?" when unreadable)."""
    config_path = model_dir / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return "?", "?"
    num_out = str((config.get("separator_conf") or {}).get("num_spk", "?"))
    regularisers = [
        f"{c.get('name')} {(c.get('wrapper_conf') or {}).get('weight', 1.0):g}"
        for c in config.get("criterions") or []
        if c.get("wrapper") == "output_regularizer"
    ]
    return num_out, ", ".join(regularisers) or "none"


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
        summary["outputs"], summary["regularisers"] = model_info(enhanced.parent)
        summary["family"] = read_family(enhanced.parent)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = results_tool_parser(__doc__, "VCTK MixIT (unsupervised)")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown appended after the tables (what was run, reading)")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.expdir)
        notes = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""
    except (ValueError, OSError) as exc:
        print(f"make_mixit_results: error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"make_mixit_results: error: no score_mixit summary.json under "
              f"{args.expdir}/enh_*/enhanced_*/scoring/", file=sys.stderr)
        return 1
    text = "\n\n".join([
        "<!-- Generated by sepplug.bin.make_mixit_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## FUSS-style separation metrics",
        table(rows),
        NOTES,
        "The same numbers as data: `results/summary.tsv` (metrics msi, msi_all_pairs, 1s, "
        "os_rate_1s, os_rate_ms, us_rate_ms; n = pairs or examples averaged; standard errors).",
    ] + ([notes] if notes else [])) + "\n"
    write_summary(summary_path(args), summary_rows(rows))
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
