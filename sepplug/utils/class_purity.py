"""Class purity of separated outputs: does each active output hold sounds of one class?

For open-domain separation with labelled sources (semantic MixIT, :mod:`sepplug.bin.score_mixit`
with ``utt2source_classes``). Each estimate ``ŝ_m`` is projected on the true sources by least
squares, ``ŝ_m ≈ Σ_k a_km s_k``; source ``k``'s energy in the output is ``a_km² ‖s_k‖²``, a
class's energy the sum over its sources. An output is **pure** when one class holds at least
``share`` (default 0.8, i.e. 6 dB above all the other classes together) of that energy. A
mixture's purity is the share of its *active* outputs that are pure. With one class in the
mixture every output is pure: the metric says something only for mixtures of two or more
classes, where the results tools report it. (Least squares, not the masks: the scorer sees
only waveforms; with mask-based outputs the projection is close to the masked energies.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PURE_SHARE = 0.8


def class_energy_shares(refs: np.ndarray, ests: np.ndarray, source_classes: Sequence[str]
                        ) -> tuple[np.ndarray, list[str]]:
    """Energy share of each class in each estimate.

    Args:
        refs: ``(K, T)`` true sources; ests: ``(M, T)`` estimates; source_classes: K names.

    Returns:
        ``(shares (M, C), class names (C,))``; a row of zeros for an estimate that no
        source explains.
    """
    if refs.shape[0] != len(source_classes):
        raise ValueError(f"{refs.shape[0]} sources but {len(source_classes)} source classes")
    coef, *_ = np.linalg.lstsq(refs.T, ests.T, rcond=None)  # (K, M)
    energy = coef**2 * np.sum(refs**2, axis=1, keepdims=True)  # (K, M)
    names = sorted(set(source_classes))
    per_class = np.stack([energy[[c == name for c in source_classes]].sum(axis=0)
                          for name in names], axis=1)  # (M, C)
    total = per_class.sum(axis=1, keepdims=True)
    return np.divide(per_class, total, out=np.zeros_like(per_class), where=total > 0), names


def output_purity(refs: np.ndarray, ests: np.ndarray, source_classes: Sequence[str],
                  active: np.ndarray, share: float = PURE_SHARE) -> tuple[int, int]:
    """``(pure active outputs, active outputs)`` of one example; ``active`` is ``(M,)`` bool."""
    shares, _ = class_energy_shares(refs, ests, source_classes)
    pure = shares.max(axis=1) >= share
    return int(np.sum(pure & active)), int(np.sum(active))
