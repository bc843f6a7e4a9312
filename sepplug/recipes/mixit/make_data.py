"""Mixtures of mixtures (MoM) for unsupervised MixIT training, and FUSS-style test sets.

Reads a VCTK-layout corpus (real VCTK or the embedded espeak-ng corpus, see
:mod:`sepplug.simulate.vctk`) and writes Kaldi-style data dirs for ESPnet's MixIT convention:

* ``train`` / ``dev`` (MoM sets, train / dev speakers): each example is two mixtures of
  ``--min_sources`` .. ``--max_sources`` sources each (uniform draw per mixture). Files::

      wav.scp           <utt> the mixture of mixtures x = y1 + y2     -> speech_mix
      spk1.scp          <utt> the first mixture y1                    -> speech_ref1
      spk2.scp          <utt> the second mixture y2                   -> speech_ref2
      utt2num_sources   <utt> <sources in y1> <sources in y2>

* ``test`` (test speakers): each example is ONE mixture (not a MoM) with its true sources
  as references, as in FUSS evaluation. The source counts are balanced over
  ``--min_sources`` .. ``--max_sources`` so that 1S and MSi have comparable support::

      wav.scp           <utt> the mixture = src1 + ... + srcK
      src<k>.scp        <utt> the k-th source, listed only for utts with K >= k
      utt2num_sources   <utt> K

* ``train_sup`` / ``dev_sup`` (with ``--supervised_sets``, the default): the two mixtures
  of every train / dev MoM as single examples ``<mom key>_m1``, ``_m2`` with their true
  sources, for the supervised reference model (same mixtures, same speakers). ESPnet
  needs every reference of every example, so a mixture of K < ``--max_sources`` sources
  points its ``spk<k>.scp`` (k > K) at one silent file (``silence.wav``), which the
  ``pit_hungarian`` loss wrapper treats as absent::

      wav.scp           <utt> the mixture
      spk<k>.scp        <utt> the k-th source (k = 1..max_sources), silent for k > K
      utt2num_sources   <utt> K

Every dir also has ``utt2spk``/``spk2utt`` (each example its own speaker, as ESPnet enh
recipes do), ``meta.jsonl`` (speakers, utterances, crops, gains, scale per example) and
``fs``. Audio goes under ``<wav_dir>/<set>/{mom,mix1,mix2}`` or ``{mix,src1,src2,...}``.

Sources: within a mixture the sources are distinct speakers; within an example all
utterances are distinct, and the speakers of the two mixtures of a MoM are distinct too
when the split has enough speakers (dev has few: then only within a mixture). Each
source is a random ``--segment`` crop of its utterance (a shorter utterance is
zero-padded at a random offset), normalised to unit RMS, given a gain of
±``--max_gain_db``/2 dB; the example is scaled so that its loudest signal peaks at
U(0.3, 0.9). With ``pcm16`` (default) the sums are exact in the written files: the parts
are quantised first and the sums taken on the integers (the scaling keeps every sum inside
int16); with ``float32`` a sum is exact up to its float32 rounding (1 ulp).

Everything random is drawn from ``(seed, set, example index)``: the output is
bit-identical on every run. Each set is written under temp names and renamed into place
with a ``.done.json`` marker; a finished set is skipped when rerun, and rerunning with
other options is an error.

CLI::

    python -m sepplug.recipes.mixit.make_data --corpus_dir db/embedded_corpus --out_dir data \\
        --wav_dir db/mixit_8000 --fs 8000 --segment 3.0 --n_train 2000 --n_dev 200 --n_test 300
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from sepplug.datadir import kaldi_dir
from sepplug.datadir.audio_checks import signal_problem
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.simulate.done import (
    DONE_NAME,
    WAV_MARKER,
    fresh_temp_dir,
    is_done,
    move_into_place,
    write_marker,
)
from sepplug.simulate.segments import crop_or_pad
from sepplug.simulate.vctk import speaker_splits

logger = logging.getLogger(__name__)

PEAK_RANGE = (0.3, 0.9)
MIN_SEGMENT_RMS = 1e-5  # a crop quieter than this (-100 dB) would be a silent reference
NUM_MIXTURES = 2  # mixtures per MoM example (ESPnet's MixIT convention: speech_ref1, 2)
SILENCE_NAME = "silence.wav"  # supervised views: the reference of an absent source


@dataclass(frozen=True)
class MixitOptions:
    """What every set depends on (the done markers store it)."""

    fs: int = 8000
    segment: float = 3.0
    min_sources: int = 1
    max_sources: int = 3
    max_gain_db: float = 5.0
    seed: int = 0
    dtype: str = "pcm16"
    mic: str = "mic1"

    @property
    def num_samples(self) -> int:
        return int(round(self.segment * self.fs))

    def check(self) -> None:
        """Raise DataError for out-of-range options."""
        if not 8000 <= self.fs <= 48000:
            raise DataError(f"--fs must be in [8000, 48000] Hz, got {self.fs}")
        if self.segment <= 0:
            raise DataError(f"--segment must be > 0 s, got {self.segment}")
        if not 1 <= self.min_sources <= self.max_sources:
            raise DataError(
                "need 1 <= --min_sources <= --max_sources, got "
                f"{self.min_sources} and {self.max_sources}"
            )
        if self.max_gain_db < 0:
            raise DataError(f"--max_gain_db must be >= 0 dB, got {self.max_gain_db}")
        if self.dtype not in ("pcm16", "float32"):
            raise DataError(f"--dtype must be pcm16 or float32, got {self.dtype}")


@dataclass(frozen=True)
class SetSpec:
    """One set: name, speaker split, size, and whether examples are MoMs."""

    name: str
    split: str
    size: int
    mom: bool
    #: a supervised view: the single mixtures of this MoM set, with their sources
    view_of: str | None = None


def set_specs(n_train: int, n_dev: int, n_test: int,
              supervised_sets: bool = False) -> list[SetSpec]:
    """train/dev (MoM), test (single mixtures) and the supervised views train_sup/dev_sup
    (two single mixtures per MoM); sets of size 0 are left out."""
    specs = [SetSpec("train", "train", n_train, True), SetSpec("dev", "dev", n_dev, True),
             SetSpec("test", "test", n_test, False)]
    if supervised_sets:
        specs += [SetSpec("train_sup", "train", NUM_MIXTURES * n_train, False, "train"),
                  SetSpec("dev_sup", "dev", NUM_MIXTURES * n_dev, False, "dev")]
    for spec in specs:
        if spec.size < 0:
            raise DataError(f"size of set {spec.name} must be >= 0, got {spec.size}")
    return [s for s in specs if s.size > 0]


def _rng(seed: int, set_name: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(set_name.encode()), *extra])


# ---- planning --------------------------------------------------------------------------------


def source_counts(spec: SetSpec, options: MixitOptions) -> np.ndarray:
    """Sources per mixture, ``(size, 2)`` for MoM sets, ``(size, 1)`` for test sets.

    MoM mixtures draw their counts uniformly; the test set is balanced (each count
    ``size / num_counts`` times, largest-remainder), then shuffled.
    """
    choices = np.arange(options.min_sources, options.max_sources + 1)
    if spec.mom:
        rng = _rng(options.seed, spec.name, 0xC0)
        return rng.choice(choices, size=(spec.size, NUM_MIXTURES))
    counts = np.resize(choices, spec.size)
    return _rng(options.seed, spec.name, 0xC0).permutation(counts)[:, None]


def plan_example(
    spec: SetSpec,
    index: int,
    counts: Sequence[int],
    pool: dict[str, list[vctk.Utterance]],
    options: MixitOptions,
) -> dict[str, Any]:
    """Draw one example: speakers, utterances, crops and gains of every source.

    Args:
        counts: sources per mixture (2 for a MoM, 1 for a test example).
        pool: the split's usable utterances by speaker.

    Returns:
        The example's record (see :func:`render_example` and ``meta.jsonl``).
    """
    rng = _rng(options.seed, spec.name, 1, index)
    speakers = sorted(pool)
    total = int(sum(counts))
    if len(speakers) >= total:  # distinct speakers across the whole example
        order = rng.choice(len(speakers), total, replace=False)
        per_mixture = np.split(order, np.cumsum(counts)[:-1])
    else:  # distinct only within each mixture
        per_mixture = [rng.choice(len(speakers), c, replace=False) for c in counts]
    used: set[str] = set()
    mixtures = []
    for speaker_indices in per_mixture:
        sources = []
        for k in speaker_indices:
            speaker = speakers[int(k)]
            free = [u for u in pool[speaker] if u.utt_id not in used]
            if not free:
                raise DataError(
                    f"set {spec.name}, example {index}: speaker {speaker} has no unused "
                    f"utterance left ({len(pool[speaker])} in the corpus); add utterances or "
                    "lower --max_sources"
                )
            utt = free[int(rng.integers(len(free)))]
            used.add(utt.utt_id)
            sources.append({
                "speaker": speaker,
                "utterance": utt.utt_id,
                "file": str(utt.path),
                "crop": round(float(rng.random()), 6),
                "gain_db": round(float(rng.uniform(-0.5, 0.5) * options.max_gain_db), 4),
            })
        mixtures.append(sources)
    width = max(6, len(str(spec.size)))
    return {
        "key": f"{spec.name}_{index:0{width}d}",
        "set": spec.name,
        "index": index,
        "mom": spec.mom,
        "num_sources": [len(m) for m in mixtures],
        "mixtures": mixtures,
        "peak": round(float(rng.uniform(*PEAK_RANGE)), 4),
    }


def plan_set(spec: SetSpec, pool: dict[str, list[vctk.Utterance]],
             options: MixitOptions) -> list[dict[str, Any]]:
    """Every example of a set, by index.

    Raises:
        DataError: the split has fewer speakers than a mixture needs.
    """
    if len(pool) < options.max_sources:
        raise DataError(
            f"set {spec.name}: the {spec.split} split has {len(pool)} speakers with audio "
            f"({', '.join(sorted(pool)) or 'none'}) but a mixture takes up to "
            f"--max_sources {options.max_sources} distinct speakers"
        )
    counts = source_counts(spec, options)
    return [plan_example(spec, i, counts[i], pool, options) for i in range(spec.size)]


def supervised_view(spec: SetSpec, mom_plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The single mixtures of a MoM set's plan as examples of ``spec`` (``<key>_m<n>``)."""
    records = []
    for mom in mom_plan:
        for n, sources in enumerate(mom["mixtures"], 1):
            records.append({
                "key": f"{mom['key']}_m{n}", "set": spec.name, "index": len(records),
                "mom": False, "num_sources": [len(sources)], "mixtures": [sources],
                "peak": mom["peak"], "view_of": mom["key"],
            })
    return records


