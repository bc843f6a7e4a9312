"""The open-domain clip pool: single-source clips of ten classes in VCTK layout.

Semantic MixIT needs mixtures of sounds of *different* kinds with weak class labels. The
pool holds single-source clips of the three offline domains of
:mod:`sepplug.simulate.domains`, as ten classes (``classes.txt``, in label order):

* ``speech`` — the speakers of a VCTK-layout corpus (the embedded espeak-ng corpus or
  VCTK), each speaker a group, with the corpus's own speaker splits;
* ``vocals``, ``chords``, ``bass``, ``drums`` — one instrument family of a random
  General-MIDI song each (:func:`sepplug.simulate.domains.music.render_part`);
* ``car_horn``, ``dog_bark``, ``gun_shot``, ``jackhammer``, ``siren`` — the procedural
  environmental synthesisers (:func:`sepplug.simulate.domains.environmental.render`).

Layout (VCTK's, so that :mod:`sepplug.recipes.mixit.make_data` draws mixtures of mixtures
from it unchanged: a "speaker" there is a group of clips of one class here)::

    <out>/wav/<group>/<group>_<nnn>.wav   clips; speech groups link to the corpus's speakers
    <out>/splits/{train,dev,test}.spk     groups per split (disjoint: no clip is shared)
    <out>/group2class                     <group> <class>
    <out>/classes.txt                     the classes, one a line, label order
    <out>/.done.json                      the options it was made with

Non-speech groups are named ``<class>_<split>_<gg>``; their clips are ``--segment`` s at
``--fs``, each a new random draw (a new song, new synthesiser parameters), peak-normalised
to 0.5 and re-drawn when nearly silent. Everything random comes from ``(seed, class, split,
group, clip)``. Written into a temp dir and renamed into place; rerunning with the same
options is a no-op, with other options an error.

CLI::

    python -m sepplug.recipes.mixit_semantic.clip_pool --speech_corpus db/embedded_corpus \\
        --out_dir db/open_domain_8000 --fs 8000 --segment 3.0 --groups 32,4,4 --clips 8
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from sepplug.datadir import kaldi_dir
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.simulate.domains import environmental, music
from sepplug.simulate.done import DONE_NAME, fresh_temp_dir, is_done, move_into_place, write_marker

logger = logging.getLogger(__name__)

MUSIC_CLASSES = ("vocals", "chords", "bass", "drums")
ENV_CLASSES = ("car_horn", "dog_bark", "gun_shot", "jackhammer", "siren")
CLASSES = ("speech", *MUSIC_CLASSES, *ENV_CLASSES)
SPLITS = ("train", "dev", "test")
PEAK = 0.5
MIN_RMS = 1e-3  # re-draw a clip quieter than this (-60 dBFS) after peak normalisation
MAX_TRIES = 20


def render_clip(name: str, rng: np.random.Generator, fs: int, num_samples: int) -> np.ndarray:
    """One clip of a non-speech class, peak-normalised, ``(num_samples,)`` float64.

    Raises:
        DataError: the synthesiser gave nothing audible in :data:`MAX_TRIES` draws.
    """
    for _ in range(MAX_TRIES):
        if name in MUSIC_CLASSES:
            audio, _ = music.render_part(rng, name, fs, num_samples)
        else:
            audio, _ = environmental.render(name, rng, fs, num_samples)
        peak = np.abs(audio).max()
        if peak > 0 and np.sqrt(np.mean((audio / peak * PEAK) ** 2)) >= MIN_RMS:
            return audio / peak * PEAK
    raise DataError(f"class {name}: {MAX_TRIES} draws in a row were silent")


def _rng(seed: int, *parts: str | int) -> np.random.Generator:
    return np.random.default_rng(
        [seed, *(zlib.crc32(p.encode()) if isinstance(p, str) else p for p in parts)])


def parse_groups(text: str) -> dict[str, int]:
    """``"32,4,4"`` -> groups per non-speech class in train, dev, test."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 1:
        raise DataError(f"--groups must be three counts >= 1 (train,dev,test), got {text!r}")
    return dict(zip(SPLITS, values, strict=True))


