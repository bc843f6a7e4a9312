"""Learning curves of ESPnet trainings, read from their logs, in one plot.

    python -m sepplug.bin.plot_learning_curves --exp exp/enh_a --exp exp/enh_b \\
        --stat valid/loss --out exp/learning_curves.png

ESPnet's trainer logs one ``<N>epoch results: [train] k=v, ... [valid] k=v, ...`` line per
epoch in ``<exp>/train.log`` (a resumed run keeps the earlier part as ``train.log.<n>``
here, see enh.sh, and a continued one as ``train.first_part.log``, see the SpatialVCTK
recipe's ``local/continue_training.sh``); every ``--stat SECTION/KEY`` of every ``--exp``
becomes one curve against the epoch, and the same numbers go to a TSV beside the PNG
(``exp stat epoch value``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sepplug.train.train_log import read_epoch_stats
from sepplug.utils.atomic import atomic_save_figure, atomic_write_text


def read_curves(exp: Path) -> dict[str, dict[int, float]]:
    """``"section/key" -> {epoch: value}`` from every ``train.log*`` and ``train.*.log``
    of ``exp``."""
    curves: dict[str, dict[int, float]] = {}
    for epoch, sections in sorted(read_epoch_stats(exp).items()):
        for section, values in sections.items():
            for key, value in values.items():
                curves.setdefault(f"{section}/{key}", {})[epoch] = value
    return curves


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--exp", action="append", required=True, type=Path, help="ESPnet exp dir")
    p.add_argument("--stat", action="append", default=None,
                   help="SECTION/KEY, e.g. valid/loss (default), train/loss, valid/si_snr")
    p.add_argument("--out", required=True, type=Path, help="PNG (and .tsv beside it)")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    stats = args.stat or ["valid/loss"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stats), figsize=(5 * len(stats), 3.6), squeeze=False)
    rows = ["exp\tstat\tepoch\tvalue"]
    for ax, stat in zip(axes[0], stats, strict=True):
        for index, exp in enumerate(args.exp):
            curve = read_curves(exp).get(stat)
            if not curve:
                print(f"plot_learning_curves: error: no '{stat}' in {exp}/train.log*",
                      file=sys.stderr)
                plt.close(fig)
                return 1
            epochs = sorted(curve)
            # matplotlib's default cycle repeats after 10 colours: change the line style then
            ax.plot(epochs, [curve[e] for e in epochs], marker=".", label=exp.name,
                    color=f"C{index % 10}", linestyle=("-", "--", ":")[index // 10 % 3])
            rows += [f"{exp.name}\t{stat}\t{e}\t{curve[e]:.6g}" for e in epochs]
        ax.set_xlabel("epoch")
        ax.set_ylabel(stat)
        ax.legend(fontsize=7)
    fig.suptitle(args.title)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_figure(fig, args.out, dpi=110)
    plt.close(fig)
    atomic_write_text(args.out.with_suffix(".tsv"), "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