# ---- rendering -------------------------------------------------------------------------------


class AudioCache:
    """Corpus utterances read once, mono, resampled to ``fs`` (float64)."""

    def __init__(self, fs: int):
        self.fs = fs
        self._audio: dict[str, np.ndarray] = {}

    def __getitem__(self, path: str) -> np.ndarray:
        if path not in self._audio:
            self._audio[path] = self._load(path)
        return self._audio[path]

    def _load(self, path: str) -> np.ndarray:
        try:
            audio, rate = sf.read(path, dtype="float64", always_2d=True)
        except Exception as exc:  # soundfile raises several types
            raise DataError(f"cannot read audio file {path}: {exc}") from exc
        audio = audio[:, 0]
        if rate != self.fs:
            import soxr  # only needed when resampling

            audio = soxr.resample(audio, rate, self.fs, quality="HQ")
        if audio.size == 0:
            raise DataError(f"audio file {path} has no samples")
        return audio


def render_example(
    record: dict[str, Any], cache: AudioCache, options: MixitOptions
) -> dict[str, np.ndarray]:
    """Audio of one planned example, with exact sums in the written sample format.

    Returns:
        MoM: ``{"mom": (T,), "mix1": (T,), "mix2": (T,)}``;
        test: ``{"mix": (T,), "src1": (T,), ..., "srcK": (T,)}``.
        float64 arrays holding values exactly representable in ``options.dtype``.
    """
    num_samples = options.num_samples
    mixtures = []
    for sources in record["mixtures"]:
        images = []
        for source in sources:
            segment = crop_or_pad(cache[source["file"]], num_samples, source["crop"])
            problem = signal_problem(segment)
            if problem:
                raise DataError(f"example {record['key']}: the crop of {source['file']} {problem}")
            rms = np.sqrt(np.mean(segment**2))
            if rms < MIN_SEGMENT_RMS:
                raise DataError(
                    f"example {record['key']}: the crop of {source['file']} is silent "
                    f"(RMS {rms:.1e}); is the utterance empty or all zeros?"
                )
            images.append(segment / rms * 10 ** (source["gain_db"] / 20))
        mixtures.append(images)
    # Scale so that no written signal (parts or sums) exceeds the peak: a part can peak
    # higher than its sum when sources cancel.
    parts = [img for images in mixtures for img in images]
    sums = [np.sum(images, axis=0) for images in mixtures]
    everything = parts + sums + ([np.sum(sums, axis=0)] if record["mom"] else [])
    scale = record["peak"] / max(np.abs(x).max() for x in everything)
    if record["mom"]:
        mix = [_representable(s * scale, options.dtype) for s in sums]
        return {"mom": mix[0] + mix[1], "mix1": mix[0], "mix2": mix[1]}
    sources = [_representable(s * scale, options.dtype) for s in mixtures[0]]
    out = {"mix": np.sum(sources, axis=0)}
    out.update({f"src{k}": s for k, s in enumerate(sources, 1)})
    return out


