"""Environmental sources: five UrbanSound8K classes, synthesised procedurally or read from disk.

The paper uses five UrbanSound8K classes it deems separable: car horn, dog bark, gun shot,
jackhammer and siren. UrbanSound8K cannot be downloaded here, so each class has a
procedural synthesiser with random parameters (:data:`SYNTHESISERS`); every call
``render(name, rng, fs, num_samples)`` draws new parameters from ``rng`` and returns the
clip and the parameters it used. Events start at random times (as Scaper places events),
never later than the clip allows to hear them.

With a real UrbanSound8K dir, :func:`scan_urbansound` reads
``metadata/UrbanSound8K.csv`` and ``audio/fold<N>/`` (folds 1-8 train, 9 dev, 10 test, as
in the paper) and :func:`read_clip` reads a clip cropped or zero-padded to the segment.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from sepplug.errors import DataError

CLASSES = ("car_horn", "dog_bark", "gun_shot", "jackhammer", "siren")
#: UrbanSound8K folds of each split (the paper's choice)
URBANSOUND_FOLDS = {"train": tuple(range(1, 9)), "dev": (9,), "test": (10,)}
URBANSOUND_CSV = Path("metadata") / "UrbanSound8K.csv"
PEAK = 0.5  # peak of every synthesised clip (the mixer rescales anyway)


def _r(x: float) -> float:
    return round(float(x), 4)


def _nyquist_safe(freq: float, fs: int) -> float:
    return min(freq, 0.45 * fs)


def _bandpass(x: np.ndarray, fs: int, low: float, high: float, order: int = 2) -> np.ndarray:
    high = _nyquist_safe(high, fs)
    low = min(low, 0.8 * high)
    sos = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def _lowpass(x: np.ndarray, fs: int, cutoff: float, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, _nyquist_safe(cutoff, fs), btype="lowpass", fs=fs, output="sos")
    return signal.sosfilt(sos, x)


def _resonator(x: np.ndarray, fs: int, freq: float, bandwidth: float) -> np.ndarray:
    """A two-pole resonance (a formant) at ``freq`` Hz, unit gain at the peak."""
    freq = _nyquist_safe(freq, fs)
    r = np.exp(-np.pi * bandwidth / fs)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / fs), r * r]
    return signal.lfilter([1 - r], a, x)


def _harmonic_tone(f0: np.ndarray, fs: int, rolloff: float, odd_only: bool = False,
                   phase0: float = 0.0) -> np.ndarray:
    """Band-limited harmonic tone following the frequency track ``f0`` (Hz, per sample);
    harmonic ``k`` has amplitude ``k**-rolloff``; harmonics above 0.45 fs are left out."""
    phase = 2 * np.pi * np.cumsum(f0) / fs + phase0
    out = np.zeros_like(f0)
    top = f0.max()
    for k in range(1, int(0.45 * fs / top) + 1):
        if odd_only and k % 2 == 0:
            continue
        out += np.sin(k * phase) * k**-rolloff
    return out


def _envelope(n: int, fs: int, attack: float, release: float) -> np.ndarray:
    """Linear attack / release of an ``n``-sample event."""
    env = np.ones(n)
    a = min(n, max(1, int(attack * fs)))
    r = min(n, max(1, int(release * fs)))
    env[:a] *= np.arange(a) / a
    env[n - r :] *= np.linspace(1, 0, r)
    return env


def _add(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event`` at ``start``, cut at the clip's end."""
    if start >= out.shape[0]:
        return
    end = min(out.shape[0], start + event.shape[0])
    out[start:end] += event[: end - start]


def _finish(audio: np.ndarray) -> np.ndarray:
    peak = np.abs(audio).max()
    if not np.isfinite(peak) or peak < 1e-9:
        raise RuntimeError("an environmental synthesiser produced silence or non-finite audio")
    return audio * (PEAK / peak)


