"""The checks of a feature-suppression model on held-out pairs (FEABASE Table 2 and more).

Per utterance of a test set and of its FS-transformed copy (``fs_apply`` output, ids
suffixed ``_fs``), as results rows (family ``fs_check``; mean and standard error over
utterances):

* ``angle_below_20_share`` — share of pairs whose SRP-PHAT angle between the two sources
  is below 20° after FS (``..._before``: on the originals);
* ``leak_corr`` — ``|corr(s1, s2)|`` at mic 0 after FS (two talkers are uncorrelated;
  a generator that mixes them raises it);
* ``timbre_lsd_db`` — log-spectral distance between each source and its FS version at
  the reference mic, the two sources' mean per pair (``..._other_mics``: over the other
  mics);
  ``room_lsd_db`` — the same distance between two simulated D_both
  placements of one dry utterance, level-matched (what a room change does to the
  spectral shape; the scale to read it by);
* ``spatial_only_drop_db`` / ``timbre_only_drop_db`` — paired per-utterance SI-SDRi on the
  test set minus on its FS copy, of a separator that can only use direction and one that
  can only use timbre; ``spatial_only_drop_share`` — the spatial one's drop over its
  SI-SDRi on the originals; ``timbre6_only_drop_db`` — the same drop of a multi-channel
  timbre-only separator (trained on D_hard only): the 1-ch one passes by construction
  (the FS model never changes mic 0), this one fails when FS leaves a spatial trace.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sepplug.augment.source_pairs import load_pair, scan_source_pairs
from sepplug.augment.spatial_metrics import CLOSE_ANGLE_DEG, angle_stats_for_dir
from sepplug.results.per_utt import read_per_utt_column
from sepplug.results.summary import ResultRow, mean_stderr, row_from_values

FAMILY = "fs_check"


def log_spectral_distance(a: np.ndarray, b: np.ndarray, n_fft: int = 256,
                          floor_db: float = -60.0) -> float:
    """Frame-wise LSD in dB of two aligned signals ``(T,)``: the RMS over frequency of the
    difference of their log power spectra, averaged over frames. Bins more than
    ``-floor_db`` below each signal's peak are floored there (silence would dominate)."""
    from scipy.signal import stft

    def log_power(x: np.ndarray) -> np.ndarray:
        power = np.abs(stft(x, nperseg=n_fft, noverlap=n_fft // 2)[2]) ** 2
        db = 10 * np.log10(power + 1e-20)
        return np.maximum(db, db.max() + floor_db)

    n = min(len(a), len(b))
    pa, pb = log_power(a[:n]), log_power(b[:n])
    return float(np.mean(np.sqrt(np.mean((pa - pb) ** 2, axis=0))))


def align(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``b`` by the lag (``|lag| <= max_lag``) of the peak cross-correlation with ``a``
    and cut both to their overlap."""
    from scipy.signal import correlate

    corr = correlate(a, b, mode="full")
    lags = np.arange(-len(b) + 1, len(a))
    keep = np.abs(lags) <= max_lag
    lag = int(lags[keep][np.argmax(corr[keep])])
    if lag >= 0:
        a = a[lag:]
    else:
        b = b[-lag:]
    n = min(len(a), len(b))
    return a[:n], b[:n]


def matched_pairs(orig_dir: Path, fs_dir: Path, suffix: str = "_fs"):
    """Both data dirs' pair sets and the ``(original, transformed)`` entries that match."""
    orig = scan_source_pairs(orig_dir, progress=False)
    fs = scan_source_pairs(fs_dir, progress=False)
    by_utt = {e.utt: e for e in orig.entries}
    matched = [(by_utt[e.utt.removesuffix(suffix)], e) for e in fs.entries
               if e.utt.removesuffix(suffix) in by_utt]
    if not matched:
        raise ValueError(f"{fs_dir}: no utterance matches one of {orig_dir} (suffix {suffix!r})")
    return orig, fs, matched


def audio_checks(orig_dir: Path, fs_dir: Path, model: str, subset: str,
                 suffix: str = "_fs") -> tuple[list[ResultRow], dict]:
    """Angle share, leakage and timbre LSD of the FS copy ``fs_dir`` of ``orig_dir``."""
    orig, fs, matched = matched_pairs(orig_dir, fs_dir, suffix)
    n_mics = orig.n_mics
    before = {r["utt"]: r["angle"] for r in angle_stats_for_dir(orig_dir, progress=False)}
    after = {r["utt"].removesuffix(suffix): r["angle"]
             for r in angle_stats_for_dir(fs_dir, progress=False)}
    utts = [o.utt for o, _ in matched]
    ang_before = np.array([before[u] for u in utts])
    ang_after = np.array([after[u] for u in utts])
    corr, lsd, lsd_other = [], [], []
    for o, f in matched:
        x, y = load_pair(orig, o), load_pair(fs, f)
        a, b = y[0], y[n_mics]
        corr.append(abs(a @ b) / max(np.sqrt((a @ a) * (b @ b)), 1e-20))
        lsd.append(0.5 * (log_spectral_distance(x[0], y[0])
                          + log_spectral_distance(x[n_mics], y[n_mics])))
        lsd_other.append(np.mean([log_spectral_distance(x[ch], y[ch]) for ch in range(2 * n_mics)
                                  if ch % n_mics]))
    rows = [
        row_from_values(model, FAMILY, subset, "angle_below_20_share",
                        (ang_after < CLOSE_ANGLE_DEG).astype(float)),
        row_from_values(model, FAMILY, subset, "angle_below_20_share_before",
                        (ang_before < CLOSE_ANGLE_DEG).astype(float)),
        row_from_values(model, FAMILY, subset, "leak_corr", np.array(corr)),
        row_from_values(model, FAMILY, subset, "timbre_lsd_db", np.array(lsd)),
        row_from_values(model, FAMILY, subset, "timbre_lsd_db_other_mics", np.array(lsd_other)),
    ]
    extra = {"median_angle_before": float(np.median(ang_before)),
             "median_angle_after": float(np.median(ang_after)),
             "leak_corr_median": float(np.median(corr)), "n": len(utts)}
    return rows, extra


def room_change_lsd(orig_dir: Path, n: int = 50, seed: int = 0) -> np.ndarray:
    """LSD at mic 0 between two simulated D_both placements (two random rooms and
    positions) of each of the first ``n`` dry utterances of ``orig_dir/meta.jsonl``."""
    import soundfile as sf
    import soxr

    from sepplug.simulate.room import SceneConfig, sample_scene, simulate_images

    meta = orig_dir / "meta.jsonl"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta} not found (needed for the dry source files)")
    records = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines()
               if line.strip()][:n]
    fs = scan_source_pairs(orig_dir, progress=False).fs
    rng, config = np.random.default_rng(seed), SceneConfig()
    out = []
    for n, record in enumerate(records, 1):
        files = record.get("source_files")
        if not files:
            raise ValueError(f"{meta}:{n}: no 'source_files' (the dry sources)")
        dry, rate = sf.read(files[0], dtype="float64", always_2d=True)
        dry = soxr.resample(dry[:, 0], rate, fs)[: 3 * fs]
        images = [simulate_images(sample_scene(rng, "both", config), np.stack([dry, dry]), fs)[0, 0]
                  for _ in range(2)]
        a, b = align(images[0], images[1], max_lag=fs // 20)
        # Level-matched: a room change also changes the level, which FS does not; only the
        # spectral shape is compared.
        b = b * np.sqrt((a @ a) / max(b @ b, 1e-20))
        out.append(log_spectral_distance(a, b))
    if not out:
        raise ValueError(f"{meta} lists no utterance")
    return np.array(out)


def separator_drop(expdir: Path, tag: str, orig_set: str, fs_set: str,
                   suffix: str = "_fs") -> tuple[np.ndarray, np.ndarray]:
    """Paired SI-SDRi of ``exp/enh_<tag>`` on ``orig_set`` and on ``fs_set``: ``(orig, fs)``."""
    def scores(test_set: str, sfx: str) -> dict[str, float]:
        return read_per_utt_column(
            expdir / f"enh_{tag}" / f"enhanced_{test_set}" / "scoring" / "per_utt.tsv",
            suffix=sfx)

    orig, fs = scores(orig_set, ""), scores(fs_set, suffix)
    utts = sorted(set(orig) & set(fs))
    if not utts:
        raise ValueError(f"enh_{tag}: no utterance scored on both {orig_set} and {fs_set}")
    return np.array([orig[u] for u in utts]), np.array([fs[u] for u in utts])


def drop_rows(model: str, subset: str, name: str, orig: np.ndarray,
              fs: np.ndarray) -> list[ResultRow]:
    """``<name>_drop_db`` (paired orig - fs) and, for ``spatial_only``, the drop's share of
    the SI-SDRi on the originals (its s.e. by the paired s.e. over that mean)."""
    drop = orig - fs
    rows = [row_from_values(model, FAMILY, subset, f"{name}_drop_db", drop)]
    if name == "spatial_only":
        n, mean_drop, se_drop = mean_stderr(drop)
        base = float(np.mean(orig))
        share, se = ((mean_drop / base, abs(se_drop / base)) if base > 0  # else meaningless
                     else (float("nan"), float("nan")))
        rows.append(ResultRow(model, FAMILY, subset, "spatial_only_drop_share", n, share, se))
    return rows
