"""Collect the FUSS-style scores of every MixIT model under an exp dir into RESULTS.md.

    python -m sepplug.recipes.mixit.make_results --expdir exp --out exp/RESULTS.md
    python -m sepplug.recipes.mixit.make_results --expdir exp --out RESULTS.md \
        --summary results/summary.tsv --earlier history/run_2026-12-02 --notes NOTES.md

Reads ``<expdir>/enh_*/enhanced_*/scoring/summary.json`` written by
``sepplug.bin.score_mixit`` (other summaries are skipped), each model's ``config.yaml``
(number of outputs M, the output regularisers and their weights, the ``refine_sweeps`` of
efficient MixIT) and its train logs (seconds per training step). The layout follows
ESPnet's RESULTS.md (environment block, then the table); one row per model x test set.
Then the paired comparisons: against the supervised models, the sparsity sweep, and the
paper's plain projection (``refine_sweeps: 0``) against the local search of the same
config otherwise.

``--earlier DIR``: a committed earlier run (``DIR/results/summary.tsv``, ``DIR/RESULTS.md``)
whose models were not all re-run: the rows of its models absent from ``--expdir`` go into
summary.tsv unchanged and into a table of their own, marked with the run; a model in both
is shown with both runs' numbers, and this run's are the ones in summary.tsv and in every
pairing (per-example scores exist only for this run's models).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from sepplug.results.markdown import environment
from sepplug.results.summary import (
    ResultRow,
    format_mean_se,
    mean_stderr,
    read_family,
    read_summary,
    results_tool_parser,
    summary_path,
    write_summary,
)
from sepplug.train.train_log import read_epoch_stats
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


#: ``EfficientMixITSolver``'s default ``refine_sweeps`` (a config that does not set it)
DEFAULT_REFINE_SWEEPS = 16


def refine_sweeps(config: dict) -> int | None:
    """``refine_sweeps`` of the config's efficient MixIT loss (0: the paper's plain
    projection); None when it has no ``mixit_efficient`` wrapper."""
    for c in config.get("criterions") or []:
        if c.get("wrapper") == "mixit_efficient":
            return int((c.get("wrapper_conf") or {}).get("refine_sweeps",
                                                         DEFAULT_REFINE_SWEEPS))
    return None


SUPERVISED_HEAD = """## Against the supervised reference

MSi of each MixIT model as a share of each supervised model's with the same M, and the
paired difference: per multi-source test mixture, the mean over its true sources (those
matched to an active output in both models) of the SI-SNRi difference; mean ± standard
error over the mixtures (n)."""

SPARSITY_HEAD = """## Sparsity sweep

