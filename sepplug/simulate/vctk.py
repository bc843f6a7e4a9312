"""Read a VCTK-layout corpus (real VCTK or the embedded espeak-ng corpus) and its speaker splits.

Accepted layouts under ``corpus_dir``, first match wins:

* ``wav/<spk>/<spk>_<nnn>.wav`` — the embedded corpus (:mod:`sepplug.simulate.corpus`);
* ``wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic1.flac`` — VCTK 0.92 (``--mic`` picks mic1/mic2);
* ``wav48/<spk>/<spk>_<nnn>.wav`` — VCTK 0.80.

``speaker-info.txt`` (optional) gives genders, used to balance the splits. Speaker splits
are read from ``splits/{train,dev,test}.spk`` (one speaker per line) when the corpus has
them (the embedded corpus does); otherwise :func:`make_splits` draws them from a seed.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sepplug.errors import DataError

logger = logging.getLogger(__name__)

AUDIO_DIRS = ("wav", "wav48_silence_trimmed", "wav48")
AUDIO_SUFFIXES = (".wav", ".flac")
SPLITS = ("train", "dev", "test")
_MIC_SUFFIX = re.compile(r"_(mic\d)$")


@dataclass(frozen=True)
class Utterance:
    """One corpus utterance (mono or, for VCTK, the chosen mic)."""

    utt_id: str
    speaker: str
    path: Path
    num_frames: int
    sample_rate: int

    def num_samples_at(self, fs: int) -> int:
        """Length after resampling to ``fs`` (soxr keeps round(n · fs / sr))."""
        return int(round(self.num_frames * fs / self.sample_rate))


def find_audio_dir(corpus_dir: Path) -> Path:
    """The audio dir of the corpus (see the module doc)."""
    if not corpus_dir.is_dir():
        raise DataError(f"corpus dir {corpus_dir} does not exist")
    for name in AUDIO_DIRS:
        if (corpus_dir / name).is_dir():
            return corpus_dir / name
    raise DataError(
        f"corpus dir {corpus_dir} has none of the audio dirs {', '.join(AUDIO_DIRS)} "
        "(expected <corpus>/wav/<spk>/<spk>_<nnn>.wav or VCTK's wav48[_silence_trimmed]/)"
    )


def scan_corpus(corpus_dir: Path | str, mic: str = "mic1") -> dict[str, list[Utterance]]:
    """Every speaker's utterances, sorted; each file's header is read to check it.

    Args:
        mic: with VCTK 0.92 files (``*_mic1.flac``, ``*_mic2.flac``) keep only this mic.

    Raises:
        DataError: no speakers, or a file that cannot be read or holds no samples.
    """
    audio_dir = find_audio_dir(Path(corpus_dir))
    corpus: dict[str, list[Utterance]] = {}
    for spk_dir in sorted(p for p in audio_dir.iterdir() if p.is_dir()):
        utts = []
        for path in sorted(spk_dir.iterdir()):
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            stem = path.stem
            mic_match = _MIC_SUFFIX.search(stem)
            if mic_match:
                if mic_match.group(1) != mic:
                    continue
                stem = stem[: mic_match.start()]
            try:
                info = sf.info(str(path))
            except Exception as exc:  # soundfile raises several types
                raise DataError(f"cannot read audio file {path}: {exc}") from exc
            if info.frames == 0:
                raise DataError(f"audio file {path} has no samples (zero length)")
            utts.append(Utterance(stem, spk_dir.name, path.resolve(), info.frames,
                                  info.samplerate))
        if utts:
            corpus[spk_dir.name] = utts
    if not corpus:
        raise DataError(
            f"no speaker in {audio_dir} has audio files ({'/'.join(AUDIO_SUFFIXES)}); "
            "is the corpus dir empty?"
        )
    return corpus


def read_genders(corpus_dir: Path) -> dict[str, str]:
    """Speaker -> "M"/"F" from ``speaker-info.txt`` (empty when there is none).

    VCTK 0.80 writes ids without the ``p`` its dirs have (``225`` for ``p225``): both forms
    are returned.
    """
    info = corpus_dir / "speaker-info.txt"
    if not info.is_file():
        return {}
    genders = {}
    for line in info.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[2].upper() in ("M", "F"):
            genders[fields[0]] = fields[2].upper()
            genders["p" + fields[0]] = fields[2].upper()
    return genders


def load_splits(corpus_dir: Path) -> dict[str, list[str]] | None:
    """``splits/{train,dev,test}.spk`` of the corpus, or None when it has none."""
    split_dir = corpus_dir / "splits"
    if not all((split_dir / f"{s}.spk").is_file() for s in SPLITS):
        return None
    return {s: (split_dir / f"{s}.spk").read_text(encoding="utf-8").split() for s in SPLITS}


def make_splits(
    speakers: list[str],
    genders: dict[str, str],
    seed: int,
    num_dev: int,
    num_test: int,
) -> dict[str, list[str]]:
    """Speaker-disjoint train/dev/test lists, drawn from ``seed``, gender-balanced.

    Speakers are shuffled within gender, then dealt to test and dev alternately from the
    two genders, so dev and test get both genders when the corpus has both.

    Raises:
        DataError: fewer than ``num_dev + num_test + 2`` speakers.
    """
    need = num_dev + num_test + 2
    if len(speakers) < need:
        raise DataError(
            f"not enough speakers for the split: {len(speakers)} given, need at least {need} "
            f"({num_test} test + {num_dev} dev + 2 train)"
        )
    rng = np.random.default_rng([seed, 0x5B17])
    pools = {}
    for gender in ("F", "M", "?"):
        group = sorted(s for s in speakers if genders.get(s, "?") == gender)
        pools[gender] = [group[i] for i in rng.permutation(len(group))]
    dealt: list[str] = []
    while any(pools.values()):  # interleave genders: F, M, ?, F, M, ...
        for gender in ("F", "M", "?"):
            if pools[gender]:
                dealt.append(pools[gender].pop(0))
    return {
        "test": sorted(dealt[:num_test]),
        "dev": sorted(dealt[num_test : num_test + num_dev]),
        "train": sorted(dealt[num_test + num_dev :]),
    }


def default_split_sizes(num_speakers: int) -> tuple[int, int]:
    """(dev, test) speaker counts: 10 % each, at least 2 (D_hard needs two speakers)."""
    n = max(2, round(0.1 * num_speakers))
    return n, n


def write_splits(split_dir: Path, splits: dict[str, list[str]]) -> None:
    split_dir.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        (split_dir / f"{name}.spk").write_text(
            "".join(f"{s}\n" for s in sorted(splits[name])), encoding="utf-8"
        )


def check_splits(splits: dict[str, list[str]], corpus: dict[str, list[Utterance]]) -> None:
    """Raise DataError if splits overlap or name speakers the corpus lacks."""
    seen: dict[str, str] = {}
    for name in SPLITS:
        for spk in splits[name]:
            if spk in seen:
                raise DataError(f"speaker {spk} is in both the {seen[spk]} and {name} splits")
            if spk not in corpus:
                raise DataError(f"split {name} names speaker {spk}, who has no audio")
            seen[spk] = name


def add_corpus_arguments(parser: argparse.ArgumentParser, fs: int) -> None:
    """Options shared by every generator that reads a VCTK-layout corpus into data dirs."""
    parser.add_argument("--corpus_dir", "--vctk_dir", dest="corpus_dir", required=True,
                        type=Path, help="VCTK or embedded-corpus dir (wav/, wav48/ or "
                        "wav48_silence_trimmed/ of <spk>/*.wav|*.flac)")
    parser.add_argument("--out_dir", default=Path("data"), type=Path, help="data dirs root")
    parser.add_argument("--wav_dir", default=None, type=Path,
                        help="audio root (default: 'wav' beside --out_dir)")
    parser.add_argument("--fs", type=int, default=fs, help="sample rate (Hz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything")
    parser.add_argument("--mic", default="mic1", help="VCTK 0.92 mic (mic1|mic2)")
    parser.add_argument("--num_dev_speakers", type=int, default=None,
                        help="dev speakers when the corpus has no splits/ (default 10%%, >= 2)")
    parser.add_argument("--num_test_speakers", type=int, default=None,
                        help="test speakers when the corpus has no splits/ (default 10%%, >= 2)")


def speaker_splits(
    corpus_dir: Path, corpus: dict[str, list[Utterance]], seed: int,
    num_dev: int | None, num_test: int | None,
) -> dict[str, list[str]]:
    """The corpus's ``splits/`` lists, or speaker-disjoint ones drawn from ``seed``."""
    splits = load_splits(corpus_dir)
    if splits is not None:
        check_splits(splits, corpus)
        return splits
    default_dev, default_test = default_split_sizes(len(corpus))
    return make_splits(
        sorted(corpus), read_genders(corpus_dir), seed,
        default_dev if num_dev is None else num_dev,
        default_test if num_test is None else num_test,
    )
