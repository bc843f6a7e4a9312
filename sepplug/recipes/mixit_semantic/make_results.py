"""RESULTS.md and results/summary.tsv of the semantic MixIT recipe (egs/domains/mixit_semantic).

Reads every ``exp/enh_<model>/enhanced_test/scoring/per_example.tsv`` of
:mod:`sepplug.bin.score_mixit` (with the class-purity columns), the family ``enh.sh`` wrote,
the seed of ``config.yaml``, and ``exp/classifier/accuracy.json``. Metrics, fixed before the
first run:

* ``msi`` — SI-SNRi (dB) of the multi-source test mixtures' sources matched one-to-one to
  an active output (FUSS); n = such pairs;
* ``1s`` — SI-SNR (dB) of single-source mixtures (FUSS);
* ``os_1s`` — share of single-source mixtures with more than one active output;
* ``class_purity`` — per mixture of two or more classes, the share of its active outputs
  that one class dominates (>= 80 % of the output's energy;
  :mod:`sepplug.utils.class_purity`); n = such mixtures;
* ``active_outputs`` — mean number of active outputs (subsets ``test_1s``, ``test_ms``);
* ``accuracy`` — the classifier's top-1 accuracy on single-source clips of the pool's dev
  and test splits (model ``classifier``, subsets ``dev_clips``, ``test_clips``).

Paired comparisons (the issue's targets) are per test mixture, on each seed, then pooled:
the difference averaged over the seeds run for both models, mean ± s.e. over mixtures.
MSi pairs a mixture's sources matched to active outputs in both models. They go into
summary.tsv as rows of model ``<family A>-<family B>``, family ``paired``, subset ``test``.

    python -m sepplug.recipes.mixit_semantic.make_results --expdir exp --out exp/RESULTS.md \\
        --notes local/results_notes.md
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from sepplug.results.markdown import environment, markdown_table
from sepplug.results.summary import (
    ResultRow,
    format_mean_se,
    mean_stderr,
    read_family,
    results_tool_parser,
    row_from_values,
    summary_path,
    write_summary,
)
from sepplug.utils.atomic import atomic_write_text

FAMILIES = ("supervised", "mixit", "mixit_sparse", "mixit_sparse_semantic", "mixit_semantic")
#: (model A, model B) compared per mixture: the issue's questions
COMPARISONS = (("mixit_sparse_semantic", "mixit_sparse"), ("mixit_semantic", "mixit"),
               ("mixit_sparse", "mixit"), ("mixit", "supervised"))
TEST_SET = "test"


class Scored:
    """One model's per-example scores on the test set (from ``per_example.tsv``)."""

    def __init__(self, model_dir: Path):
        path = model_dir / f"enhanced_{TEST_SET}" / "scoring" / "per_example.tsv"
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        if "class_purity" not in header:
            raise ValueError(f"{path}: no class_purity column (score with a test dir that has "
                             "utt2source_classes)")
        self.model = model_dir.name.removeprefix("enh_")
        self.family = read_family(model_dir)
        self.seed = _seed(model_dir)
        self.rows = {}
        for line in lines[1:]:
            cells = dict(zip(header, line.split("\t"), strict=True))
            self.rows[cells["utt"]] = {
                "num_sources": int(cells["num_sources"]),
                "num_active": int(cells["num_active"]),
                "over": cells["over"] == "1",
                "si_snr": _floats(cells["si_snr"]), "si_snri": _floats(cells["si_snri"]),
                "pit_active": [v == "1" for v in cells["pit_active"].split(",")],
                "num_classes": int(cells["num_classes"]),
                "class_purity": float(cells["class_purity"]),
            }

    def msi_pairs(self, key: str) -> list[float | None]:
        """SI-SNRi of each source of a multi-source mixture, None if its output is inactive."""
        row = self.rows[key]
        return [v if a else None for v, a in zip(row["si_snri"], row["pit_active"],
                                                 strict=True)]

    def single(self) -> list[str]:
        return [k for k, r in self.rows.items() if r["num_sources"] == 1]

    def multi(self) -> list[str]:
        return [k for k, r in self.rows.items() if r["num_sources"] > 1]

    def multi_class(self) -> list[str]:
        return [k for k, r in self.rows.items() if r["num_classes"] >= 2 and r["num_active"]]

    def summary(self) -> list[ResultRow]:
        m, f = self.model, self.family
        msi = [v for k in self.multi() for v in self.msi_pairs(k) if v is not None]
        one = [self.rows[k]["si_snr"][0] for k in self.single()
               if self.rows[k]["pit_active"][0]]
        return [
            row_from_values(m, f, TEST_SET, "msi", msi),
            row_from_values(m, f, TEST_SET, "1s", one),
            row_from_values(m, f, TEST_SET, "os_1s",
                            [float(self.rows[k]["over"]) for k in self.single()]),
            row_from_values(m, f, TEST_SET, "class_purity",
                            [self.rows[k]["class_purity"] for k in self.multi_class()]),
            row_from_values(m, f, "test_1s", "active_outputs",
                            [self.rows[k]["num_active"] for k in self.single()]),
            row_from_values(m, f, "test_ms", "active_outputs",
                            [self.rows[k]["num_active"] for k in self.multi()]),
        ]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _seed(model_dir: Path) -> int:
    try:
        config = yaml.safe_load((model_dir / "config.yaml").read_text(encoding="utf-8"))
        return int(config.get("seed", 0))
    except (OSError, yaml.YAMLError, TypeError, ValueError):
        return 0


