"""Two-source mixtures of three audio domains (speech, music, environmental) as Kaldi dirs.

The data of clustering-confidence model selection (Liu, Seetharaman & Pardo): one
separation model per domain, each trained on 2-source mixtures of its own domain.

* ``speech`` — two different speakers (:mod:`.speech`; embedded corpus or ``--corpus_dir``,
  speaker-disjoint splits);
* ``music`` — spk1 = "vocals", spk2 = accompaniment of the same song at the same time
  (:mod:`.music`; synthesised General-MIDI songs, or MUSDB18-HQ stems with ``--musdb_dir``);
* ``env`` — two clips of two different classes among car_horn, dog_bark, gun_shot,
  jackhammer, siren (:mod:`.environmental`; procedural synthesis, or UrbanSound8K with
  ``--urbansound_dir``: folds 1-8 / 9 / 10 for train / dev / test).

Output, per domain and split::

    <out_dir>/<domain>/<split>/wav.scp         <utt> the mixture = spk1 + spk2 (exact)
                              spk1.scp, spk2.scp  the two sources
                              utt2spk, spk2utt    each mixture its own "speaker" (ESPnet enh)
                              utt2category        <utt> <domain>
                              meta.jsonl          seed, classes / speakers / song, gains
                              fs, .done.json
                              audio/{mix,spk1,spk2}/<utt>.wav   16-bit PCM, mono
    <out_dir>/speech/splits/{train,dev,test}.spk   the speaker lists used

Keys are ``<domain>_<split>_<index>``, unique across domains, so the test sets of the
three domains can be pooled for model selection.

Mixing: each source is scaled to unit RMS, then by ``±g/2`` dB with the relative gain
``g ~ U(-max_gain_db, max_gain_db)``; the example is scaled so that the loudest of the
mixture and its sources peaks at ``--peak``; the sources are quantised to 16 bits and the
mixture is their integer sum, so ``mix = spk1 + spk2`` holds exactly in the files.

Everything random is drawn from ``(seed, domain, split, index)``: the splits use disjoint
random streams (and, for speech, disjoint speakers; for real corpora, disjoint tracks or
folds), and the output is bit-identical whatever ``--nj``. Each set is written into a
temp dir, gets a ``.done.json`` marker and is renamed into place; a finished set is
skipped when rerun, and rerunning with other options is an error.

CLI (the defaults are the CPU-scale choice: 8 kHz, 2 s, where the paper has 16 kHz, 5 s
and 20000 / 5000 / 3000 mixtures per domain)::

    python -m sepplug.simulate.domains --out_dir data/domains --domains speech,music,env \\
        --fs 8000 --segment 2.0 --n_train 2000 --n_dev 200 --n_test 300 --seed 0 --nj 2
"""

from __future__ import annotations

import argparse
import json
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

from sepplug.datadir import categories, kaldi_dir
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.simulate import vctk
from sepplug.simulate.done import DONE_NAME, fresh_temp_dir, is_done, move_into_place, write_marker

logger = logging.getLogger(__name__)

DOMAINS = categories.DOMAINS
DOMAIN_ALIASES = {"environmental": "env", "environment": "env"}
SPLITS = ("train", "dev", "test")
WAV_KINDS = ("mix", "spk1", "spk2")
AUDIO_DIR = "audio"
MIN_SOURCE_RMS = 1e-5  # a source quieter than this (-100 dB) would be a silent reference
JOBS_DIR = "domains_jobs"  # temp dir (".domains_jobs.tmp") of the job plan and results


@dataclass(frozen=True)
class DomainOptions:
    """What every set depends on (the done markers store it)."""

    fs: int = 8000
    segment: float = 2.0
    max_gain_db: float = 5.0
    peak: float = 0.9
    seed: int = 0

    @property
    def num_samples(self) -> int:
        return int(round(self.segment * self.fs))

    def check(self) -> None:
        """Raise DataError for out-of-range options."""
        if not 8000 <= self.fs <= 48000:
            raise DataError(f"--fs must be in [8000, 48000] Hz, got {self.fs}")
        if not 0.25 <= self.segment <= 60:
            raise DataError(f"--segment must be in [0.25, 60] s, got {self.segment}")
        if self.max_gain_db < 0:
            raise DataError(f"--max_gain_db must be >= 0 dB, got {self.max_gain_db}")
        if not 0 < self.peak < 1:
            raise DataError(f"--peak must be in (0, 1), got {self.peak}")