def _representable(x: np.ndarray, dtype: str) -> np.ndarray:
    """Round to the written sample grid so that sums of written files stay exact."""
    if dtype == "pcm16":
        return np.round(x * 32768.0) / 32768.0
    return x.astype(np.float32).astype(np.float64)


def _write_wav(path: Path, audio: np.ndarray, fs: int, dtype: str) -> None:
    if dtype == "pcm16":
        sf.write(path, np.round(audio * 32768.0).astype(np.int16), fs, subtype="PCM_16")
    else:
        sf.write(path, audio.astype(np.float32), fs, subtype="FLOAT")


# ---- the whole generation --------------------------------------------------------------------


def generate_mixit_data(
    corpus_dir: Path | str,
    out_dir: Path | str,
    wav_dir: Path | str | None = None,
    n_train: int = 2000,
    n_dev: int = 200,
    n_test: int = 300,
    options: MixitOptions | None = None,
    num_dev_speakers: int | None = None,
    num_test_speakers: int | None = None,
    supervised_sets: bool = False,
) -> Path:
    """Write the MixIT sets (see the module doc); a no-op for sets already done.

    Args:
        corpus_dir: VCTK-layout corpus.
        out_dir: data dirs go to ``out_dir/<set>``.
        wav_dir: audio goes to ``wav_dir/<set>`` (default: ``wav`` beside ``out_dir``).
        options: sample rate, segment, source counts, gains, seed, sample format.
        num_dev_speakers, num_test_speakers: sizes of splits drawn when the corpus has none.
        supervised_sets: also write ``train_sup`` / ``dev_sup`` (see the module doc).

    Returns:
        ``out_dir``.

    Raises:
        DataError: bad options or corpus (nothing is written then).
    """
    options = options or MixitOptions()
    options.check()
    out_dir = Path(out_dir).absolute()
    wav_dir = Path(wav_dir).absolute() if wav_dir else out_dir.parent / "wav"
    corpus_dir = Path(corpus_dir).absolute()
    sets = set_specs(n_train, n_dev, n_test, supervised_sets)
    common = {"kind": "sepplug-mixit", "corpus_dir": str(corpus_dir), "wav_dir": str(wav_dir),
              **asdict(options), "num_dev_speakers": num_dev_speakers,
              "num_test_speakers": num_test_speakers}
    configs = {s.name: {**common, "set": s.name, "size": s.size} for s in sets}
    todo = [s for s in sets if not is_done(out_dir / s.name, configs[s.name])]
    if not todo:
        logger.info("all MixIT sets in %s are complete: nothing to do", out_dir)
        return out_dir

    # Plan everything before writing anything: bad input fails with no output at all.
    corpus = vctk.scan_corpus(corpus_dir, options.mic)
    splits = speaker_splits(corpus_dir, corpus, options.seed, num_dev_speakers,
                            num_test_speakers)
    mom_specs = {s.name: s for s in sets if s.mom}
    plans = {}
    for spec in todo:
        if spec.view_of is None:
            plans[spec.name] = plan_set(spec, {s: corpus[s] for s in splits[spec.split]},
                                        options)
        else:  # the same mixtures as its MoM set (planning is deterministic and cheap)
            source = mom_specs[spec.view_of]
            mom_plan = plans.get(source.name) or plan_set(
                source, {s: corpus[s] for s in splits[source.split]}, options)
            plans[spec.name] = supervised_view(spec, mom_plan)
    start = time.perf_counter()
    cache = AudioCache(options.fs)
    for spec in todo:
        _write_set(spec, plans[spec.name], configs[spec.name], out_dir, wav_dir, cache, options)
    vctk.write_splits(out_dir / "splits", splits)
    total = sum(spec.size for spec in todo)
    logger.info("%d examples (%s) in %.1f s", total, ", ".join(s.name for s in todo),
                time.perf_counter() - start)
    return out_dir


