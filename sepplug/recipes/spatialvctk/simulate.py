"""SpatialVCTK: two-speaker reverberant mixtures at a circular mic array, in easy/hard/both subsets.

Reads a VCTK-layout corpus (real VCTK or the embedded espeak-ng corpus, see
:mod:`sepplug.simulate.vctk`), simulates rooms with pyroomacoustics (:mod:`sepplug.simulate.room`)
and writes Kaldi-style data dirs (:mod:`sepplug.datadir.kaldi_dir`). Subsets (FEABASE paper):

* ``easy`` (D_easy): both sources are the same speaker (two different utterances), >= 20°
  apart — only the spatial cue separates them;
* ``hard`` (D_hard): two different speakers < 20° apart seen from the array centre — only
  timbre separates them;
* ``both`` (D_both): two different speakers >= 20° apart.

Sets (``<out_dir>/<set>/``; audio under ``<wav_dir>/<set>/``):

==================  =========  ==================================  ===================
set                 speakers   subsets                             size option
==================  =========  ==================================  ===================
train               train      ``--train_ratios`` (40/55/5 %)     ``--n_train``
dev                 dev        ``--dev_ratios`` (= train's)        ``--n_dev``
test_easy/hard/both test       one subset each                     ``--n_test`` each
train_hard_extra    train      hard (oracle-data baseline pool)    ``--n_hard_extra``
==================  =========  ==================================  ===================

A set of size 0 is not written. Speaker splits come from the corpus's
``splits/{train,dev,test}.spk`` or, when it has none (real VCTK), are drawn from
``--seed``; the lists used are copied to ``<out_dir>/splits/``.

Everything random is drawn in the planning step from ``(seed, set, mixture index)``, so
the output is bit-identical whatever ``--nj``. Each set is written to temp dirs and
renamed into place when complete (with a ``.done.json`` marker holding the options); a
finished set is skipped when rerun, and rerunning with other options is an error.

Each source is cropped at a random position (or zero-padded when the utterance is
shorter than the segment, ``--short pad``; ``--short skip`` leaves short utterances
out), normalised to unit RMS, given a level of ±``--max_sir``/2 dB, simulated alone at
every mic; the mixture is the sum of the two images, scaled to a peak of U(0.3, 0.9).
See :mod:`sepplug.recipes.spatialvctk.render_job` for the audio files and their exact-sum guarantee.

``meta.jsonl`` records: key, set, index, category, angle (degrees), speakers, utterances,
source_files, crop_positions, gains_db (dry levels re unit RMS), mix_peak, scene (room
dims/absorption/max_order, array center/radius/num_mics, sources with position, azimuth,
distance — metres and degrees, mic 0 on the +x axis), offsets and padded (per source),
scale (applied to the images), sir_db (source 1 over source 2 at the reference mic), fs,
num_samples, dtype, ref_channel.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sepplug.datadir import kaldi_dir
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.mixing.sampling_policy import DEFAULT_SUBSET_PROBS as DEFAULT_TRAIN_RATIOS
from sepplug.mixing.spatial_mix import MIX_PEAK_RANGE
from sepplug.recipes.spatialvctk.render_job import AUDIO_KINDS, run_job
from sepplug.simulate import vctk
from sepplug.simulate.done import (
    DONE_NAME,
    WAV_MARKER,
    fresh_temp_dir,
    is_done,
    move_into_place,
    write_marker,
)
from sepplug.simulate.jobs import run_jobs
from sepplug.simulate.room import (
    SceneConfig,
    add_scene_arguments,
    sample_scene,
    scene_config_dict,
    scene_config_from_args,
)

logger = logging.getLogger(__name__)

CATEGORIES = kaldi_dir.CATEGORIES
SET_NAMES = ("train", "dev", "test_easy", "test_hard", "test_both", "train_hard_extra")


@dataclass(frozen=True)
class SetSpec:
    """One set to write: its name, speaker split, size and subset shares."""

    name: str
    split: str
    size: int
    ratios: dict[str, float]


def set_specs(
    n_train: int, n_dev: int, n_test: int, n_hard_extra: int,
    train_ratios: dict[str, float], dev_ratios: dict[str, float] | None = None,
) -> list[SetSpec]:
    """The sets of the module doc (those of size > 0)."""
    dev_ratios = dev_ratios or train_ratios
    specs = [
        SetSpec("train", "train", n_train, train_ratios),
        SetSpec("dev", "dev", n_dev, dev_ratios),
        *(SetSpec(f"test_{c}", "test", n_test, {c: 1.0}) for c in ("easy", "hard", "both")),
        SetSpec("train_hard_extra", "train", n_hard_extra, {"hard": 1.0}),
    ]
    for spec in specs:
        if spec.size < 0:
            raise DataError(f"size of set {spec.name} must be >= 0, got {spec.size}")
    return [s for s in specs if s.size > 0]


def parse_ratios(text: str) -> dict[str, float]:
    """``"easy=0.4,both=0.55,hard=0.05"`` -> shares summing to 1 (missing subsets get 0)."""
    ratios = dict.fromkeys(CATEGORIES, 0.0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in CATEGORIES:
            raise DataError(f"bad ratio '{item}' in '{text}': expected <easy|hard|both>=<share>")
        try:
            ratios[name] = float(value)
        except ValueError as exc:
            raise DataError(f"bad ratio '{item}' in '{text}': not a number") from exc
        if ratios[name] < 0:
            raise DataError(f"bad ratio '{item}' in '{text}': negative")
    total = sum(ratios.values())
    if total <= 0:
        raise DataError(f"ratios '{text}' sum to 0")
    return {name: value / total for name, value in ratios.items()}


def category_counts(size: int, ratios: dict[str, float]) -> dict[str, int]:
    """Split ``size`` by ``ratios`` with the largest-remainder method (counts sum to size)."""
    exact = {c: size * ratios.get(c, 0.0) for c in CATEGORIES}
    counts = {c: int(np.floor(v)) for c, v in exact.items()}
    by_remainder = sorted(CATEGORIES, key=lambda c: (-(exact[c] - counts[c]), CATEGORIES.index(c)))
    for c in by_remainder[: size - sum(counts.values())]:
        counts[c] += 1
    return counts


def _set_seed(seed: int, set_name: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(set_name.encode()), *extra])


def plan_set(
    spec: SetSpec,
    utterances: dict[str, list[vctk.Utterance]],
    seed: int,
    scene_config: SceneConfig,
    max_sir: float,
) -> list[dict[str, Any]]:
    """Draw every mixture of a set.

    Args:
        utterances: the usable utterances of the set's speakers.

    Returns:
        One spec per mixture (see :func:`sepplug.recipes.spatialvctk.render_job.render`), by index.

    Raises:
        DataError: the split's speakers cannot make the requested subsets.
    """
    counts = category_counts(spec.size, spec.ratios)
    speakers = sorted(utterances)
    multi = [s for s in speakers if len(utterances[s]) >= 2]
    if counts["easy"] and not multi:
        raise DataError(
            f"not enough speakers for set {spec.name}: D_easy needs a {spec.split}-split "
            f"speaker with >= 2 usable utterances, there is none (speakers: {speakers})"
        )
    if (counts["hard"] or counts["both"]) and len(speakers) < 2:
        raise DataError(
            f"not enough speakers for set {spec.name}: D_hard/D_both need >= 2 speakers in "
            f"the {spec.split} split, it has {len(speakers)} ({speakers})"
        )
    categories = np.repeat(list(CATEGORIES), [counts[c] for c in CATEGORIES])
    categories = categories[_set_seed(seed, spec.name, 0xCA7).permutation(spec.size)]
    width = max(6, len(str(spec.size)))
    mixtures = []
    for index, category in enumerate(categories):
        rng = _set_seed(seed, spec.name, 1, index)
        if category == "easy":
            speaker = multi[rng.integers(len(multi))]
            pick = rng.choice(len(utterances[speaker]), 2, replace=False)
            chosen = [utterances[speaker][k] for k in pick]
        else:
            pair = rng.choice(len(speakers), 2, replace=False)
            chosen = [utterances[speakers[k]][rng.integers(len(utterances[speakers[k]]))]
                      for k in pair]
        scene = sample_scene(rng, str(category), scene_config)
        gain = rng.uniform(-max_sir / 2, max_sir / 2)
        mixtures.append({
            "key": f"{spec.name}_{index:0{width}d}",
            "set": spec.name,
            "index": index,
            "category": str(category),
            "angle": scene["angle"],
            "speakers": [u.speaker for u in chosen],
            "utterances": [u.utt_id for u in chosen],
            "source_files": [str(u.path) for u in chosen],
            "crop_positions": [round(float(p), 6) for p in rng.random(2)],
            "gains_db": [round(gain, 4), round(-gain, 4)],
            "mix_peak": round(float(rng.uniform(*MIX_PEAK_RANGE)), 4),
            "scene": scene,
        })
    return mixtures


# ---- the whole generation ------------------------------------------------------------------


def simulate_spatialvctk(
    corpus_dir: Path | str,
    out_dir: Path | str,
    wav_dir: Path | str | None = None,
    fs: int = 16000,
    segment: float = 4.0,
    n_train: int = 1000,
    n_dev: int = 100,
    n_test: int = 100,
    n_hard_extra: int = 200,
    train_ratios: dict[str, float] | None = None,
    dev_ratios: dict[str, float] | None = None,
    seed: int = 0,
    nj: int = 1,
    cmd: str | None = None,
    dtype: str = "pcm16",
    short: str = "pad",
    scene_config: SceneConfig | None = None,
    max_sir: float = 5.0,
    mic: str = "mic1",
    num_dev_speakers: int | None = None,
    num_test_speakers: int | None = None,
) -> Path:
    """Write the SpatialVCTK sets (see the module doc); a no-op for sets already done.

    Args:
        corpus_dir: VCTK-layout corpus.
        out_dir: data dirs go to ``out_dir/<set>``.
        wav_dir: audio goes to ``wav_dir/<set>`` (default: ``wav`` beside ``out_dir``).
        segment: mixture length in seconds.
        dtype: "pcm16" or "float32" wavs.
        short: "pad" or "skip" utterances shorter than the segment.
        max_sir: the two dry sources' levels differ by up to this many dB.
        mic: VCTK 0.92 mic to read.
        num_dev_speakers, num_test_speakers: sizes of splits drawn when the corpus has none.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir).absolute()
    wav_dir = Path(wav_dir).absolute() if wav_dir else out_dir.parent / "wav"
    corpus_dir = Path(corpus_dir).absolute()
    scene_config = scene_config or SceneConfig()
    num_samples = int(round(segment * fs))
    _check_options(fs, segment, nj, dtype, short, max_sir)
    sets = set_specs(n_train, n_dev, n_test, n_hard_extra,
                     train_ratios or DEFAULT_TRAIN_RATIOS, dev_ratios)
    common = {
        "kind": "sepplug-spatialvctk", "corpus_dir": str(corpus_dir), "wav_dir": str(wav_dir),
        "fs": fs, "segment": segment, "seed": seed, "dtype": dtype, "short": short,
        "max_sir": max_sir, "mic": mic, "scene": scene_config_dict(scene_config),
        "num_dev_speakers": num_dev_speakers, "num_test_speakers": num_test_speakers,
    }
    configs = {s.name: {**common, "set": s.name, "size": s.size, "ratios": s.ratios}
               for s in sets}
    todo = [s for s in sets if not is_done(out_dir / s.name, configs[s.name])]
    if not todo:
        logger.info("all sets in %s are complete: nothing to do", out_dir)
        return out_dir

    # Plan everything before writing anything: bad input fails with no output at all.
    corpus = vctk.scan_corpus(corpus_dir, mic)
    splits = _speaker_splits(corpus_dir, corpus, seed, num_dev_speakers, num_test_speakers)
    usable = _usable_utterances(corpus, fs, num_samples, short, segment)
    plans = {}
    for spec in todo:
        pool = {s: usable[s] for s in splits[spec.split] if usable.get(s)}
        plans[spec.name] = plan_set(spec, pool, seed, scene_config, max_sir)
    _log_resampling(corpus, fs)

    start = time.perf_counter()
    new_dirs = [d for d in (out_dir, wav_dir) if not d.exists()]
    try:
        _render_sets(todo, plans, configs, out_dir, wav_dir, fs, num_samples, dtype, nj, cmd)
    except BaseException:
        for new_dir in new_dirs:  # leave no empty output dirs behind either
            if new_dir.is_dir() and not any(new_dir.iterdir()):
                new_dir.rmdir()
        raise
    vctk.write_splits(out_dir / "splits", splits)
    elapsed = time.perf_counter() - start
    total = sum(spec.size for spec in todo)
    logger.info("%d mixtures (%s) in %.1f s: %.1f mixtures/s with %d jobs", total,
                ", ".join(s.name for s in todo), elapsed, total / elapsed, nj)
    return out_dir


