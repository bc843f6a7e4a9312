"""Per-category learning curves from an ESPnet training's epoch checkpoints.

    python -m sepplug.bin.category_curves --exp exp/enh_A [--exp exp/enh_B ...] \\
        --data_dir data/dev --out exp/results/dev_curves.tsv \\
        [--input_channels all|ref] [--ref_channel 0] [--max_utts N]

ESPnet's trainer keeps ``<N>epoch.pth`` (the model's state dict) in the exp dir for the
``keep_nbest_models`` best epochs, so set ``keep_nbest_models >= max_epoch`` to keep them all.
For every ``--exp`` and every ``<N>epoch.pth`` (by N), each mixture of ``--data_dir`` is
separated in-process (ESPnet's ``SeparateSpeech``, built once per exp from its
``config.yaml``, sepplug's plugins registered; each checkpoint is loaded strictly into its
``enh_model``) and scored by SI-SDR improvement at the reference mic, best permutation of
the sources (as :func:`sepplug.utils.scoring.score_utterance`'s ``si_sdri``).

The data dir is a Kaldi dir: ``wav.scp`` (mixtures, (T,) or (T, C)), ``spk1.scp``,
``spk2.scp``, ... (references, (T,) at the reference mic or (T, C), whose channel
``--ref_channel`` is used) and ``utt2category`` (easy / hard / both ...). The model is given
the whole mixture (``--input_channels all``) or its channel ``--ref_channel`` (``ref``, for
1-channel models); the improvement is taken over mixture channel ``--ref_channel``.

``--out`` is a TSV ``exp epoch category n mean stderr`` (SI-SDRi in dB; ``exp`` is the exp
dir's name), one row per exp, epoch and category, plus ``all``. Per-utterance scores are
cached in ``<exp>/category_curves/<data>_<key>.tsv`` (``checkpoint mtime_ns size utt
si_sdri``; the key hashes the data dir, its wav.scp's mtime, and the channel options), so a
rerun scores only new or changed checkpoints (and utterances). Bad input stops with a
message naming the file and exit status 1, before ``--out`` is written.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml
from tqdm import tqdm

from sepplug.bin.score_separation import reference_scps
from sepplug.bin.select import model_rate, separate_speech_class
from sepplug.datadir.scored_dir import pick_channel, read_utterance_tables
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.results.summary import mean_stderr
from sepplug.utils.atomic import atomic_write_text
from sepplug.utils.scoring import score_si_sdr

logger = logging.getLogger("sepplug.category_curves")

EPOCH_FILE = re.compile(r"(\d+)epoch\.pth")
COLUMNS = ["exp", "epoch", "category", "n", "mean", "stderr"]
CACHE_COLUMNS = ["checkpoint", "mtime_ns", "size", "utt", "si_sdri"]


@dataclass
class DevSet:
    """A data dir's keys and categories; its audio once :meth:`load` ran."""

    data_dir: Path
    input_channels: str
    ref_channel: int
    keys: list[str]
    category: dict[str, str]
    mixtures: dict[str, str]
    references: list[dict[str, str]]  # one table per source
    ref_files: list[Path]
    rate: int | None = None
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # (T,) or (T, C): model input
    mix_ref: dict[str, np.ndarray] = field(default_factory=dict)  # (T,): mixture at ref mic
    refs: dict[str, np.ndarray] = field(default_factory=dict)  # (S, T): sources at ref mic

    def load(self) -> None:
        """Read every mixture and reference (once)."""
        if self.inputs:
            return
        scp = self.data_dir / "wav.scp"
        for key in tqdm(self.keys, desc=f"reading {self.data_dir}", mininterval=2, leave=False):
            mix = self._read(scp, key, self.mixtures[key])  # (T, C)
            self.mix_ref[key] = self._channel(mix, scp, key)
            self.inputs[key] = (self.mix_ref[key] if self.input_channels == "ref" or
                                mix.shape[1] == 1 else mix)
            sources = [self._channel(self._read(f, key, table[key]), f, key)
                       for f, table in zip(self.ref_files, self.references, strict=True)]
            lengths = {len(s) for s in sources}
            if lengths != {len(mix)}:
                raise DataError(f"{self.data_dir}: '{key}': references of {sorted(lengths)} "
                                f"samples for a mixture of {len(mix)}")
            self.refs[key] = np.stack(sources)

    def _read(self, scp: Path, key: str, path: str) -> np.ndarray:
        try:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
            raise DataError(f"{scp}: '{key}': cannot read {path}: {exc}") from exc
        if self.rate is None:
            self.rate = rate
        elif rate != self.rate:
            raise DataError(f"{scp}: '{key}' ({path}) is at {rate} Hz, not {self.rate} Hz "
                            f"as '{self.keys[0]}'")
        return audio

    def _channel(self, audio: np.ndarray, scp: Path, key: str) -> np.ndarray:
        """(T, C) -> (T,): channel ``ref_channel``, or the only one."""
        return pick_channel(audio, self.ref_channel, lambda c: (
            f"{scp}: '{key}' has {c} channels; --ref_channel {self.ref_channel} is not one "
            "of them"))