def _write_set(
    spec: SetSpec, plan: list[dict[str, Any]], config: dict[str, Any], out_dir: Path,
    wav_dir: Path, cache: AudioCache, options: MixitOptions,
) -> None:
    """Render one set into temp dirs, write its tables and marker, rename both into place."""
    final_wav = wav_dir / spec.name
    if final_wav.exists() and any(final_wav.iterdir()) and not (final_wav / WAV_MARKER).exists():
        raise DataError(f"{final_wav} exists and was not written by this tool: not replacing it")
    tmp_data, tmp_wav = fresh_temp_dir(out_dir / spec.name), fresh_temp_dir(final_wav)
    try:
        (tmp_wav / WAV_MARKER).touch()
        kinds = (["mom", "mix1", "mix2"] if spec.mom
                 else ["mix"] + [f"src{k}" for k in range(1, options.max_sources + 1)])
        for kind in kinds:
            (tmp_wav / kind).mkdir()
        scps: dict[str, dict[str, str]] = {kind: {} for kind in kinds}
        if spec.view_of is not None:  # the stand-in reference of absent sources
            _write_wav(tmp_wav / SILENCE_NAME, np.zeros(options.num_samples), options.fs,
                       options.dtype)
        for record in tqdm(plan, desc=f"mixit {spec.name}", unit="ex", mininterval=2,
                           disable=None):
            for kind, audio in render_example(record, cache, options).items():
                _write_wav(tmp_wav / kind / f"{record['key']}.wav", audio, options.fs,
                           options.dtype)
                scps[kind][record["key"]] = str(final_wav / kind / f"{record['key']}.wav")
        _write_tables(tmp_data, spec, plan, scps, options, str(final_wav / SILENCE_NAME))
        write_marker(tmp_data / DONE_NAME, config)
        move_into_place(tmp_wav, final_wav)
        move_into_place(tmp_data, out_dir / spec.name)
    finally:  # after success the temp dirs are gone; after a failure they are removed
        shutil.rmtree(tmp_data, ignore_errors=True)
        shutil.rmtree(tmp_wav, ignore_errors=True)