def parse_domains(text: str | Sequence[str]) -> list[str]:
    """``"speech,music,env"`` -> canonical domain names, in the given order, no repeats."""
    names = text.split(",") if isinstance(text, str) else list(text)
    domains: list[str] = []
    for name in (n.strip().lower() for n in names):
        if not name:
            continue
        name = DOMAIN_ALIASES.get(name, name)
        if name not in DOMAINS:
            raise DataError(f"unknown domain '{name}' in --domains; choose from "
                            f"{', '.join(DOMAINS)} (or 'environmental' for env)")
        if name not in domains:
            domains.append(name)
    if not domains:
        raise DataError("--domains names no domain")
    return domains


def _rng(seed: int, domain: str, split: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng(
        [seed, zlib.crc32(domain.encode()), zlib.crc32(split.encode()), *extra])


# ---- sources of each domain ------------------------------------------------------------------


def _check_path(path: Path | str | None, what: str) -> Path | None:
    if path is None or str(path) == "":
        return None
    path = Path(path).absolute()
    if not path.is_dir():
        raise DataError(f"{what} {path} does not exist or is not a directory")
    return path


def _load_sources(domain: str, paths: dict[str, Path | None], out_dir: Path,
                  options: DomainOptions, nj: int) -> dict[str, Any]:
    """What planning a domain needs: speaker pools, MUSDB tracks or UrbanSound8K clips."""
    if domain == "speech":
        from sepplug.simulate.domains import speech

        corpus_dir = paths["speech"] or speech.embedded_corpus(out_dir, nj)
        pools = speech.speaker_pools(corpus_dir, options.seed)
        vctk.write_splits(out_dir / "speech" / "splits",
                          {s: sorted(pool) for s, pool in pools.items()})
        return {"pools": pools}
    if domain == "music" and paths["music"]:
        from sepplug.simulate.domains import music

        return {"tracks": music.scan_musdb(paths["music"], options.seed)}
    if domain == "env" and paths["env"]:
        from sepplug.simulate.domains import environmental

        return {"clips": environmental.scan_urbansound(paths["env"])}
    return {}


def source_description(domain: str, paths: dict[str, Path | None], out_dir: Path) -> str:
    """Where a domain's audio comes from (stored in the done markers)."""
    if domain == "speech":
        from sepplug.simulate.domains.speech import EMBEDDED_NAME

        return f"corpus:{paths['speech'] or out_dir / EMBEDDED_NAME}"
    if paths[domain]:
        return f"{'musdb' if domain == 'music' else 'urbansound8k'}:{paths[domain]}"
    return "synthetic"


# ---- planning --------------------------------------------------------------------------------


def plan_example(domain: str, split: str, index: int, size: int, sources: dict[str, Any],
                 options: DomainOptions) -> dict[str, Any]:
    """Draw one example: what its two sources are, and its relative gain.

    Synthetic sources get a render seed each; the parameters drawn from it are written
    to ``meta.jsonl`` when the example is rendered.
    """
    rng = _rng(options.seed, domain, split, index)
    width = max(6, len(str(size)))
    record: dict[str, Any] = {"key": f"{domain}_{split}_{index:0{width}d}", "domain": domain,
                              "split": split, "index": index}
    if domain == "speech":
        from sepplug.simulate.domains.speech import plan_pair

        record["sources"] = plan_pair(rng, sources["pools"][split])
    elif domain == "music":
        record["render_seed"] = int(rng.integers(2**62))
        if "tracks" in sources:
            tracks = sources["tracks"][split]
            record["track"] = asdict(tracks[int(rng.integers(len(tracks)))])
    else:
        from sepplug.simulate.domains.environmental import CLASSES

        classes = [CLASSES[int(i)] for i in rng.choice(len(CLASSES), 2, replace=False)]
        record["sources"] = []
        for name in classes:
            source: dict[str, Any] = {"class": name, "render_seed": int(rng.integers(2**62))}
            if "clips" in sources:
                clips = sources["clips"][split][name]
                source["file"] = clips[int(rng.integers(len(clips)))]["file"]
            record["sources"].append(source)
    record["gain_db"] = round(float(rng.uniform(-1, 1) * options.max_gain_db), 4)
    return record


# ---- rendering (in the jobs) -----------------------------------------------------------------


def render_sources(record: dict[str, Any], options: DomainOptions
                   ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """The two raw sources of a planned example (float64 ``(T,)``) and what they are."""
    fs, n = options.fs, options.num_samples
    domain = record["domain"]
    if domain == "speech":
        from sepplug.simulate.domains.speech import read_source

        return ([read_source(s, fs, n) for s in record["sources"]],
                [{k: v for k, v in s.items() if k != "file"} for s in record["sources"]])
    if domain == "music":
        from sepplug.simulate.domains import music

        rng = np.random.default_rng(record["render_seed"])
        if "track" in record:
            vocals, accompaniment, info = music.read_musdb_crop(record["track"], rng, fs, n)
        else:
            vocals, accompaniment, info = music.render_song(rng, fs, n)
        return [vocals, accompaniment], [{"role": "vocals", **info}, {"role": "accompaniment"}]
    from sepplug.simulate.domains import environmental

    audio, infos = [], []
    for source in record["sources"]:
        rng = np.random.default_rng(source["render_seed"])
        if "file" in source:
            clip, info = environmental.read_clip(source["file"], rng, fs, n)
            info = {"file": source["file"], **info}
        else:
            clip, info = environmental.render(source["class"], rng, fs, n)
        audio.append(clip)
        infos.append({"class": source["class"], **info})
    return audio, infos


def mix_sources(record: dict[str, Any], audio: list[np.ndarray], options: DomainOptions
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Level, scale and quantise two sources; the mixture is their exact int16 sum.

    Returns:
        ``({"mix", "spk1", "spk2"}: int16 (T,), gains record)``.

    Raises:
        DataError: a source is silent.
    """
    scaled = []
    gains = [record["gain_db"] / 2, -record["gain_db"] / 2]
    for k, (source, gain) in enumerate(zip(audio, gains, strict=True), 1):
        rms = float(np.sqrt(np.mean(source**2)))
        if not np.isfinite(rms) or rms < MIN_SOURCE_RMS:
            raise DataError(f"example {record['key']}: source spk{k} is silent or not finite "
                            f"(RMS {rms:.1e}): {json.dumps(record)[:300]}")
        scaled.append(source / rms * 10 ** (gain / 20))
    loudest = max(np.abs(scaled[0]).max(), np.abs(scaled[1]).max(),
                  np.abs(scaled[0] + scaled[1]).max())
    scale = options.peak / loudest
    spk = [np.round(s * scale * 32768.0).astype(np.int32) for s in scaled]
    mix = spk[0] + spk[1]  # |mix| <= peak * 32768 + 1 < 32767
    out = {"mix": mix.astype(np.int16), "spk1": spk[0].astype(np.int16),
           "spk2": spk[1].astype(np.int16)}
    return out, {"gain_db": record["gain_db"], "source_gains_db": gains,
                 "scale": round(float(scale), 6), "peak": options.peak}


def run_job(plan_path: Path | str, job: int, nj: int,
            progress_position: int | None = None) -> Path:
    """Render the examples ``job-1::nj`` of the plan; write their audio and a results file.

    The plan (written by :func:`generate_domains`) is a JSON options line followed by one
    record per example with its temp set dir. Returns the results file.
    """
    import soundfile as sf
    from tqdm import tqdm

    plan_path = Path(plan_path)
    with open(plan_path, encoding="utf-8") as f:
        options = DomainOptions(**json.loads(f.readline()))
        records = [json.loads(line) for line in f if line.strip()]
    results = plan_path.parent / f"results.{job}.jsonl"
    lines = []
    for record in tqdm(records[job - 1 :: nj], desc=f"domains job {job}/{nj}", unit="mix",
                       position=progress_position, mininterval=2, disable=None):
        audio, infos = render_sources(record, options)
        wavs, gains = mix_sources(record, audio, options)
        for kind, samples in wavs.items():
            sf.write(Path(record["tmp_dir"]) / AUDIO_DIR / kind / f"{record['key']}.wav",
                     samples, options.fs, subtype="PCM_16")
        meta = {"domain": record["domain"], "split": record["split"], "index": record["index"],
                "seed": options.seed, "sources": infos, **gains, "fs": options.fs,
                "num_samples": options.num_samples}
        if record["domain"] == "speech":
            meta["speakers"] = [s["speaker"] for s in record["sources"]]
        elif record["domain"] == "env":
            meta["classes"] = [s["class"] for s in record["sources"]]
        lines.append(json.dumps({"key": record["key"], "meta": meta}) + "\n")
    tmp = results.with_name(results.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(results)
    return results


# ---- the whole generation --------------------------------------------------------------------


def generate_domains(
    out_dir: Path | str,
    domains: str | Sequence[str] = DOMAINS,
    n_train: int = 2000,
    n_dev: int = 200,
    n_test: int = 300,
    options: DomainOptions | None = None,
    corpus_dir: Path | str | None = None,
    musdb_dir: Path | str | None = None,
    urbansound_dir: Path | str | None = None,
    nj: int = 1,
    cmd: str | None = None,
) -> Path:
    """Write the data dirs of the module doc; a no-op for sets already done.

    Args:
        domains: names (``speech``, ``music``, ``env``) or one comma-separated string.
        n_train, n_dev, n_test: mixtures per split and domain (a split of size 0 is skipped).
        corpus_dir: VCTK-layout speech corpus (default: the embedded corpus, synthesised
            into ``out_dir/embedded_corpus`` on first use).
        musdb_dir, urbansound_dir: real corpora (default: the embedded synthesis).
        nj: rendering jobs; ``cmd``: run them through a Kaldi-style ``run.pl``/``slurm.pl``.

    Raises:
        DataError: bad options or corpus paths (nothing is written then).
    """
    from sepplug.simulate.jobs import run_jobs

    options = options or DomainOptions()
    options.check()
    domains = parse_domains(domains)
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    for split, size in sizes.items():
        if size < 0:
            raise DataError(f"--n_{split} must be >= 0, got {size}")
    if nj < 1:
        raise DataError(f"--nj must be >= 1, got {nj}")
    paths = {"speech": _check_path(corpus_dir, "--corpus_dir"),
             "music": _check_path(musdb_dir, "--musdb_dir"),
             "env": _check_path(urbansound_dir, "--urbansound_dir")}
    out_dir = Path(out_dir).absolute()
    configs = {}
    for domain in domains:
        for split in SPLITS:
            if sizes[split] > 0:
                configs[domain, split] = {
                    "kind": "sepplug-domains", "domain": domain, "split": split,
                    "size": sizes[split], "source": source_description(domain, paths, out_dir),
                    **asdict(options)}
    todo = [ds for ds, config in configs.items()
            if not is_done(out_dir / ds[0] / ds[1], config)]
    if not todo:
        logger.info("every set in %s is complete: nothing to do", out_dir)
        return out_dir

    # Plan everything before writing any set: bad input fails with no set written.
    start = time.perf_counter()
    sources = {d: _load_sources(d, paths, out_dir, options, nj)
               for d in dict.fromkeys(d for d, _ in todo)}
    plans = {(d, s): [plan_example(d, s, i, sizes[s], sources[d], options)
                      for i in range(sizes[s])] for d, s in todo}
    tmp_dirs = {}
    jobs_dir = fresh_temp_dir(out_dir / JOBS_DIR)
    try:
        for domain, split in todo:
            tmp = tmp_dirs[domain, split] = fresh_temp_dir(out_dir / domain / split)
            for kind in WAV_KINDS:
                (tmp / AUDIO_DIR / kind).mkdir(parents=True)
        plan_path = jobs_dir / "plan.jsonl"
        with open(plan_path, "w", encoding="utf-8") as f:
            f.write(json.dumps(asdict(options)) + "\n")
            for (domain, split), records in plans.items():
                for record in records:
                    f.write(json.dumps({**record, "tmp_dir": str(tmp_dirs[domain, split])})
                            + "\n")
        total = sum(len(p) for p in plans.values())
        nj = min(nj, total)
        run_jobs(nj, run_job, [str(plan_path)], "sepplug.simulate.domains",
                 ["--job_plan", str(plan_path), "--job", "JOB", "--nj", str(nj)],
                 jobs_dir / "log", "domains", cmd)
        metas: dict[str, dict[str, Any]] = {}
        for job in range(1, nj + 1):
            results = jobs_dir / f"results.{job}.jsonl"
            if not results.is_file():
                raise DataError(f"job {job}/{nj} left no results file {results}")
            for line in results.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                metas[entry["key"]] = entry["meta"]
        for domain, split in todo:
            final = out_dir / domain / split
            _write_tables(tmp_dirs[domain, split], final, domain,
                          {r["key"]: metas[r["key"]] for r in plans[domain, split]}, options)
            write_marker(tmp_dirs[domain, split] / DONE_NAME, configs[domain, split])
            move_into_place(tmp_dirs[domain, split], final)
    finally:  # after success the temp dirs are gone; after a failure they are removed
        for tmp in [jobs_dir, *tmp_dirs.values()]:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("%d mixtures (%s) in %.1f s with %d job(s) -> %s", total,
                ", ".join(f"{d}/{s}" for d, s in todo), time.perf_counter() - start, nj, out_dir)
    return out_dir


def _write_tables(data_dir: Path, final: Path, domain: str, metas: dict[str, dict[str, Any]],
                  options: DomainOptions) -> None:
    keys = list(metas)
    for name, kind in (("wav.scp", "mix"), ("spk1.scp", "spk1"), ("spk2.scp", "spk2")):
        kaldi_dir.write_table(data_dir / name,
                              {k: str(final / AUDIO_DIR / kind / f"{k}.wav") for k in keys})
    kaldi_dir.write_table(data_dir / "utt2category", dict.fromkeys(keys, domain))
    kaldi_dir.write_mixture_tables(data_dir, options.fs, keys, metas)


# ---- CLI -------------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.simulate.domains",
        description="Write 2-source mixtures of three domains (speech: two speakers; music: "
        "vocals vs accompaniment; env: two of car_horn, dog_bark, gun_shot, jackhammer, siren) "
        "as Kaldi dirs <out_dir>/<domain>/{train,dev,test}. Offline by default (embedded "
        "corpus, General-MIDI songs, procedural sounds); real corpora by path. "
        "Deterministic in --seed whatever --nj; finished sets are skipped when rerun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out_dir", type=Path, default=None, help="output root")
    parser.add_argument("--domains", default=",".join(DOMAINS),
                        help="comma-separated: speech, music, env")
    parser.add_argument("--fs", type=int, default=8000, help="sample rate (Hz)")
    parser.add_argument("--segment", type=float, default=2.0, help="mixture length (s)")
    parser.add_argument("--n_train", type=int, default=2000, help="train mixtures per domain")
    parser.add_argument("--n_dev", type=int, default=200, help="dev mixtures per domain")
    parser.add_argument("--n_test", type=int, default=300, help="test mixtures per domain")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything")
    parser.add_argument("--max_gain_db", type=float, default=5.0,
                        help="relative source gain drawn in ±max_gain_db dB")
    parser.add_argument("--peak", type=float, default=0.9,
                        help="peak of the loudest of mixture and sources")
    parser.add_argument("--corpus_dir", type=Path, default=None,
                        help="VCTK-layout speech corpus (default: the embedded corpus, "
                        "synthesised into <out_dir>/embedded_corpus)")
    parser.add_argument("--musdb_dir", type=Path, default=None,
                        help="MUSDB18-HQ stems (<track>/vocals.wav, drums.wav, ...), "
                        "default: synthesised songs")
    parser.add_argument("--urbansound_dir", type=Path, default=None,
                        help="UrbanSound8K (metadata/UrbanSound8K.csv, audio/foldN/), "
                        "default: procedural synthesis")
    parser.add_argument("--nj", type=int, default=1, help="parallel rendering jobs")
    parser.add_argument("--cmd", default=None,
                        help="run the jobs through a Kaldi-style cmd (e.g. tools/utils/run.pl)")
    # one rendering job (how --cmd runs them)
    parser.add_argument("--job_plan", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--job", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    setup_cli_logging()
    if args.job_plan is not None:
        if args.job is None or not 1 <= args.job <= args.nj:
            parser.error(f"--job {args.job} is not in 1..{args.nj}")
        return run_or_report(lambda: run_job(args.job_plan, args.job, args.nj), logger)
    if args.out_dir is None:
        parser.error("--out_dir is required")
    options = DomainOptions(fs=args.fs, segment=args.segment, max_gain_db=args.max_gain_db,
                            peak=args.peak, seed=args.seed)
    return run_or_report(lambda: generate_domains(
        args.out_dir, args.domains, args.n_train, args.n_dev, args.n_test, options,
        args.corpus_dir, args.musdb_dir, args.urbansound_dir, args.nj, args.cmd,
    ), logger)


if __name__ == "__main__":
    sys.exit(main())
