"""Examples of what the FS generator does: wavs and a per-mic arrival-order plot.

For a few source pairs, :func:`write_examples` saves the original and transformed
images and mixtures, and a PNG like the paper's Fig. 4: the GCC-PHAT delay of every
mic relative to mic 0 for each source, before vs after. Before suppression the two
sources' delay patterns differ (different directions); after, they should coincide.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sepplug.augment.audio_io import write_audio
from sepplug.augment.fs_apply import FeatureSuppressor
from sepplug.augment.source_pairs import PairSet, load_pair
from sepplug.augment.spatial_metrics import (
    ArrayGeometry,
    relative_delays,
    source_pair_angle,
)

logger = logging.getLogger(__name__)


def plot_arrival_order(
    before: np.ndarray, after: np.ndarray, path: Path | str, title: str = ""
) -> None:
    """Save a two-panel plot of per-mic delays (:func:`plot_arrival_grid` for one pair).

    Args:
        before, after: ``(2, C)`` delays in samples relative to mic 0, per source.
    """
    plot_arrival_grid([(before, after, title)], path)


def plot_arrival_grid(examples: list[tuple[np.ndarray, np.ndarray, str]],
                      path: Path | str) -> None:
    """The paper's Fig. 4 for several pairs, one row each: per-mic GCC-PHAT delay of both
    sources, original (left) and feature-suppressed (right).

    Args:
        examples: ``(before (2, C), after (2, C), row title)`` per pair, delays in samples
            relative to mic 0.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sepplug.utils.atomic import atomic_save_figure

    fig, axes = plt.subplots(len(examples), 2, figsize=(9, 2.6 * len(examples)),
                             sharey=True, squeeze=False)
    for row, (before, after, title) in zip(axes, examples, strict=True):
        mics = np.arange(before.shape[1])
        for ax, delays, name in zip(row, (before, after), ("original", "feature-suppressed"),
                                    strict=True):
            for src, marker in zip(range(2), ("o-", "s--"), strict=True):
                ax.plot(mics, delays[src], marker, label=f"source {'AB'[src]}")
            ax.axhline(0.0, color="0.7", lw=0.8)
            ax.set_xticks(mics)
            ax.set_title(f"{title}: {name}" if title else name, fontsize=8)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("delay vs mic 0\n[samples]")
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("mic")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=100)
    plt.close(fig)


def write_examples(
    suppressor: FeatureSuppressor,
    pair_set: PairSet,
    out_dir: Path | str,
    geometry: ArrayGeometry,
    n_examples: int = 3,
    max_seconds: float = 4.0,
) -> list[dict]:
    """Transform the first ``n_examples`` pairs of ``pair_set`` and save wavs and plots
    under ``out_dir`` (``<utt>_{spk1,spk2,mix}_{orig,fs}.wav``, ``<utt>_arrival.png``).

    Returns one dict per example: ``utt``, ``angle_before``, ``angle_after`` (degrees,
    SRP-PHAT estimates).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fs, n_mics = pair_set.fs, pair_set.n_mics
    rows = []
    for entry in pair_set.entries[:n_examples]:
        pair = load_pair(pair_set, entry)[:, : int(max_seconds * fs)]
        out = suppressor.transform_pair(pair)
        delays, angles = [], []
        for name, signal in (("orig", pair), ("fs", out)):
            s1, s2 = signal[:n_mics], signal[n_mics:]
            write_audio(out_dir / f"{entry.utt}_spk1_{name}.wav", s1.T, fs)
            write_audio(out_dir / f"{entry.utt}_spk2_{name}.wav", s2.T, fs)
            write_audio(out_dir / f"{entry.utt}_mix_{name}.wav", (s1 + s2).T, fs)
            delays.append(np.stack([relative_delays(s, fs, max_delay_s=geometry.max_delay_s * 2)
                                    for s in (s1, s2)]))
            angles.append(source_pair_angle(s1, s2, fs, geometry)[2])
        title = (f"{entry.utt}: angle between sources {angles[0]:.0f}° → {angles[1]:.0f}° "
                 "(SRP-PHAT)")
        plot_arrival_order(delays[0], delays[1], out_dir / f"{entry.utt}_arrival.png", title)
        rows.append({"utt": entry.utt, "angle_before": angles[0], "angle_after": angles[1]})
        logger.info("example %s: source angle %.1f° → %.1f°", entry.utt, angles[0], angles[1])
    return rows
