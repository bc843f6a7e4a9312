"""GCC-PHAT time differences and DOA estimates: what the feature-suppression model changes.

The spatial cue that FEABASE suppresses is the difference between the directions of
the two sources. This module measures it on source images ``(C, T)`` of a circular
array:

* :func:`relative_delays` — GCC-PHAT delay of every mic relative to a reference mic,
  in samples (the paper's Fig. 4 "arrival order" per channel);
* :func:`estimate_doa` — azimuth by steered response power over all mic pairs
  (SRP-PHAT: the sum of the pairs' GCC-PHAT at the lags a plane wave from each
  candidate direction would give);
* :func:`angle_stats_for_dir` / :func:`summarize` — per utterance, the angle between
  the two sources of a data dir and the share of pairs closer than 20 degrees.

Why not ``pyroomacoustics.doa``: its SRP/MUSIC classes take an STFT and a grid and
return only the direction; here the same GCC-PHAT cross-spectra also give the per-mic
delays of the figure, and the GAN's outputs need not be physically consistent, so the
raw pairwise delays are worth having. The estimator is the plain SRP-PHAT of
DiBiase et al., evaluated in closed form on a cross-power spectrum averaged over STFT
frames (loud frames weigh more than silent ones). The tests check it against
pyroomacoustics simulations.

Angle differences do not depend on how the array is rotated, so the default geometry
(6 mics, radius 7.25 cm, mic 0 on the x axis, counter-clockwise as in
``pyroomacoustics.circular_2D_array``) is right for any rotation of the real array.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.augment.audio_io import read_audio, read_scp
from sepplug.datadir.kaldi_dir import read_table

logger = logging.getLogger(__name__)

SPEED_OF_SOUND = 343.0
DEFAULT_RADIUS = 0.0725
DEFAULT_MICS = 6
CLOSE_ANGLE_DEG = 20.0


@dataclass(frozen=True)
class ArrayGeometry:
    """Mic positions in metres, shape ``(C, 2)`` (horizontal plane; the sources are
    at the array's height in SpatialVCTK, so azimuth is all there is)."""

    mic_xy: np.ndarray

    @property
    def n_mics(self) -> int:
        return int(self.mic_xy.shape[0])

    @property
    def max_delay_s(self) -> float:
        """Largest possible delay between two mics (their largest distance / c)."""
        diff = self.mic_xy[:, None, :] - self.mic_xy[None, :, :]
        return float(np.max(np.linalg.norm(diff, axis=-1))) / SPEED_OF_SOUND

    @classmethod
    def circular(
        cls, n_mics: int = DEFAULT_MICS, radius: float = DEFAULT_RADIUS, phi0: float = 0.0
    ) -> ArrayGeometry:
        """Uniform circular array, mic m at angle ``phi0 + 2*pi*m/n_mics``."""
        phi = phi0 + 2 * np.pi * np.arange(n_mics) / n_mics
        return cls(radius * np.stack([np.cos(phi), np.sin(phi)], axis=1))


def geometry_from_meta(record: dict, n_mics: int) -> ArrayGeometry | None:
    """The array of one SpatialVCTK ``meta.jsonl`` record (``scene.array``), if it has ``n_mics``.

    The simulator (``sepplug.recipes.spatialvctk.simulate``) writes ``scene.array = {center,
    radius, num_mics}``
    for a uniform circular array with mic 0 at angle 0 (``sepplug.simulate.room.mic_positions``).
    """
    array = (record.get("scene") or {}).get("array")
    if not isinstance(array, dict) or not isinstance(array.get("radius"), int | float):
        return None
    if int(array.get("num_mics", n_mics)) != n_mics:
        return None
    return ArrayGeometry.circular(n_mics, float(array["radius"]))


def load_geometry(data_dir: Path | str, n_mics: int) -> ArrayGeometry:
    """Array of ``<data_dir>/meta.jsonl`` if it describes one, else the SpatialVCTK default."""
    meta = Path(data_dir) / "meta.jsonl"
    if meta.is_file():
        with open(meta, encoding="utf-8") as f:
            first = f.readline().strip()
        if first:
            try:
                geometry = geometry_from_meta(json.loads(first), n_mics)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{meta}: line 1 is not JSON: {exc}") from exc
            if geometry is not None:
                return geometry
        logger.info("%s has no %d-mic array geometry; using a circular array of radius %g m",
                    meta, n_mics, DEFAULT_RADIUS)
    if n_mics == 1:
        raise ValueError("a direction needs at least 2 microphones")
    return ArrayGeometry.circular(n_mics, DEFAULT_RADIUS)


# ----------------------------------------------------------------------------- GCC-PHAT
def phat_cross_spectra(
    mc: np.ndarray, n_fft: int = 1024, hop: int | None = None, eps: float = 1e-12
) -> np.ndarray:
    """PHAT-weighted cross-power spectra of all mic pairs.

    Args:
        mc: one source at all mics, ``(C, T)``.
    Returns:
        ``(C, C, F)`` complex, ``R[i, j, f] = G_ij / |G_ij|`` with ``G_ij`` the cross-power
        spectrum of mics i and j summed over STFT frames (Hann window, ``F = n_fft//2+1``).
        ``R[i, j]`` correlates to a peak at the delay of mic i relative to mic j.
    """
    mc = np.asarray(mc, dtype=np.float64)
    if mc.ndim != 2:
        raise ValueError(f"expected (C, T) audio, got shape {mc.shape}")
    hop = hop or n_fft // 2
    n_mics, n_samples = mc.shape
    if n_samples < n_fft:
        mc = np.pad(mc, ((0, 0), (0, n_fft - n_samples)))
        n_samples = n_fft
    n_frames = 1 + (n_samples - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = mc[:, idx] * np.hanning(n_fft)  # (C, N, n_fft)
    spec = np.fft.rfft(frames, axis=-1)  # (C, N, F)
    cross = np.einsum("inf,jnf->ijf", spec, spec.conj())
    return cross / (np.abs(cross) + eps)


def gcc_at_lags(cross: np.ndarray, lags: np.ndarray, n_fft: int) -> np.ndarray:
    """Evaluate GCC at arbitrary (fractional) lags, in closed form.

    Args:
        cross: ``(..., F)`` PHAT cross-spectra (from :func:`phat_cross_spectra`).
        lags: lags in samples, ``(..., L)`` broadcastable against ``cross[..., None, :]``.
    Returns:
        ``(..., L)`` correlation (1 at a perfect match).
    """
    n_freq = cross.shape[-1]
    omega = 2 * np.pi * np.arange(n_freq) / n_fft
    # Weights of a real signal's one-sided spectrum (DC and Nyquist once, the rest twice).
    weight = np.full(n_freq, 2.0)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    phase = np.exp(1j * np.asarray(lags)[..., None] * omega)  # (..., L, F)
    return np.real(np.einsum("...f,...lf->...l", cross * weight, phase)) / n_fft


def relative_delays(
    mc: np.ndarray,
    fs: int,
    ref_mic: int = 0,
    max_delay_s: float | None = None,
    resolution: float = 0.05,
    n_fft: int = 1024,
) -> np.ndarray:
    """GCC-PHAT delay of each mic relative to ``ref_mic``, in samples.

    Args:
        mc: one source at all mics, ``(C, T)``.
        max_delay_s: search range (default: ``max(2 ms, n_fft/4 samples)`` capped at
            ``n_fft/2``; an array's largest delay is well below).
        resolution: lag grid step, in samples.
    Returns:
        ``(C,)`` float: ``d[m] > 0`` when the sound reaches mic m after ``ref_mic``
        (``d[ref_mic] == 0``).
    """
    max_lag = n_fft / 4 if max_delay_s is None else max_delay_s * fs
    max_lag = min(max_lag, n_fft / 2)
    cross = phat_cross_spectra(mc, n_fft=n_fft)[:, ref_mic]  # (C, F)
    # Integer lags over the whole range, then a fine grid within one sample of the peak.
    coarse = np.arange(-np.floor(max_lag), np.floor(max_lag) + 1)
    best = coarse[np.argmax(gcc_at_lags(cross, coarse[None, :], n_fft), axis=-1)]  # (C,)
    fine = best[:, None] + np.arange(-1.0, 1.0 + resolution / 2, resolution)[None, :]
    fine = np.clip(fine, -max_lag, max_lag)
    cc = gcc_at_lags(cross, fine, n_fft)  # (C, L)
    return fine[np.arange(len(fine)), np.argmax(cc, axis=-1)]


# ------------------------------------------------------------------------------ SRP-PHAT
def srp_phat_map(
    mc: np.ndarray,
    fs: int,
    geometry: ArrayGeometry,
    azimuths_deg: np.ndarray | None = None,
    n_fft: int = 1024,
    freq_range: tuple[float, float] = (100.0, 8000.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Steered response power over azimuth, far field.

    Args:
        mc: one source at all mics, ``(C, T)``; ``C == geometry.n_mics``.
    Returns:
        ``(azimuths_deg (A,), power (A,))``.
    """
    if mc.shape[0] != geometry.n_mics:
        raise ValueError(f"audio has {mc.shape[0]} channels, the array {geometry.n_mics} mics")
    if azimuths_deg is None:
        azimuths_deg = np.arange(0.0, 360.0, 1.0)
    cross = phat_cross_spectra(mc, n_fft=n_fft)  # (C, C, F)
    freqs = np.arange(cross.shape[-1]) * fs / n_fft
    cross = cross * ((freqs >= freq_range[0]) & (freqs <= freq_range[1]))
    i, j = np.triu_indices(geometry.n_mics, k=1)
    theta = np.deg2rad(azimuths_deg)
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=0)  # (2, A)
    # A plane wave from direction u reaches mic i at -r_i.u/c: delay of i relative to j.
    tdoa = -((geometry.mic_xy[i] - geometry.mic_xy[j]) @ direction) * fs / SPEED_OF_SOUND
    power = gcc_at_lags(cross[i, j], tdoa, n_fft).sum(axis=0)  # (A,)
    return azimuths_deg, power


def estimate_doa(mc: np.ndarray, fs: int, geometry: ArrayGeometry, **kwargs) -> float:
    """Azimuth in degrees ``[0, 360)`` of the single source in ``mc`` ``(C, T)``.

    Grid search at 1 degree, refined to 0.1 degree around the peak.
    """
    coarse, power = srp_phat_map(mc, fs, geometry, **kwargs)
    best = coarse[int(np.argmax(power))]
    fine, power = srp_phat_map(mc, fs, geometry, np.arange(best - 1.0, best + 1.0, 0.1), **kwargs)
    return float(fine[int(np.argmax(power))] % 360.0)


def angle_between(a_deg: float | np.ndarray, b_deg: float | np.ndarray) -> np.ndarray:
    """Smallest absolute difference of two azimuths, in ``[0, 180]`` degrees."""
    d = np.abs((np.asarray(a_deg) - np.asarray(b_deg)) % 360.0)
    return np.minimum(d, 360.0 - d)


def source_pair_angle(
    spk1_mc: np.ndarray, spk2_mc: np.ndarray, fs: int, geometry: ArrayGeometry, **kwargs
) -> tuple[float, float, float]:
    """DOA of each source image ``(C, T)`` and the angle between them, degrees."""
    doa1 = estimate_doa(spk1_mc, fs, geometry, **kwargs)
    doa2 = estimate_doa(spk2_mc, fs, geometry, **kwargs)
    return doa1, doa2, float(angle_between(doa1, doa2))


# ------------------------------------------------------------------------------ data dirs
def _parse_angle(value: str) -> float | None:
    """``utt2angle`` value: one difference, or two azimuths (their difference is taken)."""
    try:
        numbers = [float(v) for v in value.replace(",", " ").split()]
    except ValueError:
        return None
    if len(numbers) == 1:
        return float(angle_between(numbers[0], 0.0))
    if len(numbers) == 2:
        return float(angle_between(numbers[0], numbers[1]))
    return None


def angle_stats_for_dir(
    data_dir: Path | str,
    geometry: ArrayGeometry | None = None,
    max_utts: int | None = None,
    categories: Iterable[str] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Estimate the angle between the two sources of every utterance of a data dir.

    Reads ``spk1_mc.scp`` and ``spk2_mc.scp`` (and ``utt2category``/``utt2angle`` when
    present). Returns one dict per utterance: ``utt, category, doa1, doa2, angle``
    (estimated, degrees) and ``true_angle`` (from ``utt2angle``, or None).
    """
    from tqdm import tqdm

    data_dir = Path(data_dir)
    spk1 = read_scp(data_dir / "spk1_mc.scp")
    spk2 = read_scp(data_dir / "spk2_mc.scp")
    cats = read_table(data_dir / "utt2category") if (data_dir / "utt2category").is_file() else {}
    angles = read_table(data_dir / "utt2angle") if (data_dir / "utt2angle").is_file() else {}
    wanted = set(categories) if categories else None
    utts = [u for u in sorted(spk1) if wanted is None or cats.get(u) in wanted]
    missing = [u for u in utts if u not in spk2]
    if missing:
        raise ValueError(f"{data_dir / 'spk2_mc.scp'} has no entry for '{missing[0]}'")
    if max_utts is not None:
        utts = utts[:max_utts]
    rows = []
    for utt in tqdm(utts, desc=f"DOA {data_dir}", disable=not progress):
        s1, fs = read_audio(spk1[utt], key=utt, source=data_dir / "spk1_mc.scp")
        s2, fs2 = read_audio(spk2[utt], key=utt, source=data_dir / "spk2_mc.scp")
        if fs != fs2 or s1.shape[1] != s2.shape[1]:
            raise ValueError(f"{data_dir}: '{utt}' spk1_mc is {s1.shape[1]} ch @ {fs} Hz, "
                             f"spk2_mc {s2.shape[1]} ch @ {fs2} Hz")
        if geometry is None:
            geometry = load_geometry(data_dir, s1.shape[1])
        doa1, doa2, angle = source_pair_angle(s1.T, s2.T, fs, geometry)
        rows.append({"utt": utt, "category": cats.get(utt, "-"), "doa1": doa1, "doa2": doa2,
                     "angle": angle, "true_angle": _parse_angle(angles.get(utt, ""))})
    return rows


def summarize(rows: Sequence[dict], threshold_deg: float = CLOSE_ANGLE_DEG) -> dict:
    """Count, median estimated angle, share of pairs below ``threshold_deg`` (estimated
    and, where ``utt2angle`` gave one, true) and the median estimation error."""
    est = np.array([r["angle"] for r in rows], dtype=float)
    true = np.array([r["true_angle"] for r in rows if r["true_angle"] is not None], dtype=float)
    err = np.array([abs(r["angle"] - r["true_angle"]) for r in rows
                    if r["true_angle"] is not None], dtype=float)
    nan = float("nan")
    return {
        "n": len(rows),
        "median_angle": float(np.median(est)) if len(est) else nan,
        "share_close": float(np.mean(est < threshold_deg)) if len(est) else nan,
        "share_close_true": float(np.mean(true < threshold_deg)) if len(true) else nan,
        "median_error": float(np.median(err)) if len(err) else nan,
    }