def read_dev_set(data_dir: Path, input_channels: str, ref_channel: int,
                 max_utts: int | None) -> DevSet:
    """Check a data dir's tables (not yet its audio): the first ``max_utts`` keys in C
    order."""
    scp, cats = data_dir / "wav.scp", data_dir / "utt2category"
    if not scp.is_file():
        raise DataError(f"{data_dir}: no wav.scp")
    if not cats.is_file():
        raise DataError(f"{data_dir}: no utt2category (needed for per-category curves)")
    ref_files = [Path(p) for p in reference_scps(data_dir)]
    if not ref_files:
        raise DataError(f"{data_dir}: no spk1.scp, spk2.scp, ... references")
    keys, mixtures, (category, *references) = read_utterance_tables(
        scp, [cats, *ref_files], max_utts,
        lambda path, missing: f"{path}: lacks {len(missing)} keys of {scp}, e.g. '{missing[0]}'")
    return DevSet(data_dir, input_channels, ref_channel, keys, category, mixtures,
                  references, ref_files)


def epoch_checkpoints(exp: Path) -> list[tuple[int, Path]]:
    """``[(N, <exp>/<N>epoch.pth), ...]`` by N; raises DataError when there are none."""
    if not exp.is_dir():
        raise DataError(f"{exp}: exp dir not found")
    found = sorted((int(m.group(1)), p) for p in exp.iterdir()
                   if (m := EPOCH_FILE.fullmatch(p.name)))
    if not found:
        raise DataError(f"{exp}: no <N>epoch.pth checkpoints (ESPnet keeps only the "
                        "keep_nbest_models best epochs: set keep_nbest_models >= max_epoch)")
    if not (exp / "config.yaml").is_file():
        raise DataError(f"{exp}: no config.yaml")
    return found


