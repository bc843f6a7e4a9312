"""The pretrained Resemblyzer embedding (weights from its wheel) on the embedded corpus."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sepplug.simulate.vctk import scan_corpus
from tests.data_fixtures import small_corpus  # noqa: F401

pytest.importorskip("resemblyzer")
from sepplug.recipes.hard_mining.resemblyzer_embedding import resemblyzer_embedding  # noqa: E402


def test_unit_norm_256_dims_and_speakers_told_apart(small_corpus):  # noqa: F811
    corpus = scan_corpus(small_corpus)
    speakers = sorted(corpus)[:6]
    vectors, owner = [], []
    for i, speaker in enumerate(speakers):
        for utt in corpus[speaker][:3]:
            audio, fs = sf.read(utt.path)
            vectors.append(resemblyzer_embedding(audio, fs))
            owner.append(i)
    e, owner = np.stack(vectors), np.array(owner)
    assert e.shape == (18, 256)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    cos = e @ e.T
    same = owner[:, None] == owner[None, :]
    off_diagonal = ~np.eye(len(e), dtype=bool)
    assert cos[same & off_diagonal].mean() > cos[~same].mean() + 0.1
    # leave-one-out nearest neighbour names the right speaker for most utterances
    nearest = np.where(off_diagonal, cos, -np.inf).argmax(axis=1)
    assert (owner[nearest] == owner).mean() >= 0.8


@pytest.mark.parametrize("fs", [16000, 8000])
def test_silence_still_gives_a_finite_embedding(fs):
    audio = np.zeros(fs * 2)
    audio[::97] = 1e-4  # a faint click train the VAD drops entirely
    e = resemblyzer_embedding(audio, fs)
    assert e.shape == (256,) and np.all(np.isfinite(e))