MixIT models without the covariance loss, by sparsity weight (`l1_l2` variant), each against
the same M without sparsity (weight 0): the paired MSi difference (per multi-source test
mixture, the mean over its true sources matched to an active output in both models of the
SI-SNRi difference; mean ± standard error over the mixtures, n), and the ratio of the
single-source over-separation rates (the target: 0.5 or less at a cost of at most 1 dB)."""


def model_info(model_dir: Path) -> dict:
    """A model's ``outputs`` (M), ``regularisers`` (text), ``weights`` ({regulariser:
    weight}), ``separator`` and ``refine_sweeps`` (None: no efficient MixIT) from its
    ``config.yaml`` ("?", {} and None when unreadable)."""
    config_path = model_dir / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {"outputs": "?", "regularisers": "?", "weights": {}, "separator": "?",
                "refine_sweeps": None}
    weights = regulariser_weights(config)
    text = ", ".join(f"{name} {weight:g}" for name, weight in weights.items())
    return {"outputs": str((config.get("separator_conf") or {}).get("num_spk", "?")),
            "regularisers": text or "none", "weights": weights,
            "separator": str(config.get("separator", "?")),
            "refine_sweeps": refine_sweeps(config)}


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
        summary.update(model_info(enhanced.parent))
        summary["model_dir"] = enhanced.parent
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


def _per_example_rows(scoring_dir: Path, needed: set[str]
                      ) -> tuple[Path, dict[str, int], list[tuple[int, list[str]]]]:
    """``(path, column index, [(line number, cells)])`` of ``per_example.tsv``.

    Raises:
        ValueError: the file is missing or lacks a ``needed`` column (names it).
    """
    path = scoring_dir / "per_example.tsv"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    header = lines[0].split("\t") if lines else []
    if not needed <= set(header):
        raise ValueError(f"{path}: not a score_mixit per-example table")
    col = {name: i for i, name in enumerate(header)}
    return path, col, [(n, line.split("\t")) for n, line in enumerate(lines[1:], 2)]


def read_pair_scores(scoring_dir: Path) -> dict[str, list[float | None]]:
    """Multi-source examples of ``per_example.tsv``: utt -> SI-SNRi per true source, None
    where the matched output is inactive (left out of MSi, as in FUSS).

    Raises:
        ValueError: the file is missing or malformed (names it).
    """
    path, col, rows = _per_example_rows(scoring_dir,
                                        {"utt", "num_sources", "si_snri", "pit_active"})
    out: dict[str, list[float | None]] = {}
    for number, cells in rows:
        try:
            if int(cells[col["num_sources"]]) < 2:
                continue
            values = [float(v) for v in cells[col["si_snri"]].split(",")]
            active = [v == "1" for v in cells[col["pit_active"]].split(",")]
            pairs = [v if a else None for v, a in zip(values, active, strict=True)]
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: malformed row ({exc})") from exc
        out[cells[col["utt"]]] = pairs
    return out


def read_over_single(scoring_dir: Path) -> dict[str, bool]:
    """Single-source examples of ``per_example.tsv``: utt -> over-separated (more than
    one active output).

    Raises:
        ValueError: the file is missing or malformed (names it).
    """
    path, col, rows = _per_example_rows(scoring_dir, {"utt", "num_sources", "over"})
    out: dict[str, bool] = {}
    for number, cells in rows:
        try:
            if int(cells[col["num_sources"]]) != 1:
                continue
            over = cells[col["over"]]
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: malformed row ({exc})") from exc
        if over not in ("0", "1"):
            raise ValueError(f"{path}:{number}: malformed row (over = {over!r})")
        out[cells[col["utt"]]] = over == "1"
    return out


class _PerDir(dict):
    """Scoring dir -> ``reader(scoring dir)``, each ``per_example.tsv`` read once."""

    reader: Callable[[Path], dict] = staticmethod(read_pair_scores)

    def __missing__(self, scoring_dir: Path) -> dict:
        self[scoring_dir] = self.reader(scoring_dir)
        return self[scoring_dir]


class PairScores(_PerDir):
    """Scoring dir -> :func:`read_pair_scores`, each ``per_example.tsv`` read once."""


class OverSingle(_PerDir):
    """Scoring dir -> :func:`read_over_single`, each ``per_example.tsv`` read once."""

    reader = staticmethod(read_over_single)


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


def paired_rate_difference(flags: dict[str, bool],
                           reference: dict[str, bool]) -> tuple[int, float, float]:
    """Per example of both, the difference of the 0/1 flags (e.g. over-separated);
    ``(n examples, mean, standard error)``: the paired difference of the two rates."""
    return mean_stderr([float(flags[u]) - float(reference[u])
                        for u in sorted(set(flags) & set(reference))])


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
    sweep = [r for r in rows if r["family"] in ("mixit", "mixit_sparse")
             and r.get("refine_sweeps") != 0]  # the plain projection: its own section
    lines = ["|separator|M|sparsity weight|model|MSi (dB)|MSi - weight 0, paired (dB, n)|1S (dB)|"
             "OS 1S|OS 1S / weight 0|OS MS|US MS|active 1S/MS|",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def order(r: dict) -> tuple:
        return (r["subset"], r["separator"], int(r["outputs"]) if r["outputs"].isdigit() else 0,
                r["weights"].get("mixit_sparsity", 0.0))

    verdicts: dict[tuple, list[str]] = {}  # (subset, separator, M) -> qualifying weights
    for r in sorted(sweep, key=order):
        base = next((b for b in sweep if b["family"] == "mixit" and b["subset"] == r["subset"]
                     and b["outputs"] == r["outputs"] and b["separator"] == r["separator"]),
                    None)
        diff, ratio = "n/a", "n/a"
        if base is not None and base is not r:
            paired = paired_msi_difference(scores[r["scoring_dir"]], scores[base["scoring_dir"]])
            diff = _signed(*paired)
            share = (r["over_separation_single"] / base["over_separation_single"]
                     if base["over_separation_single"] else None)
            ratio = "n/a" if share is None else f"{share:.2f}"
            good = verdicts.setdefault((r["subset"], r["separator"], r["outputs"]), [])
            if share is not None and share <= 0.5 and paired[0] and paired[1] >= -1.0:
                good.append(f"{r['weights'].get('mixit_sparsity', 0.0):g} (US MS "
                            f"{_num(r['under_separation_multi'])})")
        lines.append(
            f"|{r['separator']}|{r['outputs']}|{r['weights'].get('mixit_sparsity', 0.0):g}|"
            f"{r['model']}|"
            f"{_num(r['msi'])}|{diff}|{_num(r['one_source_si_snr'])}|"
            f"{_num(r['over_separation_single'])}|{ratio}|{_num(r['over_separation_multi'])}|"
            f"{_num(r['under_separation_multi'])}|"
            f"{_num(r['mean_active_single'])}/{_num(r['mean_active_multi'])}|")
    if len(lines) == 2:
        return ""
    text = "\n".join(lines)
    if verdicts:  # the target, read off mechanically (MSi pairs only active outputs: see US)
        text += "\n\nWeights with OS 1S / weight 0 <= 0.5 and MSi - weight 0 >= -1 dB " \
                "(paired mean):\n" + "\n".join(
                    f"- {subset}, {separator}, M = {m}: {', '.join(good) or 'none'}"
                    for (subset, separator, m), good in verdicts.items())
    return text


# ---- the paper's plain projection against the local search -----------------------------------

PLAIN_HEAD = """## Plain projection vs local search