def stamp(path: Path) -> tuple[int, int]:
    """(mtime_ns, size) of a checkpoint: what the cache is keyed on."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def cache_path(exp: Path, dev: DevSet) -> Path:
    """``<exp>/category_curves/<data name>_<key>.tsv`` for this data dir and these options."""
    wav_scp = dev.data_dir / "wav.scp"
    text = (f"{dev.data_dir.resolve()}\t{wav_scp.stat().st_mtime_ns}\t{dev.input_channels}\t"
            f"{dev.ref_channel}")
    key = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return exp / "category_curves" / f"{dev.data_dir.name}_{key}.tsv"


Cache = dict[str, tuple[int, int, dict[str, float]]]  # checkpoint -> (mtime_ns, size, scores)


def read_cache(path: Path) -> Cache:
    """The cached per-utterance scores (empty when there are none or the file is not one)."""
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != CACHE_COLUMNS:
        logger.warning("%s: not a cache of this tool, ignored", path)
        return {}
    cache: Cache = {}
    try:
        for line in lines[1:]:
            ckpt, mtime, size, utt, value = line.split("\t")
            cache.setdefault(ckpt, (int(mtime), int(size), {}))[2][utt] = float(value)
    except ValueError:
        logger.warning("%s: unreadable line %r, cache ignored", path, line)
        return {}
    return cache


def cached_scores(cache: Cache, ckpt: Path, now: tuple[int, int]) -> dict[str, float]:
    """utt -> SI-SDRi of ``ckpt`` when cached for its stamp ``now`` (mtime and size)."""
    mtime, size, scores = cache.get(ckpt.name, (None, None, {}))
    return dict(scores) if (mtime, size) == now else {}


def write_cache(path: Path, cache: Cache) -> None:
    """Write the cache (atomically)."""
    lines = ["\t".join(CACHE_COLUMNS)]
    for ckpt, (mtime, size, scores) in sorted(cache.items()):
        lines += [f"{ckpt}\t{mtime}\t{size}\t{utt}\t{v:.6f}" for utt, v in scores.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")


def load_separator(exp: Path, device: str, rate: int | None = None):
    """ESPnet's ``SeparateSpeech`` of ``<exp>/config.yaml``, untrained (plugins registered);
    checks the data's ``rate`` against the model's where it is known."""
    SeparateSpeech = separate_speech_class()
    config = exp / "config.yaml"
    try:
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        separate = SeparateSpeech(train_config=config, model_file=None, device=device)
    except Exception as exc:  # ESPnet reports bad configs in many ways
        raise DataError(f"{config}: cannot build the model: {type(exc).__name__}: {exc}") from exc
    if rate is not None:
        trained, source = model_rate(settings, exp)
        if trained is not None and trained != rate:
            raise DataError(f"{exp} was trained at {trained} Hz (from {source}) but the data "
                            f"is at {rate} Hz")
    return separate


def score_checkpoint(separate, ckpt: Path, dev: DevSet, keys: Sequence[str],
                     bar: tqdm) -> dict[str, float]:
    """Load ``ckpt`` into ``separate.enh_model`` and score ``keys``: utt -> SI-SDRi."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        separate.enh_model.load_state_dict(state)  # strict: a wrong model fails here
    except Exception as exc:
        raise DataError(f"{ckpt}: cannot load into the model of its config.yaml: "
                        f"{type(exc).__name__}: {exc}") from exc
    if separate.num_spk != len(dev.ref_files):
        raise DataError(f"{ckpt.parent}: the model separates {separate.num_spk} sources but "
                        f"{dev.data_dir} has {len(dev.ref_files)} references")
    scores = {}
    for key in keys:
        try:
            waves = separate(dev.inputs[key][None], fs=dev.rate)
        except Exception as exc:
            raise DataError(f"{ckpt}: failed on '{key}' of {dev.data_dir} (input "
                            f"{dev.inputs[key].shape}; is --input_channels "
                            f"{dev.input_channels} right?): {type(exc).__name__}: {exc}") from exc
        ests = np.stack([_mono(np.asarray(w[0]), dev.ref_channel) for w in waves])
        try:
            scores[key] = score_si_sdr(dev.refs[key], ests, dev.mix_ref[key],
                                       key=f"{dev.data_dir}: '{key}'")["si_sdri"]
        except ValueError as exc:  # e.g. a silent reference
            raise DataError(str(exc)) from exc
        bar.update()
    return scores


def _mono(wave: np.ndarray, channel: int) -> np.ndarray:
    """A model output (T,) or (T, C) -> (T,)."""
    return wave if wave.ndim == 1 else wave[:, min(channel, wave.shape[1] - 1)]


