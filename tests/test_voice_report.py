"""Tests of the voice-distinctness report (speaker-ID accuracy, F0 spread)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from sepplug.errors import DataError
from sepplug.simulate.voice_report import main, median_f0, speaker_id_accuracy, voice_report

FS = 16000


def _voice(f0: float, brightness: float, seed: int, seconds: float = 1.0) -> np.ndarray:
    """A harmonic tone with vibrato: pitch f0, harmonic slope ``brightness``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    phase = 2 * np.pi * f0 * (t + 0.002 * np.sin(2 * np.pi * rng.uniform(4, 6) * t))
    wave = sum(brightness**k * np.sin(k * phase) for k in range(1, 12))
    return (0.1 * wave / np.abs(wave).max() + 1e-3 * rng.standard_normal(t.size)).astype("float32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three speakers far apart in pitch and timbre, four utterances each, with genders."""
    root = tmp_path_factory.mktemp("voices")
    voices = {"spk001": (100.0, 0.9, "M"), "spk002": (180.0, 0.5, "F"), "spk003": (260.0, 0.7, "F")}
    for spk, (f0, brightness, _) in voices.items():
        (root / "wav" / spk).mkdir(parents=True)
        for n in range(4):
            sf.write(root / "wav" / spk / f"{spk}_{n:03d}.wav",
                     _voice(f0 * (1 + 0.01 * n), brightness, seed=n), FS)
    (root / "speaker-info.txt").write_text(
        "ID AGE GENDER\n" + "".join(f"{s} 30 {g}\n" for s, (_, _, g) in voices.items()))
    return root, voices


def test_median_f0_of_a_tone():
    assert median_f0(_voice(150.0, 0.6, seed=0), FS) == pytest.approx(150.0, rel=0.03)


def test_distinct_voices_are_all_identified_and_f0_spread_is_reported(corpus, tmp_path):
    root, voices = corpus
    out = tmp_path / "sub" / "report.json"
    assert main(["--corpus_dir", str(root), "--out", str(out), "--enroll", "2"]) == 0
    report = json.loads(out.read_text())
    assert report["speakers"] == 3
    assert report["speaker_id"]["accuracy"] == 1.0
    assert report["speaker_id"]["test_utterances"] == 6
    assert report["speaker_id"]["chance"] == pytest.approx(1 / 3, abs=1e-3)
    f0 = report["median_f0_hz"]
    assert f0["all"]["speakers"] == 3 and f0["M"]["speakers"] == 1 and f0["F"]["speakers"] == 2
    assert f0["all"]["min"] == pytest.approx(100.0, rel=0.05)
    assert f0["all"]["max"] == pytest.approx(260.0, rel=0.05)


def test_identical_voices_are_at_chance():
    """Features drawn from one distribution for every speaker: accuracy near 1 / speakers."""
    rng = np.random.default_rng(0)
    features = {f"s{k}": list(rng.standard_normal((40, 8))) for k in range(4)}
    accuracy, total, speakers = speaker_id_accuracy(features, enroll=20)
    assert (total, speakers) == (80, 4)
    assert accuracy < 0.5


def test_too_few_speakers_is_an_error(corpus):
    root, _ = corpus
    with pytest.raises(DataError, match="needs >= 2 speakers with more than 4 utterances"):
        voice_report(root, enroll=4)