def _write_tables(data_dir: Path, spec: SetSpec, plan: list[dict[str, Any]],
                  scps: dict[str, dict[str, str]], options: MixitOptions,
                  silence: str) -> None:
    keys = [r["key"] for r in plan]
    if spec.mom:
        files = {"wav.scp": scps["mom"], "spk1.scp": scps["mix1"], "spk2.scp": scps["mix2"]}
    elif spec.view_of is not None:  # ESPnet refs: every key in every spk<k>.scp
        files = {"wav.scp": scps["mix"]}
        files.update({f"spk{k}.scp": {key: scps[f"src{k}"].get(key, silence) for key in keys}
                      for k in range(1, options.max_sources + 1)})
    else:
        files = {"wav.scp": scps["mix"]}
        files.update({f"src{k}.scp": scps[f"src{k}"]
                      for k in range(1, options.max_sources + 1) if scps[f"src{k}"]})
    for name, table in files.items():
        kaldi_dir.write_table(data_dir / name, table)
    kaldi_dir.write_table(data_dir / "utt2num_sources",
                          {r["key"]: " ".join(map(str, r["num_sources"])) for r in plan})
    meta = {r["key"]: {**{k: v for k, v in r.items() if k != "key"}, "fs": options.fs,
                       "num_samples": options.num_samples, "dtype": options.dtype}
            for r in plan}
    kaldi_dir.write_mixture_tables(data_dir, options.fs, keys, meta)


