"""FEABASE Figure 2: dev easy / hard SI-SDRi against training steps, before and after a switch.

    python -m sepplug.recipes.spatialvctk.plot_figure2 --curves exp/results/dev_curves.tsv \\
        --first enh_hard_only --then enh_erm [--then enh_oracle_data ...] \\
        --steps_per_epoch 200 [--exp_steps_per_epoch enh_erm=300] \\
        [--label enh_erm="ERM on D"] --out results/figure2.png

The protocol of the paper's Figure 2: model A (``--first``) is trained on D_hard only, for
epochs 1..N_A; models B, C, ... (``--then``) start from A's final weights (ESPnet
``--init_param``) and are trained on other data, counting their own epochs from 1. The
curves are ``python -m sepplug.bin.category_curves``'s TSV (``exp epoch category n mean
stderr``; ``exp`` is the exp dir's name). A's epoch e is drawn at step e x steps_per_epoch,
and B's epoch e at (switch_epoch + e) x steps, where switch_epoch is A's last epoch in the
TSV (or ``--switch_epoch``) and each exp's steps per epoch is ``--steps_per_epoch`` unless
``--exp_steps_per_epoch EXP=N`` says otherwise. One panel per ``--category`` (default easy,
hard), mean ± standard error bands, a dashed vertical line at the switch; each later arm's
line starts at A's point at the switch (the weights it started from).

The plotted numbers go to a TSV beside the PNG (``arm exp label category epoch step n mean
stderr``; arm ``first`` or ``then``). Bad input stops with a message naming the file and exit
status 1, before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text

logger = logging.getLogger("sepplug.plot_figure2")

COLUMNS = ("exp", "epoch", "category", "n", "mean", "stderr")
OUT_COLUMNS = ("arm", "exp", "label", "category", "epoch", "step", "n", "mean", "stderr")

Curves = dict[tuple[str, str], dict[int, tuple[int, float, float]]]  # (exp, cat) -> epoch -> row


def read_curves(path: Path) -> Curves:
    """``(exp, category) -> {epoch: (n, mean, stderr)}`` of a category_curves TSV."""
    if not path.is_file():
        raise DataError(f"{path}: curves TSV not found")
    header, *lines = path.read_text(encoding="utf-8").splitlines() or [""]
    missing = [c for c in COLUMNS if c not in header.split("\t")]
    if missing:
        raise DataError(f"{path}: no column(s) {', '.join(missing)} in the header "
                        f"(expected {' '.join(COLUMNS)}, as sepplug.bin.category_curves writes)")
    index = {c: header.split("\t").index(c) for c in COLUMNS}
    curves: Curves = {}
    for number, line in enumerate(lines, 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        try:
            exp, category = cells[index["exp"]], cells[index["category"]]
            epoch, n = int(cells[index["epoch"]]), int(cells[index["n"]])
            mean, stderr = float(cells[index["mean"]]), float(cells[index["stderr"]])
        except (IndexError, ValueError) as exc:
            raise DataError(f"{path}:{number}: not a row of {' '.join(COLUMNS)}: {line!r}") from exc
        by_epoch = curves.setdefault((exp, category), {})
        if epoch in by_epoch:
            raise DataError(f"{path}:{number}: a second row for exp {exp}, epoch {epoch}, "
                            f"category {category}")
        by_epoch[epoch] = (n, mean, stderr)
    return curves


def parse_pairs(items: Sequence[str], option: str, value_type: type = str) -> dict:
    """``["EXP=VALUE", ...]`` -> ``{EXP: value_type(VALUE)}``."""
    pairs = {}
    for item in items:
        exp, sep, value = item.partition("=")
        try:
            if not sep or not exp:
                raise ValueError
            pairs[exp] = value_type(value)
        except ValueError:
            raise DataError(f"{option} {item!r}: expected EXP={value_type.__name__.upper()}") \
                from None
    return pairs


def figure_rows(curves: Curves, path: Path, first: str, then: Sequence[str],
                categories: Sequence[str], steps: dict[str, int],
                switch_epoch: int | None, labels: dict[str, str]) -> tuple[list[dict], int]:
    """The rows to plot (in ``OUT_COLUMNS``) and the switch's step."""
    exps = [first, *then]
    if len(set(exps)) < len(exps):
        raise DataError(f"an exp is given twice among --first/--then: {exps}")
    known = sorted({exp for exp, _ in curves})
    for exp in exps:
        if exp not in known:
            raise DataError(f"{path}: no exp '{exp}' (it has: {', '.join(known) or 'none'})")
        for category in categories:
            if (exp, category) not in curves:
                have = sorted(c for e, c in curves if e == exp)
                raise DataError(f"{path}: exp '{exp}' has no '{category}' rows (it has: "
                                f"{', '.join(have)})")
        if steps[exp] <= 0:
            raise DataError(f"steps per epoch of '{exp}' must be > 0, not {steps[exp]}")
    last = max(max(curves[first, c]) for c in categories)
    switch_epoch = last if switch_epoch is None else switch_epoch
    if switch_epoch < 1:
        raise DataError(f"--switch_epoch must be >= 1, not {switch_epoch}")
    switch = switch_epoch * steps[first]
    rows = []
    for arm, exp in [("first", first), *(("then", e) for e in then)]:
        offset = 0 if arm == "first" else switch
        for category in categories:
            for epoch, (n, mean, stderr) in sorted(curves[exp, category].items()):
                rows.append({"arm": arm, "exp": exp, "label": labels.get(exp, exp),
                             "category": category, "epoch": epoch,
                             "step": offset + epoch * steps[exp], "n": n, "mean": mean,
                             "stderr": stderr})
    return rows, switch