def make_clip_pool(speech_corpus: Path | str, out_dir: Path | str, fs: int = 8000,
                   segment: float = 3.0, groups: str = "32,4,4", clips: int = 8,
                   seed: int = 0) -> Path:
    """Write the pool (see the module doc); a no-op when it is there with these options.

    Raises:
        DataError: bad options or speech corpus (nothing is written then).
    """
    out_dir = Path(out_dir).absolute()
    speech_corpus = Path(speech_corpus).absolute()
    per_split = parse_groups(groups)
    if clips < 1 or segment <= 0 or not 8000 <= fs <= 48000:
        raise DataError(f"need --clips >= 1, --segment > 0 and --fs in [8000, 48000]; got "
                        f"{clips}, {segment}, {fs}")
    config = {"kind": "sepplug-open-domain-pool", "speech_corpus": str(speech_corpus),
              "fs": fs, "segment": segment, "groups": per_split, "clips": clips, "seed": seed,
              "classes": list(CLASSES)}
    if is_done(out_dir, config):
        logger.info("%s is complete: nothing to do", out_dir)
        return out_dir
    corpus = vctk.scan_corpus(speech_corpus)
    speech_splits = vctk.speaker_splits(speech_corpus, corpus, seed, None, None)
    num_samples = int(round(segment * fs))
    tmp = fresh_temp_dir(out_dir)
    try:
        wav = tmp / "wav"
        wav.mkdir()
        splits: dict[str, list[str]] = {split: [] for split in SPLITS}
        group2class: dict[str, str] = {}
        for split in SPLITS:
            for speaker in speech_splits[split]:
                (wav / speaker).symlink_to(corpus[speaker][0].path.parent, True)
                splits[split].append(speaker)
                group2class[speaker] = "speech"
        jobs = [(name, split, g) for name in CLASSES[1:] for split in SPLITS
                for g in range(per_split[split])]
        for name, split, g in tqdm(jobs, desc="clip pool", unit="group", mininterval=2,
                                   disable=None):
            group = f"{name}_{split}_{g:02d}"
            if group in group2class:
                raise DataError(f"group name {group} is also a speaker of {speech_corpus}")
            (wav / group).mkdir()
            for c in range(clips):
                audio = render_clip(name, _rng(seed, name, split, g, c), fs, num_samples)
                sf.write(wav / group / f"{group}_{c + 1:03d}.wav",
                         np.round(audio * 32767).astype(np.int16), fs, subtype="PCM_16")
            splits[split].append(group)
            group2class[group] = name
        vctk.write_splits(tmp / "splits", splits)
        kaldi_dir.write_table(tmp / "group2class", group2class)
        (tmp / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES), encoding="utf-8")
        write_marker(tmp / DONE_NAME, config)
        move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("clip pool %s: %s", out_dir,
                ", ".join(f"{s} {len(splits[s])} groups" for s in SPLITS))
    return out_dir


def read_classes(pool: Path | str) -> list[str]:
    """The pool's ``classes.txt`` (label order)."""
    path = Path(pool) / "classes.txt"
    if not path.is_file():
        raise DataError(f"{path}: missing (is {pool} a clip pool? run clip_pool first)")
    classes = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    if len(set(classes)) != len(classes) or not classes:
        raise DataError(f"{path}: the classes must be distinct and at least one")
    return classes


def read_group2class(pool: Path | str) -> dict[str, str]:
    """``group -> class`` of the pool, every class checked against ``classes.txt``."""
    classes = set(read_classes(pool))
    path = Path(pool) / "group2class"
    if not path.is_file():
        raise DataError(f"{path}: missing")
    table = kaldi_dir.read_table(path)
    for group, name in table.items():
        if name not in classes:
            raise DataError(f"{path}: group {group} has class '{name}', not in classes.txt")
    return table


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.mixit_semantic.clip_pool",
        description="Write the open-domain clip pool (speech, four instrument families, five "
        "environmental classes) in VCTK layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--speech_corpus", type=Path, required=True,
                        help="VCTK-layout speech corpus (its speakers are the speech groups)")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--fs", type=int, default=8000)
    parser.add_argument("--segment", type=float, default=3.0, help="clip length (s)")
    parser.add_argument("--groups", default="32,4,4",
                        help="groups per non-speech class in train,dev,test")
    parser.add_argument("--clips", type=int, default=8, help="clips per group")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: make_clip_pool(args.speech_corpus, args.out_dir, args.fs,
                                                args.segment, args.groups, args.clips,
                                                args.seed), logger)


if __name__ == "__main__":
    sys.exit(main())
