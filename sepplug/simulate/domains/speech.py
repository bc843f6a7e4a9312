"""Speech sources: two different speakers, from the embedded corpus or a VCTK-layout dir.

The paper's speech domain is WSJ0-2mix-like (two speakers). Here the speakers come from a
VCTK-layout corpus (:mod:`sepplug.simulate.vctk`): the embedded espeak-ng corpus
(:mod:`sepplug.simulate.corpus`, synthesised on first use when no ``--corpus_dir`` is given)
or real VCTK. The splits are speaker-disjoint: the corpus's ``splits/{train,dev,test}.spk``
(the embedded corpus has them), else lists drawn from the seed (:mod:`sepplug.simulate.vctk`).
Each source is a random crop of one utterance (a shorter one is zero-padded at a random
offset), read and resampled at ``fs`` (the last 256 utterances are kept in memory).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from sepplug.errors import DataError
from sepplug.simulate import vctk
from sepplug.simulate.segments import crop_or_pad
from sepplug.simulate.vctk import speaker_splits

logger = logging.getLogger(__name__)

EMBEDDED_NAME = "embedded_corpus"  #: where the embedded corpus goes under --out_dir


def embedded_corpus(out_dir: Path, nj: int = 1) -> Path:
    """The embedded corpus (default options: 40 speakers x 20 utterances, 16 kHz, seed 0)
    under ``out_dir/embedded_corpus``, synthesised unless it is already complete."""
    from sepplug.simulate.corpus import generate_corpus

    return generate_corpus(out_dir / EMBEDDED_NAME, nj=nj)


def speaker_pools(corpus_dir: Path | str, seed: int
                  ) -> dict[str, dict[str, list[vctk.Utterance]]]:
    """``{split: {speaker: utterances}}`` of a VCTK-layout corpus, speaker-disjoint.

    Raises:
        DataError: the corpus dir is missing or has no audio, the splits are inconsistent,
            or a split has fewer than two speakers.
    """
    corpus_dir = Path(corpus_dir)
    corpus = vctk.scan_corpus(corpus_dir)
    splits = speaker_splits(corpus_dir, corpus, seed, None, None)
    pools = {split: {s: corpus[s] for s in splits[split]} for split in vctk.SPLITS}
    for split, pool in pools.items():
        if len(pool) < 2:
            raise DataError(
                f"corpus {corpus_dir}: the {split} split has {len(pool)} speaker(s) "
                f"({', '.join(sorted(pool)) or 'none'}); a speech mixture needs two"
            )
    return pools


def plan_pair(rng: np.random.Generator, pool: dict[str, list[vctk.Utterance]]
              ) -> list[dict[str, Any]]:
    """Two sources of two different speakers: speaker, utterance, file and crop each."""
    speakers = sorted(pool)
    chosen = rng.choice(len(speakers), 2, replace=False)
    sources = []
    for index in chosen:
        speaker = speakers[int(index)]
        utt = pool[speaker][int(rng.integers(len(pool[speaker])))]
        sources.append({"speaker": speaker, "utterance": utt.utt_id, "file": str(utt.path),
                        "crop": round(float(rng.random()), 6)})
    return sources


@functools.lru_cache(maxsize=256)
def _load(path: str, fs: int) -> np.ndarray:
    """An utterance, mono, at ``fs`` (the last 256 are kept: a split reuses them)."""
    import soundfile as sf

    try:
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types
        raise DataError(f"cannot read audio file {path}: {exc}") from exc
    audio = audio[:, 0]
    if rate != fs:
        import soxr

        audio = soxr.resample(audio, rate, fs, quality="HQ")
    if audio.size == 0:
        raise DataError(f"audio file {path} has no samples")
    return audio


def read_source(source: dict[str, Any], fs: int, num_samples: int) -> np.ndarray:
    """The planned crop of one source at ``fs``, float64 ``(num_samples,)``."""
    return crop_or_pad(_load(source["file"], fs), num_samples, source["crop"])
