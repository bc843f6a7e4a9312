"""GCC-PHAT delays, SRP-PHAT directions and the data-dir angle statistics.

Ground truth comes from delayed copies (exact fractional delays), pyroomacoustics
rooms, and :func:`make_pair_dir`, a tiny free-field data dir with known source angles
(also used by tests/test_wave_cyclegan.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import pytest
import soundfile as sf

from sepplug.augment.spatial_metrics import (
    ArrayGeometry,
    angle_between,
    angle_stats_for_dir,
    estimate_doa,
    geometry_from_meta,
    load_geometry,
    relative_delays,
    source_pair_angle,
    summarize,
)
from sepplug.recipes.spatialvctk import fs_verify

C_SOUND = 343.0


def fractional_delay(x: np.ndarray, delay: float) -> np.ndarray:
    """``x`` delayed by ``delay`` samples (FFT phase shift, zero-padded against wrap)."""
    n = 2 * len(x)
    spec = np.fft.rfft(x, n) * np.exp(-2j * np.pi * np.fft.rfftfreq(n) * delay)
    return np.fft.irfft(spec, n)[: len(x)]


def voice(rng: np.random.Generator, fs: int, seconds: float, f0: float) -> np.ndarray:
    """Speech-like test signal: a vibrato harmonic tone with a syllable envelope + noise."""
    t = np.arange(int(fs * seconds)) / fs
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / fs
    tone = sum(np.sin(k * phase) / k for k in range(1, 12) if k * f0 < fs / 2)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)) ** 2
    return (env * tone + 0.05 * rng.standard_normal(len(t))).astype(np.float64)


def free_field_image(src: np.ndarray, azimuth_deg: float, geometry: ArrayGeometry, fs: int,
                     distance: float = 2.0) -> np.ndarray:
    """Image ``(T, C)`` at every mic of a point source at ``azimuth_deg``, ``distance`` m."""
    pos = distance * np.array([np.cos(np.deg2rad(azimuth_deg)), np.sin(np.deg2rad(azimuth_deg))])
    dist = np.linalg.norm(geometry.mic_xy - pos, axis=1)
    return np.stack([fractional_delay(src, d * fs / C_SOUND) / d for d in dist], axis=1)


def make_pair_dir(root: Path, counts: dict[str, int] | None = None, fs: int = 8000,
                  seconds: float = 0.5, n_mics: int = 6, seed: int = 0) -> Path:
    """A Kaldi-style data dir of free-field source pairs with the SpatialVCTK contract.

    ``counts``: utterances per category (easy = same voice, two directions; hard =
    two voices < 20° apart; both = two voices further apart).
    """
    counts = counts or {"both": 4, "hard": 2, "easy": 1}
    rng = np.random.default_rng(seed)
    geometry = ArrayGeometry.circular(n_mics)
    root.mkdir(parents=True, exist_ok=True)
    wav_dir = root / "wav"
    wav_dir.mkdir(exist_ok=True)
    tables: dict[str, dict[str, str]] = {n: {} for n in (
        "wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp", "spk2_mc.scp", "utt2category",
        "utt2angle")}
    meta = []
    for category, count in counts.items():
        for i in range(count):
            utt = f"{category}{i:03d}"
            az1 = rng.uniform(0, 360)
            gap = rng.uniform(3, 15) if category == "hard" else rng.uniform(40, 180)
            az2 = (az1 + gap * rng.choice([-1, 1])) % 360
            f0a = rng.uniform(90, 250)
            f0b = f0a if category == "easy" else rng.uniform(90, 250)
            images = [free_field_image(voice(rng, fs, seconds, f0), az, geometry, fs)
                      for f0, az in ((f0a, az1), (f0b, az2))]
            images = [0.3 * im / np.abs(im).max() for im in images]
            for name, audio in (("spk1_mc", images[0]), ("spk2_mc", images[1]),
                                ("wav", images[0] + images[1]), ("spk1", images[0][:, 0]),
                                ("spk2", images[1][:, 0])):
                path = wav_dir / f"{utt}_{name}.wav"
                sf.write(path, audio.astype(np.float32), fs, subtype="FLOAT")
                tables[f"{name}.scp"][utt] = str(path)
            tables["utt2category"][utt] = category
            tables["utt2angle"][utt] = f"{float(angle_between(az1, az2)):.2f}"
            meta.append({"utt": utt, "category": category, "azimuths": [az1, az2],
                         "array": {"radius": 0.0725, "n_mics": n_mics}})
    for name, table in tables.items():
        (root / name).write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)))
    (root / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return root


def test_gcc_phat_recovers_integer_and_fractional_delays():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8000)
    true = np.array([0.0, 3.0, -2.3, 5.7, -0.4])
    mc = np.stack([fractional_delay(x, d) for d in true])
    est = relative_delays(mc, fs=16000)
    np.testing.assert_allclose(est, true, atol=0.06)
    # relative to another mic: everything shifts by that mic's delay
    np.testing.assert_allclose(relative_delays(mc, 16000, ref_mic=1), true - 3.0, atol=0.06)


@pytest.mark.parametrize("azimuth", [25.0, 137.0, 290.0])
def test_doa_of_a_source_in_a_reverberant_pyroomacoustics_room(azimuth):
    fs = 16000
    rng = np.random.default_rng(int(azimuth))
    room = pra.ShoeBox([6.0, 5.0], fs=fs, materials=pra.Material(0.3), max_order=8)
    center = np.array([3.1, 2.4])
    room.add_source(center + 1.5 * np.array([np.cos(np.deg2rad(azimuth)),
                                             np.sin(np.deg2rad(azimuth))]),
                    signal=voice(rng, fs, 1.0, 140.0))
    room.add_microphone_array(pra.circular_2D_array(center, 6, 0.0, 0.0725))
    room.simulate()
    doa = estimate_doa(room.mic_array.signals, fs, ArrayGeometry.circular(6, 0.0725))
    assert angle_between(doa, azimuth) < 5.0


def test_angle_between_two_free_field_sources_and_wraparound():
    fs, geo = 8000, ArrayGeometry.circular()
    rng = np.random.default_rng(3)
    s1 = free_field_image(voice(rng, fs, 0.5, 120.0), 350.0, geo, fs)
    s2 = free_field_image(voice(rng, fs, 0.5, 200.0), 60.0, geo, fs)
    doa1, doa2, angle = source_pair_angle(s1.T, s2.T, fs, geo)
    assert angle_between(doa1, 350.0) < 4 and angle_between(doa2, 60.0) < 4
    assert abs(angle - 70.0) < 5
    assert angle_between(350.0, 10.0) == pytest.approx(20.0)
    assert angle_between(0.0, 180.0) == pytest.approx(180.0)


def test_geometry_from_meta(tmp_path):
    ref = ArrayGeometry.circular(6, 0.05)
    rec = {"scene": {"array": {"center": [3.0, 2.0, 1.5], "radius": 0.05, "num_mics": 6}}}
    np.testing.assert_allclose(geometry_from_meta(rec, 6).mic_xy, ref.mic_xy, atol=1e-12)
    assert geometry_from_meta({"scene": {"array": {"radius": 0.05, "num_mics": 4}}}, 6) is None
    assert geometry_from_meta({"speaker": "p225"}, 6) is None
    (tmp_path / "meta.jsonl").write_text('{"scene": {"array": {"radius": 0.1, "num_mics": 6}}}\n')
    assert load_geometry(tmp_path, 6).max_delay_s == pytest.approx(0.2 / C_SOUND)
    assert load_geometry(tmp_path / "nowhere", 6).max_delay_s == pytest.approx(0.145 / C_SOUND)
    (tmp_path / "meta.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="meta.jsonl: line 1 is not JSON"):
        load_geometry(tmp_path, 6)


def test_dir_statistics_match_utt2angle(tmp_path):
    data = make_pair_dir(tmp_path / "d", {"both": 3, "hard": 3})
    rows = angle_stats_for_dir(data, progress=False)
    assert [r["utt"] for r in rows] == sorted(r["utt"] for r in rows) and len(rows) == 6
    for r in rows:
        assert abs(r["angle"] - r["true_angle"]) < 5, r
    stats = summarize(rows)
    assert stats["n"] == 6
    assert stats["share_close"] == pytest.approx(0.5)
    assert stats["share_close_true"] == pytest.approx(0.5)
    assert stats["median_error"] < 3
    hard = angle_stats_for_dir(data, categories=["hard"], max_utts=2, progress=False)
    assert [r["category"] for r in hard] == ["hard", "hard"]


def test_fs_verify_prints_tables(tmp_path, capsys):
    data = make_pair_dir(tmp_path / "d", {"both": 2, "hard": 1})
    assert fs_verify.main(["--dir", str(data), "--dir2", str(data), "--suffix", "_x",
                           "--no_progress"]) == 0
    out = capsys.readouterr().out
    assert "median angle" in out and "hard" in out and "both" in out
    assert "paired utterances: 3" in out
    assert "share < 20°        33.3% ->  33.3%" in out
    assert fs_verify.main(["--dir", str(tmp_path / "missing")]) == 2
    assert "spk1_mc.scp not found" in capsys.readouterr().err


def test_fs_verify_measures_how_much_the_audio_changed(tmp_path, capsys):
    from sepplug.augment.audio_io import read_scp

    data = make_pair_dir(tmp_path / "d", {"both": 2})
    scaled = make_pair_dir(tmp_path / "e", {"both": 2})
    for scp in ("spk1_mc.scp", "spk2_mc.scp"):
        for path in read_scp(scaled / scp).values():
            orig, fs = sf.read(path.replace(str(scaled), str(data)), dtype="float32")
            sf.write(path, 0.9 * orig, fs, subtype="FLOAT")
    # |x|^2 / |0.9 x - x|^2 = 1 / 0.01 -> 20 dB
    change = fs_verify.waveform_change(data, scaled, "_fs")
    assert change["snr"] == pytest.approx(20.0, abs=1e-3)
    assert change["corr_after"] == pytest.approx(change["corr_before"], abs=1e-6)
    # leak source 1 into source 2 (as a generator that sees both could): correlation rises
    leaked = make_pair_dir(tmp_path / "f", {"both": 2})
    for p1, p2 in zip(read_scp(leaked / "spk1_mc.scp").values(),
                      read_scp(leaked / "spk2_mc.scp").values(), strict=True):
        s1, fs = sf.read(p1, dtype="float32")
        s2, _ = sf.read(p2, dtype="float32")
        sf.write(p2, s2 + s1, fs, subtype="FLOAT")
    assert fs_verify.waveform_change(data, leaked, "_fs")["corr_after"] > 0.5
    other = make_pair_dir(tmp_path / "g", {"both": 2}, n_mics=4)
    with pytest.raises(ValueError, match="is 6 mics at 8000 Hz but .* is 4 mics at 8000 Hz"):
        fs_verify.waveform_change(data, other, "_fs")
    assert fs_verify.main(["--dir", str(data), "--dir2", str(scaled), "--no_progress"]) == 0
    out = capsys.readouterr().out
    assert "waveform change      20.0 dB SNR" in out and "|corr(s1, s2)|" in out