def summarize(scores: dict[tuple[str, int], dict[str, float]],
              category: dict[str, str]) -> list[dict]:
    """``(exp, epoch) -> {utt: SI-SDRi}`` -> rows ``exp epoch category n mean stderr``
    (categories sorted, then ``all``; exps and epochs in the given order)."""
    rows = []
    for (exp, epoch), by_utt in scores.items():
        names = sorted({category[u] for u in by_utt})
        for name in [*names, "all"]:
            values = [v for u, v in by_utt.items() if name in ("all", category[u])]
            n, mean, stderr = mean_stderr(values)
            rows.append({"exp": exp, "epoch": epoch, "category": name, "n": n,
                         "mean": mean, "stderr": stderr})
    return rows


def format_rows(rows: list[dict]) -> str:
    """The TSV text of :func:`summarize`'s rows (4 decimals; ``nan`` for no stderr)."""
    lines = ["\t".join(COLUMNS)]
    lines += [f"{r['exp']}\t{r['epoch']}\t{r['category']}\t{r['n']}\t{r['mean']:.4f}\t"
              f"{r['stderr']:.4f}" for r in rows]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> list[dict]:
    """Everything but argument parsing (raises DataError); returns the written rows."""
    dev = read_dev_set(args.data_dir, args.input_channels, args.ref_channel, args.max_utts)
    names = [e.name for e in args.exp]
    if len(set(names)) < len(names):
        names = [str(e) for e in args.exp]
    plans = []  # (name, exp, cache file, cache, [(epoch, ckpt, stamp, cached, missing)])
    for name, exp in zip(names, args.exp, strict=True):
        checkpoints = epoch_checkpoints(exp)
        path = cache_path(exp, dev)
        cache = read_cache(path)
        todo = []
        for epoch, ckpt in checkpoints:  # stamped before loading: a rewrite is seen next time
            now = stamp(ckpt)
            done = cached_scores(cache, ckpt, now)
            todo.append((epoch, ckpt, now, done, [k for k in dev.keys if k not in done]))
        plans.append((name, exp, path, cache, todo))
    total = sum(len(missing) for *_, todo in plans for *_, missing in todo)
    scores: dict[tuple[str, int], dict[str, float]] = {}
    with tqdm(total=total, desc="category curves", unit="utt", mininterval=2) as bar:
        for name, exp, path, cache, todo in plans:
            separate = None
            for epoch, ckpt, now, done, missing in todo:
                if missing:
                    dev.load()
                    separate = separate or load_separator(exp, args.device, dev.rate)
                    bar.set_postfix_str(f"{name} epoch {epoch}")
                    start = time.perf_counter()
                    done = {**done, **score_checkpoint(separate, ckpt, dev, missing, bar)}
                    logger.info("%s epoch %d: %d utterances scored in %.1f s", name, epoch,
                                len(missing), time.perf_counter() - start)
                    cache[ckpt.name] = (*now, done)
                    write_cache(path, cache)
                scores[name, epoch] = {k: done[k] for k in dev.keys}
    rows = summarize(scores, dev.category)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, format_rows(rows))
    logger.info("%s: %d rows (%d exps, %d utterances of %s)", args.out, len(rows),
                len(plans), len(dev.keys), args.data_dir)
    return rows


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--exp", action="append", required=True, type=Path,
                   help="ESPnet exp dir with config.yaml and <N>epoch.pth files (repeatable)")
    p.add_argument("--data_dir", type=Path, required=True,
                   help="Kaldi dir: wav.scp, spk<k>.scp, utt2category")
    p.add_argument("--out", type=Path, required=True, help="TSV: exp epoch category n mean stderr")
    p.add_argument("--input_channels", choices=("all", "ref"), default="all",
                   help="the model takes every mixture channel, or only --ref_channel")
    p.add_argument("--ref_channel", type=int, default=0, help="reference mic (0-based)")
    p.add_argument("--max_utts", type=int, default=None, help="first N utterances only")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    torch.set_num_threads(args.num_threads)
    if args.max_utts is not None and args.max_utts < 1:
        logger.error("--max_utts must be >= 1, not %d", args.max_utts)
        return 1
    return run_or_report(lambda: run(args), logger)


if __name__ == "__main__":
    sys.exit(main())