# ---- CLI -------------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.mixit.make_data",
        description="Write MixIT data dirs from a VCTK-layout corpus: <out_dir>/{train,dev} "
        "(mixtures of two mixtures: wav.scp = MoM, spk1/spk2.scp = the mixtures) and "
        "<out_dir>/test (single mixtures with their 1..K sources: src<k>.scp, "
        "utt2num_sources). Deterministic in --seed; finished sets are skipped when rerun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    vctk.add_corpus_arguments(parser, fs=8000)
    parser.add_argument("--segment", type=float, default=3.0, help="example length (s)")
    parser.add_argument("--n_train", type=int, default=2000, help="train MoM examples")
    parser.add_argument("--n_dev", type=int, default=200, help="dev MoM examples")
    parser.add_argument("--n_test", type=int, default=300, help="test mixtures")
    parser.add_argument("--min_sources", type=int, default=1, help="sources per mixture, min")
    parser.add_argument("--max_sources", type=int, default=3, help="sources per mixture, max")
    parser.add_argument("--max_gain_db", type=float, default=5.0,
                        help="source levels spread over ±max_gain_db/2 dB")
    parser.add_argument("--dtype", choices=["pcm16", "float32"], default="pcm16",
                        help="wav sample format (pcm16: exact sums; float32: to 1 ulp)")
    parser.add_argument("--supervised_sets", type=_yes_no, default=True,
                        help="also write train_sup/dev_sup: the MoMs' mixtures with their "
                        "sources (for the supervised reference model)")
    return parser


def _yes_no(value: str) -> bool:
    if value.lower() in ("true", "yes", "1"):
        return True
    if value.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    options = MixitOptions(fs=args.fs, segment=args.segment, min_sources=args.min_sources,
                           max_sources=args.max_sources, max_gain_db=args.max_gain_db,
                           seed=args.seed, dtype=args.dtype, mic=args.mic)
    return run_or_report(lambda: generate_mixit_data(
        args.corpus_dir, args.out_dir, args.wav_dir, args.n_train, args.n_dev, args.n_test,
        options, args.num_dev_speakers, args.num_test_speakers, args.supervised_sets,
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
