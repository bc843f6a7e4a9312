"""Dry single-channel source utterances for on-the-fly spatial mixing.

A source list is a Kaldi-style pair of files:

    wav.scp   <utt> <abs path of a mono (or first-channel) corpus file>
    utt2spk   <utt> <speaker>
    spk2utt   <speaker> <utt> <utt> ...   (written for convenience; not read)

:func:`build_source_list` writes one from a VCTK-layout corpus (the embedded corpus's
``wav/<spk>/<spk>_<nnn>.wav``, or VCTK) restricted to one speaker split
(``<corpus>/splits/train.spk`` by default, or any speaker file such as the simulator's
``data/splits/train.spk``)::

    python -m sepplug.mixing.dry_sources --corpus_dir CORPUS --out_dir data/dry_train \\
        [--split train | --speakers_file data/splits/train.spk]

:func:`load_source_list` reads and checks one; :class:`DryAudio` loads its audio at the
mixing sample rate (soxr-resampled as the simulator does) and caches it in memory.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sepplug.datadir import kaldi_dir
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.simulate.segments import load_source

logger = logging.getLogger(__name__)


def read_speakers(path: Path | str) -> list[str]:
    """Speakers of a ``*.spk`` file (whitespace-separated)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"speaker file {path} does not exist")
    return path.read_text(encoding="utf-8").split()


def build_source_list(
    corpus_dir: Path | str, out_dir: Path | str, split: str = "train",
    speakers_file: Path | str | None = None, mic: str = "mic1",
) -> Path:
    """Write ``wav.scp``, ``utt2spk`` and ``spk2utt`` of one split's utterances.

    Raises:
        DataError: no speaker list (the corpus has no ``splits/`` and no file is given),
            a listed speaker the corpus lacks (file and speaker named).
    """
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    corpus = vctk.scan_corpus(corpus_dir, mic)
    if speakers_file is None:
        if split not in vctk.SPLITS:
            raise DataError(f"split must be one of {vctk.SPLITS}, got {split!r}")
        speakers_file = corpus_dir / "splits" / f"{split}.spk"
    speakers = read_speakers(speakers_file)
    if not speakers:
        raise DataError(f"speaker file {speakers_file} is empty")
    unknown = [s for s in speakers if s not in corpus]
    if unknown:
        raise DataError(f"{speakers_file}: speaker(s) {unknown} have no audio in {corpus_dir}")
    wav = {u.utt_id: str(u.path) for s in speakers for u in corpus[s]}
    utt2spk = {u.utt_id: s for s in speakers for u in corpus[s]}
    out_dir.mkdir(parents=True, exist_ok=True)
    kaldi_dir.write_table(out_dir / "wav.scp", wav)
    kaldi_dir.write_table(out_dir / "utt2spk", utt2spk)
    kaldi_dir.write_table(out_dir / "spk2utt", {
        s: " ".join(kaldi_dir.c_sorted(u.utt_id for u in corpus[s])) for s in speakers})
    logger.info("%d utterances of %d speakers (%s) -> %s", len(wav), len(speakers),
                speakers_file, out_dir)
    return out_dir


def load_source_list(
    wav_scp: Path | str, utt2spk: Path | str | None = None,
    speakers: Path | str | Sequence[str] | None = None, check_files: bool = True,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Read a source list.

    Args:
        utt2spk: default ``utt2spk`` beside ``wav_scp``.
        speakers: keep only these speakers (a list or a ``*.spk`` file); each must be in
            the list.
        check_files: check that every audio file exists.

    Returns:
        (spk2utt, utt2path).

    Raises:
        DataError: a missing file, a key in one file and not the other, an unknown speaker,
            a missing audio file — each naming the file and the key.
    """
    wav_scp = Path(wav_scp)
    utt2spk = Path(utt2spk) if utt2spk else wav_scp.parent / "utt2spk"
    for path in (wav_scp, utt2spk):
        if not path.is_file():
            raise DataError(f"source list file {path} does not exist")
    paths, spk_of = kaldi_dir.read_table(wav_scp), kaldi_dir.read_table(utt2spk)
    for only, in_name, not_name in ((set(paths) - set(spk_of), wav_scp, utt2spk),
                                    (set(spk_of) - set(paths), utt2spk, wav_scp)):
        if only:
            first = kaldi_dir.c_sorted(only)[0]
            raise DataError(f"{in_name}: utterance {first} is not in {not_name} "
                            f"({len(only)} such)")
    if speakers is not None:
        source = "speakers"
        if isinstance(speakers, (str, Path)):
            source, speakers = str(speakers), read_speakers(speakers)
        unknown = sorted(set(speakers) - set(spk_of.values()))
        if unknown:
            raise DataError(f"{source}: speaker {unknown[0]} has no utterance in {utt2spk} "
                            f"(unknown: {unknown})")
        keep = set(speakers)
        spk_of = {u: s for u, s in spk_of.items() if s in keep}
    spk2utt: dict[str, list[str]] = {}
    for utt in kaldi_dir.c_sorted(spk_of):
        spk2utt.setdefault(spk_of[utt], []).append(utt)
    if not spk2utt:
        raise DataError(f"{wav_scp}: no utterances")
    if check_files:
        for utt in spk_of:
            if not Path(paths[utt]).is_file():
                raise DataError(f"{wav_scp}: audio file of {utt} missing: {paths[utt]}")
    return spk2utt, {u: paths[u] for u in spk_of}


class DryAudio:
    """Source utterances at ``fs`` (float64 mono), loaded on first use and cached.

    The cache holds every utterance used so far: about 4 bytes x fs x seconds each in
    float32 (the embedded corpus's train split at 8 kHz: a few MB; VCTK's at 8 kHz about
    1 GB). It is per process: each DataLoader worker fills its own.
    """

    def __init__(self, utt2path: dict[str, str], fs: int, cache: bool = True) -> None:
        self.utt2path, self.fs, self.cache = utt2path, fs, cache
        self._audio: dict[str, np.ndarray] = {}

    def __call__(self, utt: str) -> np.ndarray:
        """(T,) float64 samples of ``utt`` at ``fs``."""
        audio = self._audio.get(utt)
        if audio is None:
            path = self.utt2path[utt]
            try:
                audio = load_source(path, self.fs).astype(np.float32)
            except Exception as exc:  # soundfile raises several types
                raise DataError(f"cannot read source {utt}: {path}: {exc}") from exc
            if not len(audio):
                raise DataError(f"source {utt}: {path} has no samples")
            if self.cache:
                self._audio[utt] = audio
        return audio.astype(np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sepplug.mixing.dry_sources",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--corpus_dir", required=True, type=Path, help="VCTK-layout corpus")
    parser.add_argument("--out_dir", required=True, type=Path, help="where wav.scp goes")
    parser.add_argument("--split", default="train", help="<corpus>/splits/<split>.spk")
    parser.add_argument("--speakers_file", default=None, type=Path,
                        help="speaker list to use instead of the corpus's split")
    parser.add_argument("--mic", default="mic1", help="VCTK 0.92 mic")
    args = parser.parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: build_source_list(
        args.corpus_dir, args.out_dir, args.split, args.speakers_file, args.mic), logger)


if __name__ == "__main__":
    sys.exit(main())
