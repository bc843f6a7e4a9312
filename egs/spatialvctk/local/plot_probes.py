#!/usr/bin/env python3
"""Plot learning-curve probes (local/probe_learning_curve.py): dev SI-SDRi per subset.

    local/plot_probes.py --out probes.png exp/probes/*.jsonl

One panel per subset (easy, hard, both), one line per probe (its file name), against
training minutes on one CPU thread (the budget that matters here), or with ``--x step``
against training steps (for probes that shared the machine unevenly).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sepplug.utils.atomic import atomic_save_figure

SUBSETS = ("easy", "hard", "both")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="PNG")
    parser.add_argument("--x", choices=["min", "step"], default="min",
                        help="x axis: training minutes or steps")
    parser.add_argument("curves", nargs="+", type=Path, help="probe JSON-lines files")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(13, 4), sharey=True)
    for path in args.curves:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for axis, subset in zip(axes, SUBSETS, strict=True):
            axis.plot([r[args.x] for r in records], [r[subset] for r in records],
                      marker=".", label=path.stem)
    for axis, subset in zip(axes, SUBSETS, strict=True):
        axis.set_title(f"dev {subset}")
        axis.set_xlabel("training minutes (one thread)" if args.x == "min"
                        else "training steps (batch 4 x 2 s)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("SI-SDRi (dB)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    atomic_save_figure(fig, args.out, dpi=110)


if __name__ == "__main__":
    main()
