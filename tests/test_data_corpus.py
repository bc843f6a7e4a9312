"""The embedded espeak-ng corpus: distinct speakers, VCTK layout, determinism, bad options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from sepplug.errors import DataError
from sepplug.simulate import corpus as corpus_module
from sepplug.simulate.corpus import generate_corpus
from sepplug.simulate.espeak import run_isolated
from sepplug.simulate.sentences import SENTENCES
from sepplug.simulate.voices import sample_voices
from tests.data_fixtures import CORPUS_OPTIONS, small_corpus  # noqa: F401

ENROLL = 3  # utterances per speaker for the centroid; the other 3 are held out


def mean_mfcc(path: Path) -> np.ndarray:
    audio, fs = sf.read(path)
    return librosa.feature.mfcc(y=audio, sr=fs, n_mfcc=20).mean(axis=1)


def test_speaker_id_on_mean_mfccs_is_at_least_90_percent(small_corpus):  # noqa: F811
    """Nearest centroid of mean MFCCs over held-out utterances of all 20 speakers."""
    speakers = sorted(p.name for p in (small_corpus / "wav").iterdir())
    assert len(speakers) == 20
    features = {s: [mean_mfcc(p) for p in sorted((small_corpus / "wav" / s).glob("*.wav"))]
                for s in speakers}
    centroids = np.stack([np.mean(features[s][:ENROLL], axis=0) for s in speakers])
    hits = [
        int(np.argmin(((centroids - f) ** 2).sum(axis=1))) == k
        for k, s in enumerate(speakers) for f in features[s][ENROLL:]
    ]
    assert len(hits) == 20 * 3
    assert np.mean(hits) >= 0.9, f"speaker-ID accuracy {np.mean(hits):.3f}"


def test_vctk_layout(small_corpus):  # noqa: F811
    speakers = sorted(p.name for p in (small_corpus / "wav").iterdir())
    for spk in speakers:
        wavs = sorted((small_corpus / "wav" / spk).glob("*.wav"))
        assert [w.name for w in wavs] == [f"{spk}_{n:03d}.wav" for n in range(1, 7)]
        texts = [(small_corpus / "txt" / spk / f"{w.stem}.txt").read_text().strip()
                 for w in wavs]
        assert len(set(texts)) == 6 and all(t in SENTENCES for t in texts)
        info = sf.info(wavs[0])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 1.5 < info.duration < 10
        audio, _ = sf.read(wavs[0])
        assert 0.1 < np.abs(audio).max() <= 0.96  # normalised, not clipped
    rows = (small_corpus / "speaker-info.txt").read_text().splitlines()
    assert rows[0].split()[:3] == ["ID", "AGE", "GENDER"]
    genders = {r.split()[0]: r.split()[2] for r in rows[1:]}
    assert sorted(genders) == speakers and sorted(set(genders.values())) == ["F", "M"]
    splits = {n: (small_corpus / "splits" / f"{n}.spk").read_text().split()
              for n in ("train", "dev", "test")}
    assert sorted(sum(splits.values(), [])) == speakers  # disjoint and complete
    assert (len(splits["dev"]), len(splits["test"])) == (2, 2)
    assert {genders[s] for s in splits["test"]} == {"F", "M"}


def test_same_seed_same_bytes_whatever_nj_and_voice_grouping(tmp_path, monkeypatch):
    """nj and the per-data-dir voice groups (espeak-ng lists at most 349 voices) change
    nothing: 1 speaker per group here stands for the groups of a 300-speaker corpus."""
    options = {"num_speakers": 4, "utts_per_speaker": 2, "num_dev": 1, "num_test": 1,
               "fs": 8000, "seed": 5}
    one = generate_corpus(tmp_path / "nj1", nj=1, **options)
    monkeypatch.setattr(corpus_module, "VOICES_PER_DATA_DIR", 1)
    two = generate_corpus(tmp_path / "nj2", nj=2, **options)
    monkeypatch.undo()

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digests(one) == digests(two)
    assert len([k for k in digests(one) if k.endswith(".wav")]) == 8
    other_seed = generate_corpus(tmp_path / "seed6", nj=1, **{**options, "seed": 6})
    assert digests(other_seed) != digests(one)


def test_rerun_is_a_no_op_and_other_options_are_refused(small_corpus):  # noqa: F811
    wav = next((small_corpus / "wav").rglob("*.wav"))
    before = wav.stat().st_mtime_ns
    assert generate_corpus(small_corpus, nj=2, **CORPUS_OPTIONS) == small_corpus
    assert wav.stat().st_mtime_ns == before
    with pytest.raises(DataError, match="other options"):
        generate_corpus(small_corpus, **{**CORPUS_OPTIONS, "utts_per_speaker": 5})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num_speakers", "3"], "not enough speakers"),
        (["--utts_per_speaker", "1000"], "--utts_per_speaker"),
        (["--fs", "100"], "--fs"),
    ],
)
def test_bad_options_exit_non_zero_without_output(tmp_path, caplog, argv, message):
    out = tmp_path / "corpus"
    assert corpus_module.main(["--out", str(out), *argv]) == 1
    assert message in caplog.text
    assert not out.exists()


def test_foreign_output_dir_is_not_overwritten(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="no done marker"):
        generate_corpus(tmp_path / "corpus", num_speakers=6, utts_per_speaker=2)
    assert (tmp_path / "corpus" / "precious.txt").read_text() == "keep me"


def test_voices_are_distinct_and_gender_balanced():
    voices = sample_voices(40, seed=0)
    assert len({v.voice_file().split("\n", 2)[2] for v in voices}) == 40
    assert sum(v.gender == "F" for v in voices) == 20
    male = [v.pitch_base for v in voices if v.gender == "M"]
    female = [v.pitch_base for v in voices if v.gender == "F"]
    assert max(male) < min(female)
    assert sample_voices(40, seed=0) == voices


def test_isolated_synthesis_reports_child_errors():
    def fails() -> None:
        raise ValueError("boom in the child")

    with pytest.raises(RuntimeError, match="boom in the child"):
        run_isolated(fails)
