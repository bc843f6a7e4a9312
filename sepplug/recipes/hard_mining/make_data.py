"""Two-speaker data for dynamic mixing (DM): a source set to mix from, fixed dev/test mixtures.

Reads a VCTK-layout corpus (the embedded espeak-ng corpus or VCTK; speaker-disjoint splits
from its ``splits/*.spk``, else drawn from the seed) and writes Kaldi dirs (audio under
``<wav_dir>/<set>/``, 16-bit PCM, mono):

* ``train`` — the DM source set, one entry per utterance of the train speakers::

      spk1.scp    <utt> the utterance at fs, levelled like the corpus (-24 dBFS RMS, peak
                  <= 0.95), zero-padded at a random offset to >= --min_train_seconds
      utt2spk     <utt> <speaker>     the real speakers (spk2utt their inverse)
      wav.scp     <utt> a static mixture: the utterance + one partner utterance of another
      spk2.scp    <utt>   train speaker (levelled alike, then cropped or zero-padded to the
                        anchor's length, relative gain U(-g, g) dB, turned down where the
                        sum would clip)

  ESPnet's ``DynamicMixingPreprocessor`` (``preprocessor: dynamic_mixing``) takes each
  example's ``speech_ref1`` (spk1.scp) as the anchor and draws ``ref_num - 1`` partners of
  other speakers from ``<train dir>/<source_scp_name>`` (spk1.scp) and the file given to
  the enh task as ``--utt2spk`` (this utt2spk); it replaces ``speech_mix`` and
  ``speech_ref2`` on the fly. The static pair is the first draw made offline: what a model
  reads without DM, and what the shared ``enh.sh`` needs for the keys it always passes.
* ``dev``, ``test`` — fixed two-speaker mixtures of the dev / test speakers: the speech
  domain of :mod:`sepplug.simulate.domains` (``plan_example``, ``render_sources``,
  ``mix_sources``): ``--segment`` crops at unit RMS, relative gain U(-g, g) dB, scaled so
  the loudest of mixture and sources peaks at ``--peak``; ``wav.scp = spk1 + spk2``
  exactly; ``utt2spk`` maps each mixture to itself (ESPnet enh convention).

Every set also has ``mixtures.tsv`` (header ``utt spk1 spk2 utt1 utt2 sir_db``: the two
speakers and utterances of each mixture and the level of spk1 over spk2 in the written
files, dB; the per-mixture table of the hardness analysis), ``meta.jsonl`` and ``fs``.
The default ``--peak`` puts the dev/test mixtures at about the level of the DM mixtures.

Everything random is drawn from ``(seed, set, index)``: bit-identical on every run. Each
set is written under temp names and renamed into place with a ``.done.json`` marker; a
finished set is skipped when rerun, and rerunning with other options is an error. CLI::

    python -m sepplug.recipes.hard_mining.make_data --corpus_dir db/embedded_corpus --out_dir data
    \\
        --wav_dir db/dm_8000 --fs 8000 --n_dev 200 --n_test 1000
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Sequence
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
from sepplug.simulate.corpus import normalise_level
from sepplug.simulate.domains.mixtures import (
    DomainOptions,
    mix_sources,
    plan_example,
    render_sources,
)
from sepplug.simulate.domains.speech import read_source
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

TSV_NAME = "mixtures.tsv"
TSV_COLUMNS = ("utt", "spk1", "spk2", "utt1", "utt2", "sir_db")
CLIP_LIMIT = 0.99  # |static train mixture| stays below this (16-bit PCM, no clipping)
MIN_RMS = 1e-5  # a source quieter than this (-100 dB) is refused as silent
KINDS = ("mix", "spk1", "spk2")


@dataclass(frozen=True)
class DMOptions:
    """What every set depends on (the done markers store it)."""

    fs: int = 8000
    segment: float = 3.0  # dev/test mixture length (s)
    min_train_seconds: float = 2.5  # shorter train utterances are zero-padded to this
    max_gain_db: float = 5.0
    peak: float = 0.75  # dev/test mixtures at about the DM mixtures' level (median -21 dBFS)
    seed: int = 0

    @property
    def domain(self) -> DomainOptions:
        """The options of :mod:`sepplug.simulate.domains` for the dev/test mixtures."""
        return DomainOptions(fs=self.fs, segment=self.segment, max_gain_db=self.max_gain_db,
                             peak=self.peak, seed=self.seed)

    def check(self) -> None:
        """Raise DataError for out-of-range options."""
        self.domain.check()
        if not 0 < self.min_train_seconds <= 60:
            raise DataError(f"--min_train_seconds must be in (0, 60], got {self.min_train_seconds}")


def _rng(seed: int, set_name: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(set_name.encode()), index])


# ---- train: the DM source set ----------------------------------------------------------------


def plan_train(pool: dict[str, list[vctk.Utterance]], options: DMOptions) -> list[dict[str, Any]]:
    """One record per train utterance: its length, padding offset and static partner."""
    speakers = sorted(pool)
    min_samples = int(round(options.min_train_seconds * options.fs))
    records = []
    for index, utt in enumerate(u for s in speakers for u in pool[s]):
        rng = _rng(options.seed, "train", index)
        others = [s for s in speakers if s != utt.speaker]
        partner_spk = others[int(rng.integers(len(others)))]
        partner = pool[partner_spk][int(rng.integers(len(pool[partner_spk])))]
        records.append({
            "key": utt.utt_id, "speaker": utt.speaker, "file": str(utt.path),
            "length": utt.num_samples_at(options.fs),
            "num_samples": max(utt.num_samples_at(options.fs), min_samples),
            "pad": round(float(rng.random()), 6),
            "partner": {"speaker": partner_spk, "utterance": partner.utt_id,
                        "file": str(partner.path), "length": partner.num_samples_at(options.fs),
                        "crop": round(float(rng.random()), 6)},
            "gain_db": round(float(rng.uniform(-1, 1) * options.max_gain_db), 4),
        })
    return records


def _levelled(audio: np.ndarray, where: str) -> np.ndarray:
    problem = signal_problem(audio, silent_ok=False)
    if problem is None and np.sqrt(np.mean(audio**2)) < MIN_RMS:
        problem = "is silent (RMS below -100 dB)"
    if problem:
        raise DataError(f"{where} {problem}")
    return normalise_level(audio)


def fit_gain(anchor: np.ndarray, partner: np.ndarray, limit: float = CLIP_LIMIT) -> float:
    """The largest ``s <= 1`` with ``|anchor + s * partner| <= limit`` (``|anchor| <= limit``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(partner > 0, (limit - anchor) / partner,
                         np.where(partner < 0, (-limit - anchor) / partner, np.inf))
    return float(min(1.0, bound.min(initial=np.inf)))


def render_train(record: dict[str, Any], fs: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The anchor, its static partner and their sum, int16 ``(T,)`` each, and what was applied."""
    source = {"file": record["file"], "crop": 0.0}
    anchor = _levelled(read_source(source, fs, record["length"]),
                       f"train utterance {record['file']}")
    anchor = crop_or_pad(anchor, record["num_samples"], record["pad"])
    other = record["partner"]
    partner = _levelled(read_source({"file": other["file"], "crop": 0.0}, fs, other["length"]),
                        f"train utterance {other['file']}")
    partner = crop_or_pad(partner, anchor.size, other["crop"]) * 10 ** (record["gain_db"] / 20)
    scale = fit_gain(anchor, partner)
    spk1 = np.round(anchor * 32768.0).astype(np.int32)
    spk2 = np.round(partner * scale * 32768.0).astype(np.int32)
    if not spk2.any():
        raise DataError(f"train {record['key']}: the static partner {record['partner']['file']} "
                        "is silent after the clipping guard")
    wavs = {"mix": spk1 + spk2, "spk1": spk1, "spk2": spk2}
    return ({k: v.astype(np.int16) for k, v in wavs.items()},
            {"partner_scale": round(scale, 6)})


# ---- dev / test: fixed mixtures (the speech domain of sepplug.simulate.domains) ---------------


def render_fixed(record: dict[str, Any], options: DMOptions
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A planned speech-domain example: int16 mix/spk1/spk2 and its gains record."""
    audio, _ = render_sources(record, options.domain)
    return mix_sources(record, audio, options.domain)


def _pair_of(record: dict[str, Any]) -> tuple[str, str, str, str]:
    if "partner" in record:  # a train record
        p = record["partner"]
        return record["speaker"], p["speaker"], record["key"], p["utterance"]
    a, b = record["sources"]
    return a["speaker"], b["speaker"], a["utterance"], b["utterance"]


def sir_db(spk1: np.ndarray, spk2: np.ndarray) -> float:
    """Level of ``spk1`` over ``spk2`` (dB)."""
    e1, e2 = (float(np.sum(np.asarray(x, dtype=np.float64) ** 2)) for x in (spk1, spk2))
    return round(10 * np.log10(e1 / e2), 3)


# ---- writing ---------------------------------------------------------------------------------


def _write_set(name: str, records: list[dict[str, Any]], render: Callable, config: dict[str, Any],
               out_dir: Path, wav_dir: Path, fs: int) -> None:
    """Render one set into temp dirs, write its tables and marker, rename both into place."""
    final_wav = wav_dir / name
    if final_wav.exists() and any(final_wav.iterdir()) and not (final_wav / WAV_MARKER).exists():
        raise DataError(f"{final_wav} exists and was not written by this tool: not replacing it")
    tmp_data, tmp_wav = fresh_temp_dir(out_dir / name), fresh_temp_dir(final_wav)
    try:
        (tmp_wav / WAV_MARKER).touch()
        for kind in KINDS:
            (tmp_wav / kind).mkdir()
        scps: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        meta, rows = {}, []
        for record in tqdm(records, desc=f"dm {name}", unit="ex", mininterval=2, disable=None):
            key = record["key"]
            wavs, applied = render(record)
            for kind, samples in wavs.items():
                sf.write(tmp_wav / kind / f"{key}.wav", samples, fs, subtype="PCM_16")
                scps[kind][key] = str(final_wav / kind / f"{key}.wav")
            pair = _pair_of(record)
            level = sir_db(wavs["spk1"], wavs["spk2"])
            rows.append((key, *pair, f"{level:.3f}"))
            meta[key] = {**{k: v for k, v in record.items() if k != "key"}, **applied,
                         "speakers": list(pair[:2]), "sir_db": level, "fs": fs}
        _write_tables(tmp_data, name, scps, meta, rows, fs)
        write_marker(tmp_data / DONE_NAME, config)
        move_into_place(tmp_wav, final_wav)
        move_into_place(tmp_data, out_dir / name)
    finally:  # after success the temp dirs are gone; after a failure they are removed
        shutil.rmtree(tmp_data, ignore_errors=True)
        shutil.rmtree(tmp_wav, ignore_errors=True)


def _write_tables(data_dir: Path, name: str, scps: dict[str, dict[str, str]],
                  meta: dict[str, dict[str, Any]], rows: list[tuple], fs: int) -> None:
    for file, kind in (("wav.scp", "mix"), ("spk1.scp", "spk1"), ("spk2.scp", "spk2")):
        kaldi_dir.write_table(data_dir / file, scps[kind])
    if name == "train":  # the real speakers: DM draws partners of another speaker
        utt2spk = {k: m["speaker"] for k, m in meta.items()}
    else:
        utt2spk = {k: k for k in meta}
    spk2utt: dict[str, list[str]] = {}
    for utt in kaldi_dir.c_sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    kaldi_dir.write_table(data_dir / "utt2spk", utt2spk)
    kaldi_dir.write_table(data_dir / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    kaldi_dir.write_meta(data_dir / "meta.jsonl", meta)
    order = {k: i for i, k in enumerate(kaldi_dir.c_sorted(meta))}
    rows = sorted(rows, key=lambda r: order[r[0]])
    lines = ["\t".join(TSV_COLUMNS)] + ["\t".join(r) for r in rows]
    (data_dir / TSV_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data_dir / "fs").write_text(f"{fs}\n", encoding="utf-8")


def read_mixture_table(path: Path | str) -> list[dict[str, str]]:
    """Rows of a ``mixtures.tsv`` (dicts keyed by :data:`TSV_COLUMNS`)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != TSV_COLUMNS:
        raise DataError(f"{path}: not a {TSV_NAME} (header {' '.join(TSV_COLUMNS)})")
    return [dict(zip(TSV_COLUMNS, line.split("\t"), strict=True)) for line in lines[1:] if line]


def generate_dm_data(
    corpus_dir: Path | str, out_dir: Path | str, wav_dir: Path | str | None = None,
    n_dev: int = 200, n_test: int = 1000, options: DMOptions | None = None,
    num_dev_speakers: int | None = None, num_test_speakers: int | None = None,
    mic: str = "mic1",
) -> Path:
    """Write ``train`` (DM sources), ``dev`` and ``test`` (see the module doc); a no-op for
    sets already done. A size of 0 leaves that set out.

    Raises:
        DataError: bad options or corpus, or a split with fewer than two speakers (nothing is
            written then).
    """
    options = options or DMOptions()
    options.check()
    sizes = {"dev": n_dev, "test": n_test}
    for name, size in sizes.items():
        if size < 0:
            raise DataError(f"--n_{name} must be >= 0, got {size}")
    out_dir = Path(out_dir).absolute()
    wav_dir = Path(wav_dir).absolute() if wav_dir else out_dir.parent / "wav"
    corpus_dir = Path(corpus_dir).absolute()
    common = {"kind": "sepplug-dm-speech", "corpus_dir": str(corpus_dir), "wav_dir": str(wav_dir),
              **asdict(options), "num_dev_speakers": num_dev_speakers,
              "num_test_speakers": num_test_speakers, "mic": mic}
    configs = {"train": {**common, "set": "train"}}
    configs.update({s: {**common, "set": s, "size": n} for s, n in sizes.items() if n > 0})
    todo = [s for s in configs if not is_done(out_dir / s, configs[s])]
    if not todo:
        logger.info("all DM sets in %s are complete: nothing to do", out_dir)
        return out_dir

    # Plan everything before writing anything: bad input fails with no output at all.
    corpus = vctk.scan_corpus(corpus_dir, mic)
    splits = speaker_splits(corpus_dir, corpus, options.seed, num_dev_speakers, num_test_speakers)
    pools = {s: {spk: corpus[spk] for spk in splits[s]} for s in vctk.SPLITS}
    for split, pool in pools.items():
        if len(pool) < 2:
            raise DataError(f"corpus {corpus_dir}: the {split} split has {len(pool)} speaker(s) "
                            f"({', '.join(sorted(pool)) or 'none'}); a mixture needs two")
    plans = {"train": plan_train(pools["train"], options)}
    for name in sizes:
        plans[name] = [plan_example("speech", name, i, sizes[name], {"pools": pools},
                                    options.domain) for i in range(sizes[name])]
    start = time.perf_counter()
    for name in todo:
        render = (lambda r: render_train(r, options.fs)) if name == "train" else (
            lambda r: render_fixed(r, options))
        _write_set(name, plans[name], render, configs[name], out_dir, wav_dir, options.fs)
    vctk.write_splits(out_dir / "splits", splits)
    logger.info("%s: %s in %.1f s", out_dir, ", ".join(f"{n} {len(plans[n])}" for n in todo),
                time.perf_counter() - start)
    return out_dir


# ---- CLI -------------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.hard_mining.make_data",
        description="Write two-speaker data for dynamic mixing from a VCTK-layout corpus: "
        "<out_dir>/train (every train-speaker utterance as a DM source: spk1.scp, utt2spk of "
        "the real speakers, plus a static mixture) and <out_dir>/{dev,test} (fixed mixtures); "
        "each with mixtures.tsv naming the speakers. Deterministic in --seed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    vctk.add_corpus_arguments(parser, fs=8000)
    parser.add_argument("--n_dev", type=int, default=200, help="dev mixtures")
    parser.add_argument("--n_test", type=int, default=1000, help="test mixtures")
    parser.add_argument("--segment", type=float, default=3.0, help="dev/test mixture length (s)")
    parser.add_argument("--min_train_seconds", type=float, default=2.5,
                        help="train sources shorter than this are zero-padded to it")
    parser.add_argument("--max_gain_db", type=float, default=5.0,
                        help="relative source gain U(-g, g) dB (dev/test, static train pairs)")
    parser.add_argument("--peak", type=float, default=0.75,
                        help="dev/test: peak of the loudest of mixture and sources")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    options = DMOptions(fs=args.fs, segment=args.segment, min_train_seconds=args.min_train_seconds,
                        max_gain_db=args.max_gain_db, peak=args.peak, seed=args.seed)
    return run_or_report(lambda: generate_dm_data(
        args.corpus_dir, args.out_dir, args.wav_dir, args.n_dev, args.n_test, options,
        args.num_dev_speakers, args.num_test_speakers, args.mic,
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