def car_horn(rng: np.random.Generator, fs: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Honks of one or two harmonic tones (a third apart), each doubled by a detuned copy
    that beats at 1-6 Hz, softly saturated, through a horn resonance; 1-3 honks with short
    attack and release, a small pitch droop at onset."""
    f0 = rng.uniform(300, 480)
    two_tone = bool(rng.random() < 0.7)
    ratio = float(rng.choice([1.19, 1.26])) * rng.uniform(0.98, 1.02)
    beat = rng.uniform(1.0, 6.0)
    rolloff = rng.uniform(0.6, 1.2)
    drive = rng.uniform(1.0, 4.0)
    body = rng.uniform(1500, 3000)
    clip = n / fs
    num_honks = int(rng.integers(1, 4))
    t = rng.uniform(0, 0.3 * clip)
    honks = []
    out = np.zeros(n)
    for _ in range(num_honks):
        length = rng.uniform(0.15, min(1.2, max(0.2, clip - t)))
        m = max(int(length * fs), 8)
        droop = 1 - 0.03 * np.exp(-np.arange(m) / (0.03 * fs))
        tone = np.zeros(m)
        tones = [f0, f0 * ratio] if two_tone else [f0]
        for f in tones:
            for detune in (0.0, beat):
                tone += _harmonic_tone(np.full(m, f + detune) * droop, fs, rolloff,
                                       phase0=rng.uniform(0, 2 * np.pi))
        tone = np.tanh(drive * tone / np.abs(tone).max())
        tone = tone + 0.8 * _resonator(tone, fs, body, 600)
        tone *= _envelope(m, fs, rng.uniform(0.005, 0.02), rng.uniform(0.02, 0.06))
        _add(out, tone, int(t * fs))
        honks.append([_r(t), _r(length)])
        t += length + rng.uniform(0.08, 0.3)
        if t > clip - 0.1:
            break
    return _finish(out), {"f0": _r(f0), "two_tone": two_tone, "ratio": _r(ratio),
                          "beat_hz": _r(beat), "rolloff": _r(rolloff), "drive": _r(drive),
                          "body_hz": _r(body), "honks": honks}


def dog_bark(rng: np.random.Generator, fs: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Barks: a harmonic source plus noise whose pitch rises fast and falls (a dog-size
    dependent start pitch of 250-600 Hz), through three formant resonances, with a sharp
    attack and exponential decay; 1-4 barks 0.12-0.5 s apart."""
    pitch = rng.uniform(250, 600)
    rise = rng.uniform(1.3, 1.8)
    noise_mix = rng.uniform(0.2, 0.6)
    formants = [rng.uniform(500, 900), rng.uniform(1100, 1800), rng.uniform(2300, 3200)]
    clip = n / fs
    num_barks = int(rng.integers(1, 5))
    t = rng.uniform(0, 0.4 * clip)
    out = np.zeros(n)
    barks = []
    for _ in range(num_barks):
        length = rng.uniform(0.08, 0.25)
        m = int(length * fs)
        x = np.linspace(0, 1, m)
        contour = pitch * np.interp(x, [0, 0.3, 1], [1.0, rise, 0.7]) * rng.uniform(0.9, 1.1)
        source = _harmonic_tone(contour, fs, 1.0) + noise_mix * 3 * rng.standard_normal(m)
        voiced = sum(_resonator(source, fs, f, 150 + 0.1 * f) * g
                     for f, g in zip(formants, (1.0, 0.7, 0.4), strict=True))
        decay = rng.uniform(0.04, 0.12)
        env = np.minimum(1, np.arange(m) / (rng.uniform(0.005, 0.015) * fs))
        env *= np.exp(-np.maximum(0, x * length - 0.03) / decay)
        _add(out, voiced * env * rng.uniform(0.6, 1.0), int(t * fs))
        barks.append([_r(t), _r(length)])
        t += length + rng.uniform(0.12, 0.5)
        if t > clip - 0.1:
            break
    return _finish(out), {"pitch": _r(pitch), "rise": _r(rise), "noise_mix": _r(noise_mix),
                          "formants": [_r(f) for f in formants], "barks": barks}


def gun_shot(rng: np.random.Generator, fs: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Shots: an impulsive noise blast (3-15 ms decay, low-passed) with a low boom
    (a damped 60-150 Hz sinusoid), convolved with a synthetic reverb tail (exponentially
    decaying low-passed noise, RT60 0.3-1.5 s) and sometimes a discrete echo; a single
    shot, 2-3 shots, or an automatic burst of 3-6 at 8-14 Hz."""
    clip = n / fs
    kind = str(rng.choice(["single", "few", "burst"], p=[0.55, 0.3, 0.15]))
    blast_decay = rng.uniform(0.003, 0.015)
    cutoff = rng.uniform(1500, 4000)
    boom_hz = rng.uniform(60, 150)
    boom_decay = rng.uniform(0.03, 0.08)
    rt60 = rng.uniform(0.3, 1.5)
    wet = rng.uniform(0.1, 0.5)
    echo = bool(rng.random() < 0.4)
    echo_delay, echo_gain = rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.5)
    t0 = rng.uniform(0, 0.5 * clip)
    if kind == "single":
        times = [t0]
    elif kind == "few":
        times = list(t0 + np.cumsum([0, *rng.uniform(0.25, 0.6, int(rng.integers(1, 3)))]))
    else:
        rate = rng.uniform(8, 14)
        times = list(t0 + np.arange(int(rng.integers(3, 7))) / rate)
    m = int(0.2 * fs)
    k = np.arange(m) / fs
    dry = np.zeros(n)
    for t in times:
        blast = _lowpass(rng.standard_normal(m) * np.exp(-k / blast_decay), fs, cutoff)
        boom = np.sin(2 * np.pi * boom_hz * k) * np.exp(-k / boom_decay)
        _add(dry, (blast / np.abs(blast).max() + 0.6 * boom) * rng.uniform(0.8, 1.0),
             int(t * fs))
    tail_len = int(min(rt60, 1.5) * fs)
    kt = np.arange(tail_len) / fs
    rir = _lowpass(rng.standard_normal(tail_len), fs, rng.uniform(800, 3000))
    rir *= np.exp(-6.9 * kt / rt60)  # -60 dB at rt60
    rir = wet * rir / np.sqrt(np.sum(rir**2))
    rir[0] += 1.0
    if echo and int(echo_delay * fs) < tail_len:
        rir[int(echo_delay * fs)] += echo_gain
    out = signal.fftconvolve(dry, rir)[:n]
    return _finish(out), {"kind": kind, "times": [_r(t) for t in times],
                          "blast_decay": _r(blast_decay), "cutoff": _r(cutoff),
                          "boom_hz": _r(boom_hz), "rt60": _r(rt60), "wet": _r(wet),
                          "echo": echo, "echo_delay": _r(echo_delay), "echo_gain": _r(echo_gain)}


def jackhammer(rng: np.random.Generator, fs: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A periodic train (12-25 Hz, 2-5 % timing jitter) of hits: a band-passed noise burst,
    metallic ringing (damped 1-3.5 kHz sinusoids) and a low thump; over most of the clip
    or a random run of it, with a low compressor hum."""
    clip = n / fs
    rate = rng.uniform(12, 25)
    jitter = rng.uniform(0.02, 0.05)
    band = sorted(rng.uniform(600, 2800, 2))
    band = [band[0], max(band[1], band[0] * 1.5)]
    burst_decay = rng.uniform(0.005, 0.02)
    rings = list(rng.uniform(1000, 3500, int(rng.integers(2, 4))))
    ring_decay = rng.uniform(0.01, 0.04)
    thump_hz = rng.uniform(80, 200)
    hum_hz = rng.uniform(40, 80)
    if rng.random() < 0.6:
        start, stop = 0.0, clip
    else:
        start = rng.uniform(0, 0.3 * clip)
        stop = min(clip, start + rng.uniform(0.6, 1.0) * clip)
    m = int(min(0.08, 1.0 / rate) * fs)
    k = np.arange(m) / fs
    out = np.zeros(n)
    t = start
    hits = 0
    high = _nyquist_safe(band[1], fs)
    sos = signal.butter(2, [min(band[0], 0.8 * high), high], btype="bandpass", fs=fs,
                        output="sos")
    while t < stop:
        burst = signal.sosfilt(sos, rng.standard_normal(m) * np.exp(-k / burst_decay))
        ring = sum(np.sin(2 * np.pi * f * k + rng.uniform(0, 6.3)) for f in rings)
        hit = (burst / (np.abs(burst).max() + 1e-12) + 0.5 * ring * np.exp(-k / ring_decay)
               + 0.7 * np.sin(2 * np.pi * thump_hz * k) * np.exp(-k / 0.015))
        _add(out, hit * rng.uniform(0.8, 1.2), int(t * fs))
        hits += 1
        t += (1 + rng.uniform(-jitter, jitter)) / rate
    a, b = int(start * fs), int(stop * fs)
    hum = _harmonic_tone(np.full(b - a, hum_hz), fs, 1.0)
    out[a:b] += 0.15 * hum * _envelope(b - a, fs, 0.05, 0.05)
    return _finish(out), {"rate_hz": _r(rate), "jitter": _r(jitter),
                          "band": [_r(f) for f in band], "burst_decay": _r(burst_decay),
                          "rings": [_r(f) for f in rings], "ring_decay": _r(ring_decay),
                          "thump_hz": _r(thump_hz), "hum_hz": _r(hum_hz),
                          "span": [_r(start), _r(stop)], "hits": hits}


def siren(rng: np.random.Generator, fs: int, n: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A swept harmonic tone: "wail" (slow 2-5 s sweeps between about 500-800 and
    1200-1600 Hz), "yelp" (fast 0.15-0.35 s sweeps) or "hi-lo" (two alternating tones),
    square- or saw-like, with a Doppler-like drift of pitch and level (a passing vehicle)."""
    clip = n / fs
    kind = str(rng.choice(["wail", "yelp", "hilo"]))
    low, high = rng.uniform(500, 800), rng.uniform(1200, 1600)
    period = rng.uniform(2, 5) if kind == "wail" else rng.uniform(0.15, 0.35)
    if kind == "hilo":
        low = rng.uniform(400, 700)
        high = low * rng.uniform(1.25, 1.4)
        period = 2 * rng.uniform(0.4, 0.8)
    odd_only = bool(rng.random() < 0.5)
    rolloff = rng.uniform(0.8, 1.5)
    drift = rng.uniform(-0.04, 0.04)
    t = np.arange(n) / fs
    phase = rng.uniform(0, 1)
    cycle = (t / period + phase) % 1.0
    if kind == "hilo":
        shape = (cycle < 0.5).astype(float)
        shape = np.convolve(shape, np.ones(int(0.01 * fs)) / int(0.01 * fs), mode="same")
    elif kind == "wail":
        shape = 0.5 - 0.5 * np.cos(2 * np.pi * cycle)
    else:
        shape = np.where(cycle < 0.8, cycle / 0.8, (1 - cycle) / 0.2)
    f0 = (low + (high - low) * shape) * (1 + drift * (t / clip - 0.5))
    tone = _harmonic_tone(f0, fs, rolloff, odd_only)
    level = np.linspace(1.0, rng.uniform(0.4, 1.6), n)
    tone *= level * _envelope(n, fs, 0.02, 0.02)
    return _finish(tone), {"kind": kind, "low_hz": _r(low), "high_hz": _r(high),
                           "period_s": _r(period), "odd_only": odd_only,
                           "rolloff": _r(rolloff), "drift": _r(drift)}


SYNTHESISERS: dict[str, Callable[[np.random.Generator, int, int],
                                 tuple[np.ndarray, dict[str, Any]]]] = {
    "car_horn": car_horn, "dog_bark": dog_bark, "gun_shot": gun_shot,
    "jackhammer": jackhammer, "siren": siren,
}


def render(name: str, rng: np.random.Generator, fs: int, num_samples: int
           ) -> tuple[np.ndarray, dict[str, Any]]:
    """A synthesised clip of class ``name``: float64 ``(num_samples,)`` peaking at
    :data:`PEAK`, and the parameters drawn from ``rng``."""
    if name not in SYNTHESISERS:
        raise DataError(f"unknown environmental class {name!r}; known: {', '.join(CLASSES)}")
    return SYNTHESISERS[name](rng, fs, num_samples)


# ---- UrbanSound8K ---------------------------------------------------------------------------


def scan_urbansound(root: Path | str) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Clips of the five classes by split and class: ``{split: {class: [clip, ...]}}``.

    Each clip is ``{"file": abs path, "fold": N, "class": name, "salience": 1|2}``.

    Raises:
        DataError: no such dir, no metadata CSV, a listed clip is missing, or a split has
            no clip of some class.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"UrbanSound8K dir {root} does not exist")
    csv_path = root / URBANSOUND_CSV
    if not csv_path.is_file():
        raise DataError(
            f"UrbanSound8K dir {root} has no {URBANSOUND_CSV} (expected the dataset's layout: "
            "metadata/UrbanSound8K.csv and audio/fold1 ... audio/fold10)"
        )
    split_of = {fold: split for split, folds in URBANSOUND_FOLDS.items() for fold in folds}
    clips: dict[str, dict[str, list[dict[str, Any]]]] = {
        split: {c: [] for c in CLASSES} for split in URBANSOUND_FOLDS}
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        need = {"slice_file_name", "fold", "class"}
        if not need <= set(reader.fieldnames or []):
            raise DataError(f"{csv_path}: needs the columns {', '.join(sorted(need))}")
        for number, row in enumerate(reader, 2):
            name = row["class"].strip()
            if name not in CLASSES:
                continue
            try:
                fold = int(row["fold"])
            except ValueError as exc:
                raise DataError(f"{csv_path}:{number}: fold '{row['fold']}' is not a number"
                                ) from exc
            path = root / "audio" / f"fold{fold}" / row["slice_file_name"].strip()
            if not path.is_file():
                raise DataError(f"{csv_path}:{number}: clip {path} does not exist")
            if fold in split_of:
                clips[split_of[fold]][name].append({
                    "file": str(path.resolve()), "fold": fold, "class": name,
                    "salience": row.get("salience", "").strip(),
                })
    for split, by_class in clips.items():
        empty = [c for c in CLASSES if not by_class[c]]
        if empty:
            raise DataError(
                f"UrbanSound8K dir {root}: the {split} split (folds "
                f"{', '.join(map(str, URBANSOUND_FOLDS[split]))}) has no clip of "
                f"{', '.join(empty)}"
            )
    return clips


def read_clip(path: str, rng: np.random.Generator, fs: int, num_samples: int
              ) -> tuple[np.ndarray, dict[str, Any]]:
    """A clip at ``fs``, mono: a random ``num_samples`` crop of a longer one, a shorter one
    placed at a random offset in zeros."""
    import soundfile as sf

    try:
        audio, sr = sf.read(path, dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types
        raise DataError(f"cannot read audio file {path}: {exc}") from exc
    audio = audio.mean(axis=1)
    if sr != fs:
        import soxr

        audio = soxr.resample(audio, sr, fs, quality="HQ")
    if audio.size == 0:
        raise DataError(f"audio file {path} has no samples")
    out = np.zeros(num_samples)
    if audio.shape[0] >= num_samples:
        start = int(rng.integers(0, audio.shape[0] - num_samples + 1))
        out[:] = audio[start : start + num_samples]
        return out, {"crop_start": start, "offset": 0}
    offset = int(rng.integers(0, num_samples - audio.shape[0] + 1))
    out[offset : offset + audio.shape[0]] = audio
    return out, {"crop_start": 0, "offset": offset}