def collect(expdir: Path) -> list[Scored]:
    found = sorted(expdir.glob(f"enh_*/enhanced_{TEST_SET}/scoring/per_example.tsv"))
    return [Scored(path.parent.parent.parent) for path in found]


# ---- paired differences ------------------------------------------------------------------


def per_mixture_differences(a: Scored, b: Scored, metric: str) -> dict[str, float]:
    """``key -> a - b`` of one metric on the mixtures where both define it."""
    out = {}
    if metric == "msi":
        for key in a.multi():
            pairs = [(x - y) for x, y in zip(a.msi_pairs(key), b.msi_pairs(key), strict=True)
                     if x is not None and y is not None]
            if pairs:
                out[key] = float(np.mean(pairs))
    elif metric == "os_1s":
        out = {k: float(a.rows[k]["over"]) - float(b.rows[k]["over"]) for k in a.single()}
    elif metric == "class_purity":
        both = set(a.multi_class()) & set(b.multi_class())
        out = {k: a.rows[k]["class_purity"] - b.rows[k]["class_purity"] for k in sorted(both)}
    else:
        raise ValueError(f"no paired difference for metric {metric}")
    return out


def paired(models: list[Scored], fam_a: str, fam_b: str, metric: str
           ) -> tuple[list[tuple[int, tuple[int, float, float]]], tuple[int, float, float]]:
    """Per seed ``(seed, (n, mean, s.e.))`` and pooled over seeds (each mixture's difference
    averaged over the seeds both families ran)."""
    by_seed_a = {m.seed: m for m in models if m.family == fam_a}
    by_seed_b = {m.seed: m for m in models if m.family == fam_b}
    per_seed, pooled = [], defaultdict(list)
    for seed in sorted(set(by_seed_a) & set(by_seed_b)):
        diffs = per_mixture_differences(by_seed_a[seed], by_seed_b[seed], metric)
        per_seed.append((seed, mean_stderr(list(diffs.values()))))
        for key, value in diffs.items():
            pooled[key].append(value)
    return per_seed, mean_stderr([float(np.mean(v)) for v in pooled.values()])


# ---- tables --------------------------------------------------------------------------------


def _table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    return "\n".join(markdown_table(header, rows))


def _cell(row: ResultRow, fmt: str = ".2f") -> str:
    return format_mean_se(row.mean, row.stderr, fmt=fmt)


def model_table(models: list[Scored], rows: dict[str, dict[str, ResultRow]]) -> str:
    """One row per model (test set), then its active-output counts per subset."""
    header = ["model", "test set", "family", "seed", "MSi (dB)", "1S (dB)", "OS 1S",
              "class purity"]
    body, active = [], []
    for m in sorted(models, key=lambda m: (_family_order(m.family), m.seed)):
        r = rows[m.model]
        body.append([m.model, TEST_SET, m.family, m.seed, _cell(r["msi"]), _cell(r["1s"]),
                     _cell(r["os_1s"]), _cell(r["class_purity"])])
        for subset in ("test_1s", "test_ms"):
            active.append([m.model, subset, m.family, _cell(r[f"active_outputs/{subset}"])])
    return "\n\n".join([_table(header, body), "Active outputs (mean ± s.e.):",
                         _table(["model", "subset", "family", "active outputs"],
                                        active)])


def _family_order(family: str) -> int:
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


def comparison_table(models: list[Scored]) -> tuple[str, list[ResultRow]]:
    header = ["A-B", "test set", "metric", "pooled over seeds (n mixtures)", "per seed"]
    body, data = [], []
    for fam_a, fam_b in COMPARISONS:
        for metric in ("msi", "class_purity", "os_1s"):
            per_seed, (n, mean, se) = paired(models, fam_a, fam_b, metric)
            if not per_seed:
                continue
            seeds = "; ".join(f"seed {s}: {format_mean_se(m_, s_, fmt='+.3f')} ({n_})"
                              for s, (n_, m_, s_) in per_seed)
            body.append([f"{fam_a}-{fam_b}", TEST_SET, metric,
                         f"{format_mean_se(mean, se, fmt='+.3f')} ({n})", seeds])
            data.append(ResultRow(f"{fam_a}-{fam_b}", "paired", TEST_SET, metric, n, mean, se))
    return (_table(header, body) if body else ""), data