def draw(rows: list[dict], categories: Sequence[str], switch: int, first: str, title: str):
    """The figure: one panel per category, one line (with s.e. band) per exp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(categories), figsize=(5.5 * len(categories), 4),
                             squeeze=False)
    exps = list(dict.fromkeys(r["exp"] for r in rows))
    colors = {exp: "k" if exp == first else f"C{i}" for i, exp in enumerate(exps)}
    for ax, category in zip(axes[0], categories, strict=True):
        start = [r for r in rows if r["exp"] == first and r["category"] == category
                 and r["step"] == switch]
        for exp in exps:
            pts = [r for r in rows if r["exp"] == exp and r["category"] == category]
            if exp != first:
                pts = start + pts  # the arm starts from A's weights at the switch
            x = [r["step"] for r in pts]
            y = [r["mean"] for r in pts]
            se = [0.0 if math.isnan(r["stderr"]) else r["stderr"] for r in pts]
            ax.plot(x, y, marker="o", ms=3, color=colors[exp],
                    label=next(r["label"] for r in rows if r["exp"] == exp))
            ax.fill_between(x, [m - s for m, s in zip(y, se, strict=True)],
                            [m + s for m, s in zip(y, se, strict=True)], color=colors[exp],
                            alpha=0.2, linewidth=0)
        ax.axvline(switch, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("training steps")
        ax.set_ylabel(f"dev {category} SI-SDRi (dB)")
        ax.set_title(f"dev {category}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def format_rows(rows: list[dict]) -> str:
    lines = ["\t".join(OUT_COLUMNS)]
    for r in rows:
        lines.append("\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])
                               for c in OUT_COLUMNS))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> list[dict]:
    """Everything but argument parsing (raises DataError); returns the plotted rows."""
    if args.out.suffix.lower() != ".png":
        raise DataError(f"--out {args.out}: expected a .png path")
    labels = parse_pairs(args.label, "--label")
    if any("\t" in text or "\n" in text for text in labels.values()):
        raise DataError("--label: no tabs or newlines in a label")
    overrides = parse_pairs(args.exp_steps_per_epoch, "--exp_steps_per_epoch", int)
    exps = [args.first, *args.then]
    unknown = sorted(set(labels) - set(exps)) + sorted(set(overrides) - set(exps))
    if unknown:
        raise DataError(f"--label/--exp_steps_per_epoch name '{unknown[0]}', which is neither "
                        "--first nor --then")
    steps = {exp: overrides.get(exp, args.steps_per_epoch) for exp in exps}
    curves = read_curves(args.curves)
    rows, switch = figure_rows(curves, args.curves, args.first, args.then, args.category,
                               steps, args.switch_epoch, labels)
    fig = draw(rows, args.category, switch, args.first, args.title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_save_figure(fig, args.out, dpi=150)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    atomic_write_text(args.out.with_suffix(".tsv"), format_rows(rows))
    logger.info("%s and %s: %d exps, switch at step %d", args.out, args.out.with_suffix(".tsv"),
                len(exps), switch)
    return rows


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--curves", type=Path, required=True, help="category_curves TSV")
    p.add_argument("--first", required=True, help="exp name of model A (trained on D_hard)")
    p.add_argument("--then", action="append", required=True,
                   help="exp name of a model started from A's final weights (repeatable)")
    p.add_argument("--steps_per_epoch", type=int, required=True)
    p.add_argument("--exp_steps_per_epoch", action="append", default=[], metavar="EXP=N",
                   help="steps per epoch of one exp, when it differs")
    p.add_argument("--switch_epoch", type=int, default=None,
                   help="A's epoch the others started from (default: A's last in the TSV)")
    p.add_argument("--category", action="append", default=None,
                   help="a panel per category (default: easy, hard)")
    p.add_argument("--label", action="append", default=[], metavar="EXP=TEXT",
                   help="legend text of an exp (default: its name)")
    p.add_argument("--title", default="")
    p.add_argument("--out", type=Path, required=True, help="PNG (and .tsv beside it)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    args.category = args.category or ["easy", "hard"]
    setup_cli_logging()
    return run_or_report(lambda: run(args), logger)


if __name__ == "__main__":
    sys.exit(main())
