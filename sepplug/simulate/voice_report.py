"""How distinct are a corpus's voices? Speaker-ID accuracy on held-out utterances, F0 spread.

    python -m sepplug.simulate.voice_report --corpus_dir db/embedded_corpus --out voices.json

A separator that must tell speakers apart by timbre alone (the 1-channel model, D_hard)
can only learn it when the training voices differ as real voices do. Two numbers say how
much they differ:

* **speaker-ID accuracy**: every utterance becomes the mean and standard deviation of 20
  MFCCs over its voiced frames (librosa, 16 kHz); a speaker is the centroid of its first
  ``--enroll`` utterances (standardised features), the others are classified by the nearest
  centroid (cosine). Chance is 1 / speakers. A nearest-centroid classifier on utterance
  statistics is deliberately weak: high accuracy means the voices are far apart, not
  that a strong model can tell them apart.
* **F0 spread**: the median F0 of every speaker (librosa's YIN over the voiced frames of
  ``--f0_utts`` utterances), reported as quantiles over speakers, per gender when the corpus
  has ``speaker-info.txt``.

Output: a JSON file (and the same numbers logged).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

FS = 16000
N_MFCC = 20


def utterance_features(audio: np.ndarray, fs: int) -> np.ndarray:
    """Mean and std of MFCCs over the frames within 30 dB of the loudest: (2 * N_MFCC,)."""
    import librosa

    if fs != FS:
        audio = librosa.resample(audio, orig_sr=fs, target_sr=FS)
    mfcc = librosa.feature.mfcc(y=audio, sr=FS, n_mfcc=N_MFCC)  # (N_MFCC, frames)
    energy = librosa.feature.rms(y=audio)[0]
    loud = energy > energy.max() * 10 ** (-30 / 20)
    frames = mfcc[:, loud[: mfcc.shape[1]]] if loud.any() else mfcc
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def median_f0(audio: np.ndarray, fs: int) -> float:
    """Median YIN F0 (Hz) over frames with enough energy; nan when there are none."""
    import librosa

    f0 = librosa.yin(audio, fmin=60, fmax=400, sr=fs, frame_length=1024)
    energy = librosa.feature.rms(y=audio, frame_length=1024)[0][: len(f0)]
    voiced = f0[: len(energy)][energy > energy.max() * 10 ** (-20 / 20)]
    return float(np.median(voiced)) if voiced.size else float("nan")


def speaker_id_accuracy(
    features: dict[str, list[np.ndarray]], enroll: int
) -> tuple[float, int, int]:
    """Nearest-centroid accuracy on the utterances after the first ``enroll`` of each speaker.

    Returns:
        (accuracy, test utterances, speakers with test utterances).
    """
    speakers = sorted(s for s, f in features.items() if len(f) > enroll)
    if len(speakers) < 2:
        raise DataError(f"speaker ID needs >= 2 speakers with more than {enroll} utterances")
    train = np.concatenate([np.stack(features[s][:enroll]) for s in speakers])
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-8

    def unit(x: np.ndarray) -> np.ndarray:
        z = (x - mean) / std
        return z / np.linalg.norm(z, axis=-1, keepdims=True)

    centroids = unit(np.stack([np.stack(features[s][:enroll]).mean(axis=0) for s in speakers]))
    correct = total = 0
    for index, speaker in enumerate(speakers):
        scores = unit(np.stack(features[speaker][enroll:])) @ centroids.T
        correct += int((scores.argmax(axis=1) == index).sum())
        total += scores.shape[0]
    return correct / total, total, len(speakers)


def voice_report(corpus_dir: Path, enroll: int = 15, f0_utts: int = 2) -> dict:
    """The report of :mod:`this module <sepplug.simulate.voice_report>` as a dict."""
    from tqdm import tqdm

    corpus = vctk.scan_corpus(corpus_dir)
    genders = vctk.read_genders(corpus_dir)
    features: dict[str, list[np.ndarray]] = {}
    f0: dict[str, float] = {}
    for speaker, utts in tqdm(sorted(corpus.items()), desc="voices", unit="spk", disable=None):
        pitches = []
        for n, utt in enumerate(utts):
            audio, fs = sf.read(utt.path, dtype="float32")
            features.setdefault(speaker, []).append(utterance_features(audio, fs))
            if n < f0_utts:
                pitches.append(median_f0(audio, fs))
        f0[speaker] = float(np.nanmedian(pitches))
    accuracy, n_test, n_speakers = speaker_id_accuracy(features, enroll)
    report = {
        "corpus_dir": str(corpus_dir),
        "speakers": len(corpus),
        "speaker_id": {"accuracy": round(accuracy, 4), "chance": round(1 / n_speakers, 4),
                       "test_utterances": n_test, "enroll_utterances_per_speaker": enroll,
                       "method": "nearest centroid, MFCC mean+std, cosine"},
        "median_f0_hz": {},
    }
    groups = {"all": sorted(f0)}
    for gender in sorted(set(genders.values())):
        groups[gender] = sorted(s for s in f0 if genders.get(s) == gender)
    for name, members in groups.items():
        values = np.array([f0[s] for s in members if np.isfinite(f0[s])])
        if values.size:
            q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0])
            report["median_f0_hz"][name] = {
                "speakers": int(values.size), "min": round(q[0], 1), "p10": round(q[1], 1),
                "median": round(q[2], 1), "p90": round(q[3], 1), "max": round(q[4], 1)}
    return report


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus_dir", required=True, type=Path, help="VCTK-layout corpus")
    parser.add_argument("--out", required=True, type=Path, help="JSON report")
    parser.add_argument("--enroll", type=int, default=15,
                        help="utterances per speaker for its centroid; the rest are tested")
    parser.add_argument("--f0_utts", type=int, default=2, help="utterances per speaker for F0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()

    def work() -> None:
        report = voice_report(args.corpus_dir, args.enroll, args.f0_utts)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
        logger.info("%s", json.dumps(report))

    return run_or_report(work, logger)


if __name__ == "__main__":
    sys.exit(main())
