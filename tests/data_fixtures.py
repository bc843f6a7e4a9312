"""Shared fixtures of the data tests: a small embedded corpus and a small SpatialVCTK.

Import the fixtures into a test module (``from tests.data_fixtures import small_corpus``).
Each module that imports them gets its own fixture instance, but both generators are
no-ops when their output is already complete, so the work is done once per session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sepplug.recipes.spatialvctk.simulate import simulate_spatialvctk
from sepplug.simulate.corpus import generate_corpus

CORPUS_OPTIONS = {"num_speakers": 20, "utts_per_speaker": 6, "fs": 16000, "seed": 0}
SPATIAL_OPTIONS = {
    "fs": 8000, "segment": 1.0, "n_train": 12, "n_dev": 6, "n_test": 4, "n_hard_extra": 4,
    "seed": 3,
}


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """20 speakers x 6 utterances at 16 kHz (~10 s on 2 cores)."""
    return generate_corpus(tmp_path_factory.getbasetemp() / "espeak_corpus", nj=2,
                           **CORPUS_OPTIONS)


@pytest.fixture(scope="session")
def small_spatial(small_corpus, tmp_path_factory) -> Path:
    """SpatialVCTK at 8 kHz, 1 s segments, every set, one job; returns the data root."""
    root = tmp_path_factory.getbasetemp() / "spatial_nj1"
    return simulate_spatialvctk(small_corpus, root / "data", root / "wav", nj=1,
                                **SPATIAL_OPTIONS)


def write_toy_corpus(
    root: Path, speakers: int = 4, utts: int = 3, fs: int = 16000, seconds: float = 1.5,
    seed: int = 0,
) -> Path:
    """A hand-made VCTK-layout corpus of noise bursts (for input-checking tests).

    Each "utterance" is amplitude-modulated coloured noise: not speech, but a non-silent
    signal the simulator can crop, pad and resample.
    """
    rng = np.random.default_rng(seed)
    for s in range(1, speakers + 1):
        spk = f"p{s:03d}"
        (root / "wav" / spk).mkdir(parents=True, exist_ok=True)
        for u in range(1, utts + 1):
            n = int(seconds * fs)
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / fs + rng.uniform(0, 6))
            audio = np.cumsum(rng.standard_normal(n)) * 0.002 * envelope
            sf.write(root / "wav" / spk / f"{spk}_{u:03d}.wav", audio - audio.mean(), fs,
                     subtype="PCM_16")
    return root
