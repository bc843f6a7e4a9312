"""The embedded default corpus: a multi-speaker English corpus synthesised offline by espeak-ng.

VCTK cannot be downloaded everywhere; this corpus lets the recipe run on a fresh machine.
It is deterministic in its seed (same seed, same bytes, whatever ``nj``) and has the
VCTK-compatible layout that :mod:`sepplug.simulate.vctk` reads::

    <out>/wav/<spk>/<spk>_<nnn>.wav     16-bit PCM, mono, ``fs`` Hz, silence-trimmed
    <out>/txt/<spk>/<spk>_<nnn>.txt     the sentence
    <out>/speaker-info.txt              ID AGE GENDER ACCENTS REGION COMMENTS (VCTK's columns)
    <out>/splits/{train,dev,test}.spk   speaker-disjoint lists, gender-balanced
    <out>/voices.jsonl                  every speaker's voice parameters
    <out>/.done.json                    the options it was made with

Speakers are espeak-ng voice variants (:mod:`sepplug.simulate.voices`); each speaker reads
``utts_per_speaker`` distinct sentences of :data:`sepplug.simulate.sentences.SENTENCES`.

CLI::

    python -m sepplug.simulate.corpus --out db/espeak_corpus --num_speakers 40 \\
        --utts_per_speaker 20 --fs 16000 --seed 0 --nj 2
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.simulate.done import DONE_NAME, fresh_temp_dir, is_done, move_into_place, write_marker
from sepplug.simulate.sentences import SENTENCES
from sepplug.simulate.voices import SpeakerVoice, sample_voices

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)

# espeak-ng volume (0-200). Loud variants (Klatt source, boosted equaliser) clip inside
# the library even at 35, so synthesise quietly and normalise afterwards.
ESPEAK_VOLUME = 25
TARGET_RMS_DB = -24.0  # level of every written utterance (dBFS, RMS over the utterance)
MAX_PEAK = 0.95
TRIM_THRESHOLD_DB = -40.0  # silence trimming threshold relative to the peak
TRIM_MARGIN_S = 0.1
# espeak-ng keeps one table of 349 voices, variants listed first (see _synthesise_in_groups)
VOICES_PER_DATA_DIR = 100


@dataclass(frozen=True)
class UtteranceJob:
    """What one forked synthesis child makes."""

    voice: str  # espeak-ng name, e.g. "en-us+spk001"
    rate: int
    text: str
    seed: int
    wav_path: str


def generate_corpus(
    out_dir: Path | str,
    num_speakers: int = 40,
    utts_per_speaker: int = 20,
    fs: int = 16000,
    seed: int = 0,
    nj: int = 1,
    num_dev: int | None = None,
    num_test: int | None = None,
) -> Path:
    """Synthesise the corpus into ``out_dir`` (a no-op when it is already there).

    Args:
        num_speakers: speakers (half female, half male).
        utts_per_speaker: distinct sentences per speaker (at most ``len(SENTENCES)``).
        fs: sample rate of the written wavs.
        seed: everything (voices, sentences, splits, synthesis noise) derives from it.
        nj: synthesis processes.
        num_dev, num_test: speakers of the dev/test splits (default 10 %, at least 2).

    Returns:
        ``out_dir``.

    Raises:
        DataError: bad options, or ``out_dir`` holds something else.
    """
    out_dir = Path(out_dir).absolute()
    default_dev, default_test = vctk.default_split_sizes(num_speakers)
    num_dev = default_dev if num_dev is None else num_dev
    num_test = default_test if num_test is None else num_test
    _check_options(num_speakers, utts_per_speaker, fs, nj, num_dev, num_test)
    config = {
        "kind": "sepplug-espeak-corpus", "num_speakers": num_speakers,
        "utts_per_speaker": utts_per_speaker, "fs": fs, "seed": seed,
        "num_dev": num_dev, "num_test": num_test,
    }
    if is_done(out_dir, config):
        logger.info("corpus %s is already complete: nothing to do", out_dir)
        return out_dir

    start = time.perf_counter()
    voices = sample_voices(num_speakers, seed)
    splits = vctk.make_splits(
        [v.speaker_id for v in voices], {v.speaker_id: v.gender for v in voices},
        seed, num_dev, num_test,
    )
    tmp = fresh_temp_dir(out_dir)
    jobs = _write_text_files(tmp, voices, splits, utts_per_speaker, seed)
    try:
        _synthesise_in_groups(jobs, voices, fs, nj)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_marker(tmp / DONE_NAME, config)
    move_into_place(tmp, out_dir)
    logger.info(
        "corpus: %d speakers x %d utterances at %d Hz in %.1f s -> %s",
        num_speakers, utts_per_speaker, fs, time.perf_counter() - start, out_dir,
    )
    return out_dir


def _check_options(
    num_speakers: int, utts_per_speaker: int, fs: int, nj: int, num_dev: int, num_test: int
) -> None:
    if num_dev < 1 or num_test < 1:
        raise DataError(f"--num_dev and --num_test must be >= 1 (got {num_dev}, {num_test})")
    if num_speakers < num_dev + num_test + 2:
        raise DataError(
            f"not enough speakers for the split: --num_speakers {num_speakers} < "
            f"{num_dev + num_test + 2} ({num_test} test + {num_dev} dev + 2 train)"
        )
    if not 2 <= utts_per_speaker <= len(SENTENCES):
        raise DataError(
            f"--utts_per_speaker must be in [2, {len(SENTENCES)}] (the number of distinct "
            f"sentences), got {utts_per_speaker}"
        )
    if not 8000 <= fs <= 48000:
        raise DataError(f"--fs must be in [8000, 48000] Hz, got {fs}")
    if nj < 1:
        raise DataError(f"--nj must be >= 1, got {nj}")


def _write_text_files(
    root: Path,
    voices: list[SpeakerVoice],
    splits: dict[str, list[str]],
    utts_per_speaker: int,
    seed: int,
) -> list[UtteranceJob]:
    """Write everything but the audio; return the synthesis jobs."""
    vctk.write_splits(root / "splits", splits)
    info = ["ID  AGE  GENDER  ACCENTS  REGION  COMMENTS"]
    info += [f"{v.speaker_id}  NA  {v.gender}  {v.accent}  espeak-ng:{v.language}  synthetic"
             for v in voices]
    (root / "speaker-info.txt").write_text("\n".join(info) + "\n", encoding="utf-8")
    (root / "voices.jsonl").write_text(
        "".join(json.dumps(v.to_json(), sort_keys=True) + "\n" for v in voices), encoding="utf-8"
    )
    jobs = []
    for n, voice in enumerate(voices):
        spk = voice.speaker_id
        rng = np.random.default_rng([seed, 0x7E47, n])
        chosen = rng.choice(len(SENTENCES), size=utts_per_speaker, replace=False)
        (root / "wav" / spk).mkdir(parents=True)
        (root / "txt" / spk).mkdir(parents=True)
        for k, sentence_index in enumerate(chosen, 1):
            utt = f"{spk}_{k:03d}"
            text = SENTENCES[sentence_index]
            (root / "txt" / spk / f"{utt}.txt").write_text(text + "\n", encoding="utf-8")
            jobs.append(UtteranceJob(
                voice=voice.espeak_name, rate=voice.rate, text=text,
                seed=int(rng.integers(1, 2**31 - 1)),
                wav_path=str(root / "wav" / spk / f"{utt}.wav"),
            ))
    return jobs


# ---- synthesis worker processes ----------------------------------------------------------

_ESPEAK = None  # this worker's library instance
_FS = 0


def _init_worker(data_dir: str, fs: int) -> None:
    global _ESPEAK, _FS
    # Import here what the forked children use: each child would import it again.
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    from sepplug.simulate.espeak import Espeak

    _ESPEAK = Espeak(data_dir)
    _FS = fs


def _synthesise_one(job: UtteranceJob) -> str:
    from sepplug.simulate.espeak import run_isolated

    run_isolated(lambda: _write_utterance(job))
    return job.wav_path


def _write_utterance(job: UtteranceJob) -> None:
    import soundfile as sf
    import soxr

    volume = ESPEAK_VOLUME
    samples = _ESPEAK.synthesize(job.voice, job.text, job.rate, volume, job.seed)
    while np.abs(samples.astype(np.int32)).max() >= 32767 and volume > 1:  # clipped inside
        volume //= 2
        samples = _ESPEAK.synthesize(job.voice, job.text, job.rate, volume, job.seed)
    audio = samples.astype(np.float64) / 32768.0
    if _ESPEAK.sample_rate != _FS:
        audio = soxr.resample(audio, _ESPEAK.sample_rate, _FS, quality="HQ")
    audio = normalise_level(trim_silence(audio, _FS))
    sf.write(job.wav_path, audio, _FS, subtype="PCM_16")


def normalise_level(audio: np.ndarray) -> np.ndarray:
    """Scale (T,) audio to TARGET_RMS_DB, or lower so that its peak stays <= MAX_PEAK."""
    rms = np.sqrt(np.mean(audio**2))
    gain = min(10 ** (TARGET_RMS_DB / 20) / max(rms, 1e-9), MAX_PEAK / np.abs(audio).max())
    return audio * gain


def trim_silence(audio: np.ndarray, fs: int) -> np.ndarray:
    """Cut leading/trailing samples below TRIM_THRESHOLD_DB of the peak, keeping a margin.

    Args:
        audio: (T,) samples.
    """
    level = np.abs(audio)
    loud = np.flatnonzero(level > level.max() * 10 ** (TRIM_THRESHOLD_DB / 20))
    margin = int(TRIM_MARGIN_S * fs)
    return audio[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def _synthesise_in_groups(
    jobs: list[UtteranceJob], voices: list[SpeakerVoice], fs: int, nj: int
) -> None:
    """Synthesise ``jobs``, at most VOICES_PER_DATA_DIR speakers' variant files at a time.

    espeak-ng lists every file under ``voices/`` before the languages in ``lang/`` into one
    table of 349 entries; with a few hundred variants the English languages fell off it
    ("espeak-ng has no voice 'en-gb-x-rp+spk001'"). Each group of speakers gets its own data
    dir and worker pool. The audio does not depend on the grouping: a voice is loaded by its
    file path, and every utterance is synthesised from a freshly initialised library.
    """
    from tqdm import tqdm

    from sepplug.simulate.espeak import prepare_data_dir

    with tqdm(total=len(jobs), desc="espeak corpus", unit="utt", disable=None) as bar:
        for start in range(0, len(voices), VOICES_PER_DATA_DIR):
            group = voices[start : start + VOICES_PER_DATA_DIR]
            espeak_home = Path(tempfile.mkdtemp(prefix="sepplug_espeak_"))
            try:
                data_dir = prepare_data_dir(espeak_home, {v.variant: v.voice_file() for v in group})
                names = {v.espeak_name for v in group}
                _synthesise([j for j in jobs if j.voice in names], data_dir, fs, nj, bar)
            finally:
                shutil.rmtree(espeak_home, ignore_errors=True)


def _synthesise(
    jobs: list[UtteranceJob], data_dir: Path, fs: int, nj: int, bar: tqdm
) -> None:
    # "spawn": the library is loaded only in workers, never in the caller's process.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(nj, initializer=_init_worker, initargs=(str(data_dir), fs)) as pool:
        for _ in pool.imap_unordered(_synthesise_one, jobs, chunksize=4):
            bar.update()


# ---- CLI -----------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.simulate.corpus",
        description="Synthesise the embedded multi-speaker English corpus with espeak-ng "
        "(offline, deterministic in --seed) in VCTK layout: wav/<spk>/<spk>_<nnn>.wav, "
        "txt/, speaker-info.txt, splits/{train,dev,test}.spk. Rerunning is a no-op.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, help="output corpus dir")
    parser.add_argument("--num_speakers", type=int, default=40, help="speakers (half F/M)")
    parser.add_argument("--utts_per_speaker", type=int, default=20,
                        help=f"distinct sentences per speaker (<= {len(SENTENCES)})")
    parser.add_argument("--fs", type=int, default=16000, help="sample rate (Hz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything")
    parser.add_argument("--nj", type=int, default=1, help="synthesis processes")
    parser.add_argument("--num_dev", type=int, default=None,
                        help="dev speakers (default 10%%, >= 2)")
    parser.add_argument("--num_test", type=int, default=None,
                        help="test speakers (default 10%%, >= 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: generate_corpus(
        args.out, args.num_speakers, args.utts_per_speaker, args.fs, args.seed, args.nj,
        args.num_dev, args.num_test,
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
