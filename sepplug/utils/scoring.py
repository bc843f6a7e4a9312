"""Per-utterance separation metrics: SI-SDR, SDR and their improvements.

Metrics come from ``fast_bss_eval`` (BSS-Eval v4 SDR with a 512-tap distortion
filter; SI-SDR of Le Roux et al. with zero-mean signals), plus the scale-dependent SDR of
Le Roux et al. ("SDR - half-baked or well done?", eq. 7): SD-SDR = 10 log10(|a s|^2 /
|s - s_hat|^2), a = <s_hat, s> / |s|^2, which also penalises a wrong output level (the
model-selection paper's metric; score outputs that keep their level). The improvement is
taken against the unprocessed mixture at the reference microphone, scored with
the same permutation as the estimates. :func:`score_si_sdr` gives the SI-SDR part only (no
BSS-Eval SDR: much faster), for tools that score many models or checkpoints.
"""

from __future__ import annotations

import fast_bss_eval
import numpy as np


def _check_shapes(refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, key: str) -> None:
    if refs.ndim != 2 or ests.ndim != 2 or mix.ndim != 1:
        raise ValueError(
            f"{key}: expected refs (S, T), estimates (S, T), mixture (T,); got "
            f"{refs.shape}, {ests.shape}, {mix.shape}"
        )
    if refs.shape[0] != ests.shape[0]:
        raise ValueError(f"{key}: {refs.shape[0]} references but {ests.shape[0]} estimates")


def score_si_sdr(
    refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, key: str = "?"
) -> dict[str, float]:
    """SI-SDR only (no BSS-Eval SDR: fast), as :func:`score_utterance` scores it.

    Args and conventions as :func:`score_utterance` (zero mean, clamped at 100 dB, the
    estimates in their best permutation).

    Returns:
        ``si_sdr``, ``si_sdr_mix``, ``si_sdri``: each the mean over the S sources.
    """
    return _si_sdr_pit(*_prepare(refs, ests, mix, key))[0]


def score_utterance(
    refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, key: str = "?"
) -> dict[str, float]:
    """Score one utterance.

    Args:
        refs: reference sources at the reference mic, (S, T).
        ests: estimated sources, (S, T') — trimmed/padded to T.
        mix: mixture at the reference mic, (T'',) — trimmed/padded to T.
        key: utterance id, used in error messages.

    Returns:
        ``si_sdr``, ``si_sdr_mix``, ``si_sdri``, ``sdr``, ``sdr_mix``, ``sdri``,
        ``sd_sdr``, ``sd_sdr_mix``, ``sd_sdri``: each the mean over the S sources (best
        SI-SDR permutation for the estimates).
    """
    refs64, ests64, mix_rep = _prepare(refs, ests, mix, key)
    si, perm = _si_sdr_pit(refs64, ests64, mix_rep)
    sdr = fast_bss_eval.sdr(refs64, ests64[perm], clamp_db=100)
    # The mixture is the same signal for every source: score it per source, no permutation.
    sdr_mix = fast_bss_eval.sdr(refs64, mix_rep, clamp_db=100)
    out = {
        "si_sdr": si["si_sdr"],
        "si_sdr_mix": si["si_sdr_mix"],
        "sdr": float(np.mean(sdr)),
        "sdr_mix": float(np.mean(sdr_mix)),
        "sd_sdr": float(np.mean(sd_sdr(refs64, ests64[perm]))),
        "sd_sdr_mix": float(np.mean(sd_sdr(refs64, mix_rep))),
    }
    out["si_sdri"] = si["si_sdri"]
    out["sdri"] = out["sdr"] - out["sdr_mix"]
    out["sd_sdri"] = out["sd_sdr"] - out["sd_sdr_mix"]
    return out


def _prepare(
    refs: np.ndarray, ests: np.ndarray, mix: np.ndarray, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked float64 ``refs`` (S, T), ``ests`` fitted to (S, T), the fitted mixture
    repeated for every source (S, T)."""
    _check_shapes(refs, ests, mix, key)
    length = refs.shape[1]
    refs64 = refs.astype(np.float64)
    if not np.all(np.any(refs64 != 0, axis=1)):
        raise ValueError(f"{key}: a reference source is all zeros")
    mix = _fit(mix[None], length)[0]
    mix_rep = np.repeat(mix[None].astype(np.float64), refs.shape[0], axis=0)
    return refs64, _fit(ests, length).astype(np.float64), mix_rep


def _si_sdr_pit(
    refs64: np.ndarray, ests64: np.ndarray, mix_rep: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """SI-SDR of the estimates in their best permutation and of the mixture; the
    permutation."""
    si_sdr, perm = fast_bss_eval.si_sdr(
        refs64, ests64, zero_mean=True, clamp_db=100, return_perm=True
    )
    si_sdr_mix = fast_bss_eval.si_sdr(refs64, mix_rep, zero_mean=True, clamp_db=100)
    out = {"si_sdr": float(np.mean(si_sdr)), "si_sdr_mix": float(np.mean(si_sdr_mix))}
    out["si_sdri"] = out["si_sdr"] - out["si_sdr_mix"]
    return out, perm


def sd_sdr(refs: np.ndarray, ests: np.ndarray, clamp_db: float = 100.0) -> np.ndarray:
    """Scale-dependent SDR (dB) of each source: refs, ests (S, T) -> (S,).

    Written here because fast_bss_eval has SI-SDR and BSS-Eval SDR but not SD-SDR.
    """
    energy = np.sum(refs**2, axis=-1)
    alpha = np.sum(ests * refs, axis=-1) / energy
    error = np.sum((refs - ests) ** 2, axis=-1)
    ratio = alpha**2 * energy / np.maximum(error, energy * 10 ** (-clamp_db / 10))
    return 10 * np.log10(np.maximum(ratio, 10 ** (-clamp_db / 10)))


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis of (S, T) to ``length``."""
    if x.shape[1] >= length:
        return x[:, :length]
    return np.pad(x, ((0, 0), (0, length - x.shape[1])))


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean and median of every metric over utterances."""
    if not rows:
        raise ValueError("no utterances to summarize")
    out: dict[str, float] = {"num_utts": len(rows)}
    for name in rows[0]:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_median"] = float(np.median(values))
    return out