Efficient MixIT with the paper's assignment (`refine_sweeps: 0`: the least-squares mixing
matrix projected to a binary one; sepplug fills a mixture left without an output) against
the same config with sepplug's greedy local search after the projection (`refine_sweeps`
> 0, the recipe's default 16), per test mixture: MSi paired as in the sparsity sweep; OS 1S
paired per single-source mixture (over-separated or not, difference of the 0/1 flags); time
per step (ESPnet's `train_time`, mean ± s.e. over the epochs; two trainings shared the two
cores, so the time depends on the neighbour). summary.tsv: `msi_diff_local_search`,
`os_rate_1s_diff_local_search` (the plain-projection model's rows, test set) and
`train_step_s` (both models, subset `train`)."""


def train_step_seconds(model_dir: Path) -> tuple[int, float, float]:
    """ESPnet's ``[train] train_time`` (seconds per step, averaged per epoch) of a model's
    train logs: ``(n epochs, mean, standard error)``; n = 0 without logs."""
    stats = read_epoch_stats(model_dir)
    return mean_stderr([e["train"]["train_time"] for _, e in sorted(stats.items())
                        if "train_time" in e.get("train", {})])


def plain_projection_pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """``(plain, local search)``: each unsupervised model with ``refine_sweeps`` 0 and the
    model of the same test set, M, separator and regulariser weights with a local search
    (the first by name)."""
    pairs = []
    for plain in rows:
        if plain.get("refine_sweeps") != 0 or is_supervised(plain):
            continue
        partner = next((r for r in sorted(rows, key=lambda r: r["model"])
                        if r.get("refine_sweeps") and not is_supervised(r)
                        and (r["subset"], r["outputs"], r["separator"], r["weights"])
                        == (plain["subset"], plain["outputs"], plain["separator"],
                            plain["weights"])), None)
        if partner is not None:
            pairs.append((plain, partner))
    return pairs


def plain_projection_results(rows: list[dict], scores: PairScores, over: OverSingle
                             ) -> tuple[str, list[ResultRow]]:
    """The section's tables and their summary.tsv rows ("" and [] without a pair)."""
    pairs = plain_projection_pairs(rows)
    if not pairs:
        return "", []
    test_lines = ["|model|test set|M|sparsity weight|refine_sweeps|MSi (dB)|"
                  "MSi - local search, paired (dB, n)|1S (dB)|OS 1S|"
                  "OS 1S - local search, paired (n)|OS MS|US MS|active 1S/MS|",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    train_lines = ["|model|training|refine_sweeps|s per step (mean ± s.e. over epochs)|"
                   "epochs|", "|---|---|---|---|---|"]
    out: list[ResultRow] = []
    timed: set[str] = set()
    for plain, local in pairs:
        msi = paired_msi_difference(scores[plain["scoring_dir"]], scores[local["scoring_dir"]])
        os1 = paired_rate_difference(over[plain["scoring_dir"]], over[local["scoring_dir"]])
        for r, msi_cell, os_cell in ((local, "reference", "reference"),
                                     (plain, _signed(*msi), _signed(*os1))):
            test_lines.append(
                f"|{r['model']}|{r['subset']}|{r['outputs']}|"
                f"{r['weights'].get('mixit_sparsity', 0.0):g}|{r['refine_sweeps']}|"
                f"{_num(r['msi'])}|{msi_cell}|{_num(r['one_source_si_snr'])}|"
                f"{_num(r['over_separation_single'])}|{os_cell}|"
                f"{_num(r['over_separation_multi'])}|{_num(r['under_separation_multi'])}|"
                f"{_num(r['mean_active_single'])}/{_num(r['mean_active_multi'])}|")
        out += [ResultRow(plain["model"], plain["family"], plain["subset"],
                          "msi_diff_local_search", *msi),
                ResultRow(plain["model"], plain["family"], plain["subset"],
                          "os_rate_1s_diff_local_search", *os1)]
        for r in (local, plain):
            if r["model"] in timed:
                continue
            timed.add(r["model"])
            n, mean, stderr = train_step_seconds(r["model_dir"])
            if n:
                train_lines.append(f"|{r['model']}|train|{r['refine_sweeps']}|"
                                   f"{format_mean_se(mean, stderr, fmt='.3f')}|{n}|")
                out.append(ResultRow(r["model"], r["family"], "train", "train_step_s",
                                     n, mean, stderr))
    text = "\n".join(test_lines)
    if len(train_lines) > 2:
        text += "\n\n" + "\n".join(train_lines)
    return text, out


# ---- an earlier run's models ------------------------------------------------------------------


def _summary_equal(a: ResultRow, b: ResultRow) -> bool:
    """Equal as summary.tsv writes them (n, and mean / s.e. to 4 decimals)."""
    def four(x: float) -> str:
        return "nan" if math.isnan(x) else f"{x:.4f}"
    return (a.n, four(a.mean), four(a.stderr)) == (b.n, four(b.mean), four(b.stderr))


def earlier_results(earlier: Path, current_rows: list[ResultRow], out: Path
                    ) -> tuple[str, list[ResultRow]]:
    """The sections of an earlier run (``earlier/results/summary.tsv``) and the summary rows
    it carries over (those of models absent from this run's ``current_rows``).

    Raises:
        ValueError: no or a malformed summary there.
    """
    path = earlier / "results" / "summary.tsv"
    if not path.is_file():
        raise ValueError(f"--earlier {earlier}: no {path}")
    rows = read_summary(path)
    current = {r.model for r in current_rows}
    label = earlier.name
    link = Path(os.path.relpath(earlier / "RESULTS.md", out.resolve().parent)).as_posix()
    by_model: dict[tuple[str, str], dict[str, ResultRow]] = {}
    for r in rows:
        by_model.setdefault((r.model, r.subset), {})[r.metric] = r
    header = ["|model|test set|run|family|MSi (dB)|MSi all pairs|1S (dB)|OS 1S|OS MS|US MS|",
              "|---|---|---|---|---|---|---|---|---|---|"]

    def line(model: str, subset: str, run: str, metrics: dict[str, ResultRow]) -> str:
        cells = []
        for name in ("msi", "msi_all_pairs", "1s", "os_rate_1s", "os_rate_ms", "us_rate_ms"):
            r = metrics.get(name)
            cells.append("n/a" if r is None else format_mean_se(r.mean, r.stderr)
                         if name == "msi" else _num(None if math.isnan(r.mean) else r.mean))
        family = next(iter(metrics.values())).family
        return f"|{model}|{subset}|{run}|{family}|" + "|".join(cells) + "|"

    carried = [line(m, s, label, v) for (m, s), v in sorted(by_model.items())
               if m not in current]
    rerun_keys = sorted(k for k in by_model if k[0] in current)
    same, differ = [], []
    parts = []
    if carried:
        parts += [f"## Models of the earlier run `{label}`, not re-run\n\n"
                  f"Carried unchanged from that run's `results/summary.tsv` (its\n"
                  f"[RESULTS.md]({link}) has their remix scores, active outputs and\n"
                  f"paired comparisons); their per-example scores are not in this run, so\n"
                  f"they enter no pairing here. MSi ± s.e.", "\n".join(header + carried)]
    if rerun_keys:
        lines = list(header)
        for model, subset in rerun_keys:
            lines.append(line(model, subset, label, by_model[(model, subset)]))
            now = {r.metric: r for r in current_rows if (r.model, r.subset) == (model, subset)}
            if now:
                lines.append(line(model, subset, "this run", now))
            before = by_model[(model, subset)]
            (same if all(m in now and _summary_equal(before[m], now[m]) for m in before)
             else differ).append(f"`{model}` ({subset})")
        verdict = (f"Equal to {label} in every summary.tsv metric (n, mean and s.e. to 4 "
                   f"decimals):\n{', '.join(same) or 'none'};\ndifferent: "
                   f"{', '.join(differ) or 'none'}.")
        parts += [f"## Re-run models: `{label}` and this run\n\n"
                  f"The same config trained and scored again; this run's numbers are the\n"
                  f"ones in summary.tsv and in every pairing above. MSi ± s.e.",
                  "\n".join(lines), verdict]
    return "\n\n".join(parts), [r for r in rows if r.model not in current]


def main(argv: Sequence[str] | None = None) -> int:
    parser = results_tool_parser(__doc__, "VCTK MixIT (unsupervised)")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown appended after the tables (what was run, reading)")
    parser.add_argument("--earlier", type=Path, default=None,
                        help="a committed earlier run's dir (results/summary.tsv, RESULTS.md):\n"
                             "its models absent from --expdir are carried over, marked")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.expdir)
        if not rows:
            raise ValueError(f"no score_mixit summary.json under "
                             f"{args.expdir}/enh_*/enhanced_*/scoring/")
        notes = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""
        scores = PairScores()
        against_supervised = supervised_table(rows, scores)
        sweep = sparsity_table(rows, scores)
        plain, plain_rows = plain_projection_results(rows, scores, OverSingle())
        data = summary_rows(rows) + plain_rows
        earlier, carried = (earlier_results(args.earlier, data, args.out) if args.earlier
                            else ("", []))
    except (ValueError, OSError) as exc:
        print(f"sepplug.recipes.mixit.make_results: error: {exc}", file=sys.stderr)
        return 1
    text = "\n\n".join([
        "<!-- Generated by sepplug.recipes.mixit.make_results -->",
        f"# RESULTS: {args.title}",
        environment(),
        "## FUSS-style separation metrics",
        table(rows),
        NOTES,
        "The same numbers as data: `results/summary.tsv` (metrics msi, msi_all_pairs, 1s, "
        "os_rate_1s, os_rate_ms, us_rate_ms; n = pairs or examples averaged; standard errors"
        + ("; and the plain-projection comparison's below" if plain else "") + ").",
    ] + ([SUPERVISED_HEAD, against_supervised] if against_supervised else [])
      + ([SPARSITY_HEAD, sweep] if sweep else [])
      + ([PLAIN_HEAD, plain] if plain else [])
      + ([earlier] if earlier else [])
      + ([notes] if notes else [])) + "\n"
    # one model's rows together (stable: its metrics keep their order)
    write_summary(summary_path(args), sorted(data + carried, key=lambda r: r.model))
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