def _check_options(fs: int, segment: float, nj: int, dtype: str, short: str,
                   max_sir: float) -> None:
    if not 8000 <= fs <= 48000:
        raise DataError(f"--fs must be in [8000, 48000] Hz, got {fs}")
    if segment <= 0:
        raise DataError(f"--segment must be > 0 s, got {segment}")
    if nj < 1:
        raise DataError(f"--nj must be >= 1, got {nj}")
    if dtype not in ("pcm16", "float32"):
        raise DataError(f"--dtype must be pcm16 or float32, got {dtype}")
    if short not in ("pad", "skip"):
        raise DataError(f"--short must be pad or skip, got {short}")
    if max_sir < 0:
        raise DataError(f"--max_sir must be >= 0 dB, got {max_sir}")


def _speaker_splits(
    corpus_dir: Path, corpus: dict[str, list[vctk.Utterance]], seed: int,
    num_dev: int | None, num_test: int | None,
) -> dict[str, list[str]]:
    splits = vctk.load_splits(corpus_dir)
    if splits is not None:
        logger.info("speaker splits from %s/splits", corpus_dir)
        vctk.check_splits(splits, corpus)
        return splits
    default_dev, default_test = vctk.default_split_sizes(len(corpus))
    splits = vctk.make_splits(
        sorted(corpus), vctk.read_genders(corpus_dir), seed,
        default_dev if num_dev is None else num_dev,
        default_test if num_test is None else num_test,
    )
    logger.info("speaker splits drawn from seed %d: %s", seed,
                ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return splits


def _usable_utterances(
    corpus: dict[str, list[vctk.Utterance]], fs: int, num_samples: int, short: str,
    segment: float,
) -> dict[str, list[vctk.Utterance]]:
    short_utts = {u.utt_id for utts in corpus.values() for u in utts
                  if u.num_samples_at(fs) < num_samples}
    total = sum(len(u) for u in corpus.values())
    if short_utts:
        action = "zero-padded when used" if short == "pad" else "skipped (--short skip)"
        logger.info("%d of %d corpus utterances are shorter than the %.2f s segment: %s",
                    len(short_utts), total, segment, action)
    if short == "pad":
        return corpus
    return {s: [u for u in utts if u.utt_id not in short_utts] for s, utts in corpus.items()}


def _log_resampling(corpus: dict[str, list[vctk.Utterance]], fs: int) -> None:
    rates = Counter(u.sample_rate for utts in corpus.values() for u in utts)
    for rate, count in sorted(rates.items()):
        if rate != fs:
            logger.info("%d corpus files are at %d Hz, not %d Hz: resampled with soxr",
                        count, rate, fs)


def _render_sets(
    todo: list[SetSpec], plans: dict[str, list[dict[str, Any]]],
    configs: dict[str, dict[str, Any]], out_dir: Path, wav_dir: Path, fs: int,
    num_samples: int, dtype: str, nj: int, cmd: str | None,
) -> None:
    """Render the planned sets in one batch of jobs into temp dirs, then finish each set.

    One batch for all sets: job start-up (imports) is paid once, not once per set.
    """
    for spec in todo:
        final_wav = wav_dir / spec.name
        if (final_wav.exists() and any(final_wav.iterdir())
                and not (final_wav / WAV_MARKER).exists()):
            raise DataError(f"{final_wav} exists and was not written by this tool: "
                            "not replacing it")
    work = fresh_temp_dir(out_dir / "work")
    temps = {spec.name: (fresh_temp_dir(out_dir / spec.name), fresh_temp_dir(wav_dir / spec.name))
             for spec in todo}
    try:
        specs = []
        for spec in todo:
            tmp_wav = temps[spec.name][1]
            (tmp_wav / WAV_MARKER).touch()
            for kind in AUDIO_KINDS:
                (tmp_wav / kind).mkdir()
            specs += [{**m, "wav_dir": str(tmp_wav)} for m in plans[spec.name]]
        plan_path = work / "plan.jsonl"
        header = {"fs": fs, "num_samples": num_samples, "dtype": dtype}
        plan_path.write_text(
            "".join(json.dumps(line) + "\n" for line in [header, *specs]), encoding="utf-8"
        )
        nj = min(nj, len(specs))
        run_jobs(nj, run_job, [plan_path], "sepplug.recipes.spatialvctk.render_job",
                 ["--plan", str(plan_path), "--job", "JOB", "--nj", str(nj)],
                 out_dir / "log", "simulate", cmd)
        measured = {}
        for job in range(1, nj + 1):
            for line in (work / "results" / f"job.{job}.jsonl").read_text().splitlines():
                record = json.loads(line)
                measured[record.pop("key")] = record
        missing = [m["key"] for m in specs if m["key"] not in measured]
        if missing:
            raise DataError(f"the jobs left {len(missing)} mixtures unrendered, e.g. {missing[:3]}")
        for spec in todo:
            tmp_data, tmp_wav = temps[spec.name]
            _write_tables(tmp_data, wav_dir / spec.name, plans[spec.name], measured, fs,
                          num_samples, dtype)
            write_marker(tmp_data / DONE_NAME, configs[spec.name])
            move_into_place(tmp_wav, wav_dir / spec.name)
            move_into_place(tmp_data, out_dir / spec.name)
    finally:  # after success only the work dir is left; after a failure, every temp dir
        shutil.rmtree(work, ignore_errors=True)
        for tmp_data, tmp_wav in temps.values():
            shutil.rmtree(tmp_data, ignore_errors=True)
            shutil.rmtree(tmp_wav, ignore_errors=True)


def _write_tables(
    data_dir: Path, wav_dir: Path, mixtures: list[dict[str, Any]],
    measured: dict[str, dict[str, Any]], fs: int, num_samples: int, dtype: str,
) -> None:
    scps: dict[str, dict[str, str]] = {name: {} for name in kaldi_dir.SCP_FILES}
    scp_kind = {"wav.scp": "mix", "spk1.scp": "s1", "spk2.scp": "s2",
                "spk1_mc.scp": "s1_mc", "spk2_mc.scp": "s2_mc"}
    meta = {}
    for mixture in mixtures:
        key = mixture["key"]
        for scp, kind in scp_kind.items():
            scps[scp][key] = str(wav_dir / kind / f"{key}.wav")
        record = {k: v for k, v in mixture.items() if k != "key"}
        meta[key] = {**record, **measured[key], "fs": fs, "num_samples": num_samples,
                     "dtype": dtype, "ref_channel": 0}
    padded = sum(sum(measured[m["key"]]["padded"]) for m in mixtures)
    if padded:
        logger.info("set %s: %d of %d source segments zero-padded (utterance shorter than "
                    "the segment)", wav_dir.name, padded, 2 * len(mixtures))
    kaldi_dir.write_data_dir(
        data_dir, fs, scps,
        {m["key"]: m["category"] for m in mixtures},
        {m["key"]: m["angle"] for m in mixtures},
        meta,
    )


# ---- CLI -----------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.spatialvctk.simulate",
        description="Simulate SpatialVCTK (two-speaker mixtures at a circular mic array) with "
        "D_easy/D_hard/D_both subsets into Kaldi-style data dirs <out_dir>/{train,dev,"
        "test_easy,test_hard,test_both,train_hard_extra}. Deterministic in --seed whatever "
        "--nj; finished sets are skipped when rerun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    vctk.add_corpus_arguments(parser, fs=16000)
    parser.add_argument("--segment", type=float, default=4.0, help="mixture length (s)")
    parser.add_argument("--n_train", type=int, default=1000, help="train mixtures")
    parser.add_argument("--n_dev", type=int, default=100, help="dev mixtures")
    parser.add_argument("--n_test", type=int, default=100, help="mixtures of each test set")
    parser.add_argument("--n_hard_extra", type=int, default=200,
                        help="train_hard_extra mixtures (D_hard, train speakers)")
    parser.add_argument("--train_ratios", default="easy=0.4,both=0.55,hard=0.05",
                        help="subset shares of train")
    parser.add_argument("--dev_ratios", default=None, help="subset shares of dev "
                        "(default: --train_ratios)")
    parser.add_argument("--nj", type=int, default=1, help="parallel simulation jobs")
    parser.add_argument("--cmd", default=None, help="Kaldi-style job runner, e.g. "
                        "'tools/utils/run.pl' or 'tools/utils/slurm.pl' (default: local "
                        "processes)")
    parser.add_argument("--dtype", choices=["pcm16", "float32"], default="pcm16",
                        help="wav sample format (both keep mix == s1 + s2 exactly)")
    parser.add_argument("--short", choices=["pad", "skip"], default="pad",
                        help="utterances shorter than --segment: zero-pad or leave out")
    add_scene_arguments(parser, "D_hard: sources closer than this (degrees)")
    parser.add_argument("--max_sir", type=float, default=5.0,
                        help="max level difference of the dry sources (dB)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    return run_or_report(lambda: simulate_spatialvctk(
        args.corpus_dir, args.out_dir, args.wav_dir, args.fs, args.segment, args.n_train,
        args.n_dev, args.n_test, args.n_hard_extra, parse_ratios(args.train_ratios),
        parse_ratios(args.dev_ratios) if args.dev_ratios else None, args.seed, args.nj,
        args.cmd, args.dtype, args.short, scene_config_from_args(args), args.max_sir, args.mic,
        args.num_dev_speakers, args.num_test_speakers,
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
