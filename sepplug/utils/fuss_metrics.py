"""FUSS-style metrics of a separator with M outputs on mixtures of K <= M sources.

Definitions (FUSS evaluation, Wisdom et al. 2020, ``evaluate_lib.py`` of the DCASE 2020
baseline), per example with references ``s (K, T)``, estimates ``ŝ (M, T)`` and the
mixture ``x (T,)``:

* SI-SNR (zero-mean, as ESPnet's ``si_snr``): ``10 log10(‖α s‖² / ‖ŝ − α s‖²)`` with
  ``α = <ŝ, s> / ‖s‖²``, clamped to ±``clamp_db``. SI-SNRi = SI-SNR(ŝ) − SI-SNR(x).
* Assignment ``pit`` (FUSS's): the one-to-one matching of the K references to K of the M
  estimates that maximises the summed SI-SNR (Hungarian algorithm, exact); the other
  ``M − K`` estimates are left out. FUSS pads the references to M with zeros and runs
  PIT, which is the same matching.
* Assignment ``remix`` (MixIT-style): every estimate goes to exactly one reference and the
  estimates of a reference are summed; the assignment maximising the mean SI-SNR is found
  by exhaustive search over the ``K**M`` assignments, each scored in closed form from the
  inner products (no signal is summed). It forgives over-separation by design.
* Active estimate: its power ``mean(ŝ²)`` exceeds the power of the quietest reference
  times ``10**(threshold_db / 10)`` (FUSS: −20 dB). Over-/under-separation: more/fewer
  active estimates than references.
* 1S: mean SI-SNR of the ``pit`` pairs of single-source examples; MSi: mean SI-SNRi of the
  ``pit`` pairs of multi-source examples. As in FUSS, a pair whose estimate is inactive is
  left out of both means (``*_all_pairs`` keeps it); means are over pairs, not examples.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from sepplug.results.summary import mean_stderr

TINY = 1e-20
MAX_REMIX_ASSIGNMENTS = 200_000  # 3 references x 11 estimates; memory ~ P·K·M


class MetricInputError(ValueError):
    """Inputs the metrics cannot score (shapes, silent references, too few estimates)."""


def pairwise_si_snr(
    refs: np.ndarray, ests: np.ndarray, clamp_db: float = 100.0
) -> np.ndarray:
    """SI-SNR of every estimate against every reference.

    Args:
        refs: ``(K, T)`` references (non-silent).
        ests: ``(M, T)`` estimates.

    Returns:
        ``(K, M)`` SI-SNR in dB, clamped to ``[-clamp_db, clamp_db]``.
    """
    refs = refs - refs.mean(axis=-1, keepdims=True)
    ests = ests - ests.mean(axis=-1, keepdims=True)
    dots = refs @ ests.T  # (K, M)
    ref_energy = np.sum(refs**2, axis=-1)  # (K,)
    est_energy = np.sum(ests**2, axis=-1)  # (M,)
    return _si_snr_from_stats(dots, ref_energy[:, None], est_energy[None, :], clamp_db)


def _si_snr_from_stats(
    dots: np.ndarray, ref_energy: np.ndarray, est_energy: np.ndarray, clamp_db: float
) -> np.ndarray:
    """SI-SNR from ``<ŝ, s>``, ``‖s‖²`` and ``‖ŝ‖²`` (broadcast), zero-mean signals.

    The target part ``α s`` has energy ``<ŝ, s>² / ‖s‖²`` and, being the orthogonal
    projection, the residual has ``‖ŝ‖² − that``.
    """
    target = dots**2 / np.maximum(ref_energy, TINY)
    residual = np.maximum(est_energy - target, 0.0)
    with np.errstate(divide="ignore"):
        value = 10 * np.log10(np.maximum(target, TINY)) - 10 * np.log10(
            np.maximum(residual, TINY)
        )
    value = np.where(est_energy <= TINY, -clamp_db, value)  # a silent estimate
    return np.clip(value, -clamp_db, clamp_db)


def pit_assignment(si_snr: np.ndarray) -> np.ndarray:
    """``(K,)`` estimate index of each reference: the one-to-one matching of max summed SI-SNR.

    Args:
        si_snr: ``(K, M)`` pairwise SI-SNR, ``M >= K``.
    """
    rows, cols = linear_sum_assignment(si_snr, maximize=True)
    assignment = np.empty(si_snr.shape[0], dtype=np.int64)
    assignment[rows] = cols
    return assignment


def remix_assignment(
    refs: np.ndarray, ests: np.ndarray, clamp_db: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """Best many-to-one assignment of the estimates to the references, and its SI-SNRs.

    Args:
        refs: ``(K, T)``; ests: ``(M, T)``.

    Returns:
        ``((M,) reference index of each estimate, (K,) SI-SNR of each reference against
        the sum of its estimates)``; the assignment maximises the mean of the latter.
    """
    num_refs, num_ests = refs.shape[0], ests.shape[0]
    if num_refs**num_ests > MAX_REMIX_ASSIGNMENTS:
        raise MetricInputError(
            f"remix assignment: {num_refs}^{num_ests} assignments exceed the exhaustive "
            f"search limit {MAX_REMIX_ASSIGNMENTS}"
        )
    refs = refs - refs.mean(axis=-1, keepdims=True)
    ests = ests - ests.mean(axis=-1, keepdims=True)
    dots = refs @ ests.T  # (K, M)
    gram = ests @ ests.T  # (M, M)
    ref_energy = np.sum(refs**2, axis=-1)  # (K,)
    candidates = np.array(list(itertools.product(range(num_refs), repeat=num_ests)))  # (P, M)
    one_hot = (candidates[:, None, :] == np.arange(num_refs)[None, :, None]).astype(float)
    group_dots = np.einsum("pkm,km->pk", one_hot, dots)  # <Σ_group ŝ, s_k>
    group_energy = np.einsum("pkm,mn,pkn->pk", one_hot, gram, one_hot)  # ‖Σ_group ŝ‖²
    scores = _si_snr_from_stats(group_dots, ref_energy[None, :], group_energy, clamp_db)
    best = int(np.argmax(scores.mean(axis=1)))
    return candidates[best], scores[best]


def score_example(
    refs: np.ndarray,
    ests: np.ndarray,
    mix: np.ndarray,
    threshold_db: float = -20.0,
    clamp_db: float = 100.0,
    key: str = "?",
) -> dict:
    """Every FUSS quantity of one example.

    Args:
        refs: ``(K, T)`` true sources; ests: ``(M, T)`` estimates; mix: ``(T,)`` mixture.
        threshold_db: activity threshold relative to the quietest reference's power.
        key: example id for error messages.

    Returns:
        ``num_sources`` K, ``num_estimates`` M, ``num_active``, ``over``/``under``/
        ``equal`` (bool), and per reference (lists of K): ``pit_index``, ``pit_active``,
        ``si_snr``, ``si_snr_mix``, ``si_snri``, ``remix_si_snr``, ``remix_si_snri``;
        ``remix_groups`` (M,) the reference of each estimate, ``active`` (M,) whether each
        estimate is active.

    Raises:
        MetricInputError: bad shapes, a silent reference, non-finite values, M < K.
    """
    _check_example(refs, ests, mix, key)
    num_refs = refs.shape[0]
    refs, ests, mix = (x.astype(np.float64) for x in (refs, ests, mix))
    si_snr = pairwise_si_snr(refs, ests, clamp_db)  # (K, M)
    assignment = pit_assignment(si_snr)
    ref_power = np.mean(refs**2, axis=-1)
    est_power = np.mean(ests**2, axis=-1)
    active = est_power > ref_power.min() * 10 ** (threshold_db / 10)
    mix_si_snr = pairwise_si_snr(refs, mix[None], clamp_db)[:, 0]  # (K,)
    groups, remix_si_snr = remix_assignment(refs, ests, clamp_db)
    num_active = int(active.sum())
    pair_si_snr = si_snr[np.arange(num_refs), assignment]
    return {
        "num_sources": num_refs,
        "num_estimates": ests.shape[0],
        "num_active": num_active,
        "active": active.tolist(),
        "over": num_active > num_refs,
        "under": num_active < num_refs,
        "equal": num_active == num_refs,
        "pit_index": assignment.tolist(),
        "pit_active": active[assignment].tolist(),
        "si_snr": pair_si_snr.tolist(),
        "si_snr_mix": mix_si_snr.tolist(),
        "si_snri": (pair_si_snr - mix_si_snr).tolist(),
        "remix_groups": groups.tolist(),
        "remix_si_snr": remix_si_snr.tolist(),
        "remix_si_snri": (remix_si_snr - mix_si_snr).tolist(),
    }


def _check_example(refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, key: str) -> None:
    if refs.ndim != 2 or ests.ndim != 2 or mix.ndim != 1:
        raise MetricInputError(
            f"{key}: expected references (K, T), estimates (M, T), mixture (T,); got "
            f"{refs.shape}, {ests.shape}, {mix.shape}"
        )
    if not refs.shape[1] == ests.shape[1] == mix.shape[0]:
        raise MetricInputError(
            f"{key}: lengths differ: references {refs.shape[1]}, estimates {ests.shape[1]}, "
            f"mixture {mix.shape[0]} samples"
        )
    if ests.shape[0] < refs.shape[0]:
        raise MetricInputError(
            f"{key}: {refs.shape[0]} references but only {ests.shape[0]} estimates; the "
            "FUSS metrics need M >= K"
        )
    for name, x in (("reference", refs), ("estimate", ests), ("mixture", mix)):
        if not np.all(np.isfinite(x)):
            raise MetricInputError(f"{key}: a {name} holds NaN or Inf")
    silent = np.flatnonzero(~np.any(refs != 0, axis=-1))
    if silent.size:
        raise MetricInputError(f"{key}: reference source {int(silent[0]) + 1} is all zeros")


def summarize(rows: list[dict]) -> dict:
    """FUSS summary of scored examples (means over pairs; see the module doc).

    Returns keys ``num_examples``, ``num_single``, ``num_multi``, ``one_source_si_snr``
    (1S), ``msi`` (MSi), ``msi_<K>`` per source count, their ``*_all_pairs`` variants,
    ``remix_one_source_si_snr``, ``remix_msi``, ``over_separation_single/multi``,
    ``under_separation_single/multi``, ``mean_active_single/multi``, ``inactive_pairs``,
    ``si_snr_mix_multi``. A mean over nothing is None. Every mean ``<name>`` of
    :data:`WITH_STDERR` also has ``<name>_n`` (values averaged: pairs or examples) and
    ``<name>_stderr`` (standard error of the mean, None for fewer than two values).
    """
    if not rows:
        raise MetricInputError("no examples to summarize")
    single = [r for r in rows if r["num_sources"] == 1]
    multi = [r for r in rows if r["num_sources"] > 1]
    values: dict[str, list[float]] = {
        "one_source_si_snr": _pair_values(single, "si_snr", active_only=True),
        "one_source_si_snr_all_pairs": _pair_values(single, "si_snr", active_only=False),
        "msi": _pair_values(multi, "si_snri", active_only=True),
        "msi_all_pairs": _pair_values(multi, "si_snri", active_only=False),
    }
    for count in sorted({r["num_sources"] for r in multi}):
        subset = [r for r in multi if r["num_sources"] == count]
        values[f"msi_{count}"] = _pair_values(subset, "si_snri", active_only=True)
    values["remix_one_source_si_snr"] = _pair_values(single, "remix_si_snr", active_only=False)
    values["remix_msi"] = _pair_values(multi, "remix_si_snri", active_only=False)
    values["si_snr_mix_multi"] = _pair_values(multi, "si_snr_mix", active_only=False)
    for name, subset in (("single", single), ("multi", multi)):
        values[f"over_separation_{name}"] = [float(r["over"]) for r in subset]
        values[f"under_separation_{name}"] = [float(r["under"]) for r in subset]
        values[f"mean_active_{name}"] = [float(r["num_active"]) for r in subset]
    out: dict = {"num_examples": len(rows), "num_single": len(single), "num_multi": len(multi),
                 "num_estimates": rows[0]["num_estimates"]}
    for name, vals in values.items():
        n, mean, stderr = mean_stderr(vals)
        out[name] = None if n == 0 else mean
        if name in WITH_STDERR:
            out[f"{name}_n"] = n
            out[f"{name}_stderr"] = None if math.isnan(stderr) else stderr
    out["inactive_pairs"] = sum(not a for r in rows for a in r["pit_active"])
    return out


# The means reported with n and standard error (results/summary.tsv of the MixIT recipe).
WITH_STDERR = ("one_source_si_snr", "msi", "msi_all_pairs", "over_separation_single",
               "over_separation_multi", "under_separation_multi")


def _pair_values(rows: list[dict], name: str, active_only: bool) -> list[float]:
    return [v for r in rows for v, a in zip(r[name], r["pit_active"], strict=True)
            if a or not active_only]