def supervised_ratio(models: list[Scored], rows: dict[str, dict[str, ResultRow]]
                     ) -> tuple[str, list[ResultRow]]:
    """MSi of each family (mean over its seeds) as a share of the supervised family's."""
    by_family = defaultdict(list)
    for m in models:
        by_family[m.family].append(rows[m.model]["msi"].mean)
    if "supervised" not in by_family:
        return "", []
    reference = float(np.mean(by_family["supervised"]))
    body, data = [], []
    for family in sorted(by_family, key=_family_order):
        if family == "supervised":
            continue
        n, mean, _ = mean_stderr(by_family[family])
        ratio = mean / reference if reference > 0 else math.nan
        body.append([family, TEST_SET, n, f"{mean:.2f}", f"{reference:.2f}", f"{ratio:.2f}"])
        data.append(ResultRow(family, "ratio", TEST_SET, "msi_over_supervised", n, ratio,
                              math.nan))
    return _table(["family", "test set", "seeds", "MSi (dB)", "supervised MSi (dB)",
                           "MSi / supervised"],
                          body), data


def classifier_results(expdir: Path) -> tuple[str, list[ResultRow]]:
    path = expdir / "classifier" / "accuracy.json"
    if not path.is_file():
        return "", []
    acc = json.loads(path.read_text(encoding="utf-8"))
    data, body = [], []
    for split in ("dev", "test"):
        part = acc.get(split)
        if not part:
            continue
        data.append(ResultRow("classifier", "classifier", f"{split}_clips", "accuracy",
                              int(part["n"]), float(part["top1"]), float(part["stderr"])))
        per_class = ", ".join(f"{c} {v:.2f}" for c, v in part.get("per_class", {}).items())
        body.append(["classifier", f"{split}_clips", part["n"],
                     format_mean_se(part["top1"], part["stderr"], fmt=".4f"), per_class])
    return _table(["model", "clips", "n", "top-1", "per class"], body), data


FIGURE_METRICS = (("msi", "MSi (dB)"), ("os_1s", "over-separation, 1-source"),
                  ("class_purity", "class purity (>= 2 classes)"))


def figure(models: list[Scored], rows: dict[str, dict[str, ResultRow]], path: Path) -> None:
    """One panel per metric: each model's mean ± s.e., families side by side, seeds as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({m.family for m in models}, key=_family_order)
    fig, axes = plt.subplots(1, len(FIGURE_METRICS), figsize=(4.2 * len(FIGURE_METRICS), 3.6))
    for ax, (metric, label) in zip(axes, FIGURE_METRICS, strict=True):
        for x, family in enumerate(families):
            runs = sorted((m for m in models if m.family == family), key=lambda m: m.seed)
            for k, m in enumerate(runs):
                r = rows[m.model][metric]
                ax.errorbar(x + 0.15 * (k - (len(runs) - 1) / 2), r.mean, yerr=r.stderr,
                            fmt="o", color=f"C{x}", capsize=3)
        ax.set_xticks(range(len(families)), families, rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Open-domain MixIT, M = 8 (mean ± s.e. per model; one dot per seed)")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = results_tool_parser(__doc__, "Open-domain semantic MixIT")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown appended after the tables (what was run, reading)")
    args = parser.parse_args(argv)
    try:
        models = collect(args.expdir)
        if not models:
            raise ValueError(f"no score_mixit per_example.tsv under "
                             f"{args.expdir}/enh_*/enhanced_{TEST_SET}/scoring/")
        rows: dict[str, dict[str, ResultRow]] = {}
        data: list[ResultRow] = []
        for m in models:
            summary = m.summary()
            data += summary
            rows[m.model] = {(r.metric if r.subset == TEST_SET else f"{r.metric}/{r.subset}"): r
                             for r in summary}
        comparisons, comparison_rows = comparison_table(models)
        ratio, ratio_rows = supervised_ratio(models, rows)
        classifier, classifier_rows = classifier_results(args.expdir)
        notes = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""
    except (ValueError, OSError, KeyError) as exc:
        print(f"sepplug.recipes.mixit_semantic.make_results: error: {exc}", file=sys.stderr)
        return 1
    parts = ["<!-- Generated by sepplug.recipes.mixit_semantic.make_results -->",
             f"# RESULTS: {args.title}", environment(),
             "## Models (test set: single mixtures of 1-4 sources; mean ± s.e.)",
             model_table(models, rows)]
    if comparisons:
        parts += ["## Paired per test mixture (A - B; the seeds both ran, pooled)", comparisons]
    if ratio:
        parts += ["## MixIT against the supervised reference (MSi, mean over seeds)", ratio]
    if classifier:
        parts += ["## Sound classifier (single-source clips of the pool)", classifier]
    parts += ["The same numbers as data: `results/summary.tsv`; as a figure: "
              "`semantic_mixit.png`."] + ([notes] if notes else [])
    all_rows = data + comparison_rows + ratio_rows + classifier_rows
    write_summary(summary_path(args), all_rows)
    figure(models, rows, args.out.parent / "semantic_mixit.png")
    atomic_write_text(args.out, "\n\n".join(parts) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
