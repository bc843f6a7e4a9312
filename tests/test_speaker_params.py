"""Per-speaker parameters: median F0 (pYIN), MFCC-statistics embedding, verification EER.

"Speakers" are harmonic tones of a known pitch and harmonic slope (timbre), a few
utterances each; the features are computed once per module.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from sepplug.errors import DataError
from sepplug.recipes.hard_mining.speaker_params import (
    NPZ_NAME,
    TSV_NAME,
    SpeakerParams,
    compute_speaker_params,
    main,
    read_items,
    resolve_embed_fn,
    split_heldout,
    utterance_embeddings,
    verification_eer,
)

FS = 16000
#: speaker -> (F0 Hz, harmonic slope)
VOICES = {"s1": (95.0, 0.9), "s2": (140.0, 0.4), "s3": (210.0, 0.75), "s4": (300.0, 0.55)}
UTTS = 4


def _tone(f0: float, slope: float, seed: int, seconds: float = 0.6) -> np.ndarray:
    """A harmonic tone at ``f0`` with slight vibrato and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    phase = 2 * np.pi * f0 * (t + 0.0005 * np.sin(2 * np.pi * rng.uniform(4, 6) * t))
    wave = sum(slope**k * np.sin(k * phase + rng.uniform(0, 6)) for k in range(1, 12))
    return (0.1 * wave / np.abs(wave).max() + 1e-3 * rng.standard_normal(t.size)).astype(
        "float32")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """wav.scp + utt2spk of 4 tone speakers x 4 utterances (16 kHz)."""
    root = tmp_path_factory.mktemp("speaker_params")
    scp, utt2spk = [], []
    for n_spk, (spk, (f0, slope)) in enumerate(VOICES.items()):
        for n in range(UTTS):
            path = root / f"{spk}_{n}.wav"
            sf.write(path, _tone(f0, slope, seed=10 * n_spk + n), FS)
            scp.append(f"{spk}_{n} {path}\n")
            utt2spk.append(f"{spk}_{n} {spk}\n")
    (root / "wav.scp").write_text("".join(scp))
    (root / "utt2spk").write_text("".join(utt2spk))
    return root


@pytest.fixture(scope="module")
def split(data_dir):
    """(enrolment params on the first 3 utterances, held-out items)."""
    enrol, test = split_heldout(read_items(data_dir / "wav.scp"), 1)
    return compute_speaker_params(enrol), test


def test_median_f0_of_each_speaker_within_a_few_hz(split):
    params, _ = split
    assert params.speakers == sorted(VOICES)
    assert params.n_utts.tolist() == [UTTS - 1] * len(VOICES)
    for speaker, f0 in zip(params.speakers, params.median_f0, strict=True):
        assert f0 == pytest.approx(VOICES[speaker][0], abs=3.0), speaker


def test_embeddings_are_unit_norm_and_eer_of_distinct_speakers_is_near_zero(split):
    params, test = split
    assert params.embeddings.shape == (len(VOICES), 40)
    np.testing.assert_allclose(np.linalg.norm(params.embeddings, axis=1), 1.0, rtol=1e-6)
    result = verification_eer(params, [s for s, _ in test], utterance_embeddings(test))
    assert (result.n_target, result.n_nontarget) == (4, 12)
    assert result.eer <= 0.05


def test_eer_of_random_embeddings_is_near_chance():
    """The EER measures something: unrelated vectors score about 0.5."""
    rng = np.random.default_rng(0)
    speakers = [f"s{i}" for i in range(20)]
    params = SpeakerParams(speakers, np.full(20, 100.0), np.ones(20, dtype=int),
                           rng.standard_normal((20, 8)), np.zeros(8), np.ones(8))
    params = SpeakerParams(speakers, params.median_f0, params.n_utts,
                           params.normalise(params.embeddings), params.center, params.scale)
    heldout = [s for s in speakers for _ in range(10)]
    result = verification_eer(params, heldout, rng.standard_normal((200, 8)))
    assert 0.3 < result.eer < 0.7


def test_embed_fn_is_pluggable(data_dir):
    def pitch_class(audio: np.ndarray, fs: int) -> np.ndarray:
        return np.array([np.abs(np.fft.rfft(audio)).argmax() / len(audio) * fs, 1.0])

    items = [i for i in read_items(data_dir / "wav.scp") if i[0] in ("s1", "s2")]
    params = compute_speaker_params(items, embed_fn=pitch_class, max_utts=1,
                                    standardize=False)
    assert params.embeddings.shape == (2, 2) and params.n_utts.tolist() == [1, 1]
    assert np.all(params.scale == 1) and np.all(params.center == 0)
    with pytest.raises(DataError, match="no_such_module"):
        resolve_embed_fn("no_such_module:f")


def test_cli_writes_tsv_npz_and_eer_that_load_back(data_dir, split, tmp_path):
    out = tmp_path / "out"
    assert main(["--scp", str(data_dir / "wav.scp"), "--out_dir", str(out),
                 "--heldout", "1"]) == 0
    lines = (out / TSV_NAME).read_text().splitlines()
    assert lines[0] == "speaker\tmedian_f0\tn_utts" and len(lines) == 1 + len(VOICES)
    with np.load(out / NPZ_NAME) as npz:
        assert set(npz.files) == set(VOICES) | {"__center__", "__scale__"}
        assert npz["s1"].shape == (40,)
    loaded = SpeakerParams.load(out)
    params, _ = split
    np.testing.assert_allclose(loaded.embeddings, params.embeddings, atol=1e-9)
    np.testing.assert_allclose(loaded.median_f0, params.median_f0, atol=0.01)
    assert json.loads((out / "eer.json").read_text())["eer"] <= 0.05
    assert not list(out.glob(".*"))  # no temp file left


def test_bad_input_is_reported_with_the_file_or_key(data_dir, tmp_path):
    with pytest.raises(DataError, match="missing.wav"):
        compute_speaker_params([("s1", str(tmp_path / "missing.wav"))])
    sf.write(tmp_path / "silence.wav", np.zeros(FS // 2, dtype="float32"), FS)
    with pytest.raises(DataError, match="speaker quiet: no voiced frame"):
        compute_speaker_params([("quiet", str(tmp_path / "silence.wav"))])
    (tmp_path / "empty.scp").write_text("")
    (tmp_path / "utt2spk").write_text("")
    with pytest.raises(DataError, match="empty.scp"):
        read_items(tmp_path / "empty.scp")
    with pytest.raises(DataError, match="no utterances"):
        compute_speaker_params([])
    with pytest.raises(DataError, match="nope.scp"):
        read_items(tmp_path / "nope.scp")
    with pytest.raises(DataError, match="speaker s1: 4 utterances"):
        split_heldout(read_items(data_dir / "wav.scp"), 4)
    with pytest.raises(DataError, match="speaker_params.tsv"):
        SpeakerParams.load(tmp_path)
    assert main(["--scp", str(tmp_path / "nope.scp"), "--out_dir", str(tmp_path)]) == 1
