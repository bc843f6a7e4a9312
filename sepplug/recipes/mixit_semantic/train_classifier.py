"""Train the frozen sound classifier of semantic MixIT on the clip pool's single-source clips.

Reads the clip pool (:mod:`.clip_pool`: ``wav/<group>/*.wav``, ``splits/*.spk``,
``group2class``, ``classes.txt``), loads every clip of the TRAIN groups resampled to ``--fs``
(soxr), and trains :class:`sepplug.classify.SoundClassifier` with per-class binary cross
entropy (the semantic loss uses per-class sigmoids) on random ``--segment`` crops:

* classes are drawn uniformly, then a clip of the class (the pool has more speech clips);
  a crop whose RMS is 20 dB below its clip's is redrawn (up to 5 times: impulsive classes);
  a clip shorter than the crop is zero-padded at a random offset;
* each crop's RMS is set to a level drawn uniformly in :data:`LEVEL_DB` (-45 .. -10 dBFS):
  the pool's mixtures are peak-normalised mixtures of 1-4 sources, so a source, and a
  separated output holding one, sits around -15 .. -40 dBFS;
* with probability ``--leak_prob`` a crop of another class is added 12 .. 25 dB below it
  (residue of imperfect separation; the target stays the main clip's class);
* a share ``--silent_share`` of each batch is near-silence with an all-zero target (half
  white noise, half a clip, at :data:`SILENT_DB`, -90 .. -65 dBFS), so that an inactive
  separated output predicts no class.

Adam, learning rate cosine-decayed to 10 % over ``--steps``; the dev split (one centred
crop per clip at :data:`EVAL_DB`) is scored every ``--eval_every`` steps and the best dev
top-1 checkpoint kept; that one is scored on the TEST split and written:

    <out_dir>/classifier.pth   :func:`sepplug.classify.save_classifier` (extra: dev/test
                               top-1, best step, options)
    <out_dir>/accuracy.json    {"dev": {...}, "test": {"top1", "n", "per_class", "stderr",
                               ...}, "test_by_level", "silence", "steps", "best_step",
                               "seconds", "options"}
    <out_dir>/confusion.tsv    test confusion counts (rows: true class, columns: predicted)
    <out_dir>/train.log        progress (appended)
    <out_dir>/.done.json       the options (written last)

All files but the log are written atomically; a rerun with the same options is a no-op,
with other options an error. Deterministic given ``--seed`` (and ``--num_threads 1``).

CLI::

    python -m sepplug.recipes.mixit_semantic.train_classifier --pool db/open_domain_8000 \\
        --out_dir exp/classifier --fs 8000 --segment 2.0 --steps 1500 --batch_size 32
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from sepplug.classify.sound_classifier import SoundClassifier, save_classifier
from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.recipes.mixit_semantic.clip_pool import read_classes, read_group2class
from sepplug.simulate import vctk
from sepplug.simulate.done import DONE_NAME, write_marker
from sepplug.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

LEVEL_DB = (-45.0, -10.0)  #: RMS range of the training crops (dBFS)
SILENT_DB = (-90.0, -65.0)  #: RMS range of the "silent" examples (dBFS)
LEAK_DB = (-25.0, -12.0)  #: level of an added other-class crop, relative to the main one
EVAL_DB = -25.0  #: RMS of the dev/test crops (dBFS)
TEST_LEVELS_DB = (-45.0, -25.0, -10.0)  #: levels of the extra test pass (test_by_level)
MIN_CROP_DB = -20.0  #: a training crop this far below its clip's RMS is redrawn
OUTPUTS = ("classifier.pth", "accuracy.json", "confusion.tsv")


@dataclass
class ClipSet:
    """Clips of one split: ``audio[i]`` (T_i,) float32 at fs, ``labels[i]`` class index."""

    audio: list[np.ndarray]
    labels: np.ndarray
    ids: list[str]


@dataclass
class ClipSetSpec:
    """A split's utterances (``vctk.Utterance``) and their class indices."""

    utts: list[vctk.Utterance]
    labels: np.ndarray


@dataclass
class TrainOptions:
    """The training options (all of them go into the done marker)."""

    fs: int = 8000
    segment: float = 2.0
    steps: int = 1500
    batch_size: int = 32
    seed: int = 0
    lr: float = 1e-3
    eval_every: int = 250
    channels: tuple[int, ...] = (16, 32, 64)
    silent_share: float = 0.1
    leak_prob: float = 0.2

    def check(self) -> None:
        """Raise DataError on an option out of range."""
        if not 4000 <= self.fs <= 48000 or self.segment <= 0:
            raise DataError(f"need --fs in [4000, 48000] and --segment > 0, got {self.fs}, "
                            f"{self.segment}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1 or self.lr <= 0:
            raise DataError("--steps, --batch_size, --eval_every and --lr must be positive")
        if not (0 <= self.silent_share < 1 and 0 <= self.leak_prob <= 1):
            raise DataError("--silent_share must be in [0, 1) and --leak_prob in [0, 1]")
        if not self.channels or min(self.channels) < 1:
            raise DataError(f"--channels must be positive counts, got {self.channels}")

    @property
    def num_samples(self) -> int:
        return int(round(self.segment * self.fs))


def read_pool(pool: Path) -> tuple[list[str], dict[str, ClipSetSpec]]:
    """Classes (label order) and, per split, its groups' utterances and labels.

    Raises:
        DataError: missing pool/tables/splits, an empty split, a split group without audio
            or without a class, a class not in ``classes.txt``.
    """
    if not pool.is_dir():
        raise DataError(f"clip pool {pool} does not exist")
    classes = read_classes(pool)
    group2class = read_group2class(pool)
    splits = vctk.load_splits(pool)
    if splits is None:
        raise DataError(f"{pool / 'splits'}: missing train.spk, dev.spk or test.spk")
    corpus = vctk.scan_corpus(pool)
    index = {name: i for i, name in enumerate(classes)}
    specs = {}
    for split, groups in splits.items():
        spk_file = pool / "splits" / f"{split}.spk"
        if not groups:
            raise DataError(f"{spk_file}: the {split} split is empty")
        utts, labels = [], []
        for group in groups:
            if group not in corpus:
                raise DataError(f"{spk_file}: group {group} has no audio in {pool / 'wav'}")
            if group not in group2class:
                raise DataError(f"{pool / 'group2class'}: no class for group {group} "
                                f"(of {spk_file})")
            for utt in corpus[group]:
                utts.append(utt)
                labels.append(index[group2class[group]])
        specs[split] = ClipSetSpec(utts, np.asarray(labels, dtype=np.int64))
    missing = [c for i, c in enumerate(classes) if not np.any(specs["train"].labels == i)]
    if missing:
        raise DataError(f"{pool / 'group2class'}: no train group of class(es) "
                        f"{', '.join(missing)}")
    return classes, specs


def load_clips(spec: ClipSetSpec, fs: int) -> ClipSet:
    """Read every clip mono (first channel), resampled to ``fs`` (soxr HQ), float32."""
    audio = []
    for utt in spec.utts:
        try:
            wav, rate = sf.read(str(utt.path), dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises several types
            raise DataError(f"cannot read audio file {utt.path}: {exc}") from exc
        wav = wav[:, 0]
        if rate != fs:
            import soxr

            wav = soxr.resample(wav, rate, fs, quality="HQ").astype(np.float32)
        if wav.size == 0 or not np.all(np.isfinite(wav)):
            raise DataError(f"audio file {utt.path} is empty or not finite")
        audio.append(wav)
    return ClipSet(audio, spec.labels, [u.utt_id for u in spec.utts])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def crop(rng: np.random.Generator, clip: np.ndarray, n: int, tries: int = 5) -> np.ndarray:
    """A random ``n``-sample crop; a shorter clip is placed at a random offset in zeros.
    A crop 20 dB below the clip's RMS is redrawn (at most ``tries`` draws)."""
    if clip.size <= n:
        out = np.zeros(n, dtype=np.float32)
        start = int(rng.integers(0, n - clip.size + 1))
        out[start : start + clip.size] = clip
        return out
    floor = _rms(clip) * 10 ** (MIN_CROP_DB / 20)
    for _ in range(tries):
        start = int(rng.integers(0, clip.size - n + 1))
        out = clip[start : start + n]
        if _rms(out) >= floor:
            break
    return out.astype(np.float32, copy=True)


def centre_crop(clip: np.ndarray, n: int) -> np.ndarray:
    """The centred ``n``-sample crop (a shorter clip is centred in zeros)."""
    if clip.size >= n:
        start = (clip.size - n) // 2
        return clip[start : start + n].astype(np.float32, copy=True)
    out = np.zeros(n, dtype=np.float32)
    start = (n - clip.size) // 2
    out[start : start + clip.size] = clip
    return out


def set_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``level_db`` dBFS (a silent ``x`` is returned as is)."""
    rms = _rms(x)
    return x if rms == 0 else (x * (10 ** (level_db / 20) / rms)).astype(np.float32)


def draw_batch(rng: np.random.Generator, clips: ClipSet, num_classes: int,
               opts: TrainOptions) -> tuple[np.ndarray, np.ndarray]:
    """One training batch: ``(B, T)`` float32 waveforms and ``(B, K)`` 0/1 targets."""
    n = opts.num_samples
    by_class = [np.flatnonzero(clips.labels == k) for k in range(num_classes)]
    wav = np.zeros((opts.batch_size, n), dtype=np.float32)
    target = np.zeros((opts.batch_size, num_classes), dtype=np.float32)
    for b in range(opts.batch_size):
        k = int(rng.integers(num_classes))
        main = crop(rng, clips.audio[int(rng.choice(by_class[k]))], n)
        if rng.random() < opts.silent_share:
            quiet = rng.standard_normal(n).astype(np.float32) if rng.random() < 0.5 else main
            wav[b] = set_level(quiet, rng.uniform(*SILENT_DB))
            continue
        x = set_level(main, rng.uniform(*LEVEL_DB))
        if rng.random() < opts.leak_prob and num_classes > 1:
            other = (k + int(rng.integers(1, num_classes))) % num_classes
            leak = crop(rng, clips.audio[int(rng.choice(by_class[other]))], n)
            x = x + set_level(leak, 20 * math.log10(_rms(x) + 1e-12) + rng.uniform(*LEAK_DB))
        wav[b] = x
        target[b, k] = 1.0
    return wav, target


@torch.no_grad()
def predict(model: SoundClassifier, wav: np.ndarray, batch: int = 64) -> np.ndarray:
    """``(N, T)`` waveforms -> ``(N, K)`` logits, in eval mode."""
    was_training = model.training
    model.eval()
    out = [model(torch.from_numpy(wav[i : i + batch])).numpy()
           for i in range(0, len(wav), batch)]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.num_classes), np.float32)


def score(logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Top-1 accuracy, its standard error, per-class accuracy and the confusion matrix."""
    pred = logits.argmax(axis=1)
    correct = pred == labels
    n = int(labels.size)
    top1 = float(correct.mean()) if n else float("nan")
    per_class, per_class_n = {}, {}
    for k, name in enumerate(classes):
        mask = labels == k
        per_class_n[name] = int(mask.sum())
        per_class[name] = round(float(correct[mask].mean()), 4) if mask.any() else None
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    present = [v for v in per_class.values() if v is not None]
    return {"top1": round(top1, 4), "n": n,
            "stderr": round(math.sqrt(top1 * (1 - top1) / n), 4) if n else None,
            "balanced_top1": round(float(np.mean(present)), 4) if present else None,
            "per_class": per_class, "per_class_n": per_class_n,
            "confusion": confusion.tolist()}


def eval_crops(clips: ClipSet, n: int, level_db: float) -> np.ndarray:
    """One centred crop per clip at ``level_db`` dBFS: ``(N, T)``."""
    return np.stack([set_level(centre_crop(a, n), level_db) for a in clips.audio])


def silence_check(model: SoundClassifier, clips: ClipSet, opts: TrainOptions) -> dict:
    """Share of near-silent inputs (zeros; white noise and test crops at -80 dBFS) for which
    every class probability is below 0.5."""
    n = opts.num_samples
    rng = np.random.default_rng([opts.seed, 0x511E])
    quiet = [np.zeros(n, np.float32)]
    quiet += [set_level(rng.standard_normal(n).astype(np.float32), -80.0) for _ in range(16)]
    quiet += [set_level(centre_crop(a, n), -80.0) for a in clips.audio[:: max(1, len(
        clips.audio) // 48)]]
    prob = 1 / (1 + np.exp(-predict(model, np.stack(quiet))))
    return {"n": len(quiet), "no_class_share": round(float((prob.max(1) < 0.5).mean()), 4),
            "max_prob_mean": round(float(prob.max(1).mean()), 4)}


def _confusion_tsv(confusion: list[list[int]], classes: list[str]) -> str:
    lines = ["true\\pred\t" + "\t".join(classes)]
    lines += [name + "\t" + "\t".join(str(v) for v in row)
              for name, row in zip(classes, confusion, strict=True)]
    return "\n".join(lines) + "\n"


def _is_complete(out_dir: Path, config: dict) -> bool:
    """True when ``out_dir`` holds every output of a run with ``config``.

    Raises:
        DataError: it holds a complete run with other options.
    """
    marker = out_dir / DONE_NAME
    if not marker.is_file() or not all((out_dir / f).is_file() for f in OUTPUTS):
        return False
    previous = json.loads(marker.read_text(encoding="utf-8"))
    config = json.loads(json.dumps(config))
    if previous != config:
        changed = sorted(k for k in set(previous) | set(config)
                         if previous.get(k) != config.get(k))
        raise DataError(f"{out_dir} holds a classifier trained with other options "
                        f"(differences: {', '.join(changed)}); remove it or choose another "
                        "--out_dir")
    return True


def train_classifier(pool: Path | str, out_dir: Path | str,
                     opts: TrainOptions | None = None) -> dict:
    """Train, pick the best dev checkpoint, score it on test, write the outputs.

    Returns:
        The contents of ``accuracy.json``.

    Raises:
        DataError: bad pool or options (see :func:`read_pool`, :meth:`TrainOptions.check`),
            or ``out_dir`` holding a run with other options.
    """
    opts = opts or TrainOptions()
    opts.check()
    pool, out_dir = Path(pool).absolute(), Path(out_dir).absolute()
    config = {"kind": "sepplug-sound-classifier", "pool": str(pool), **vars(opts),
              "channels": list(opts.channels)}
    if _is_complete(out_dir, config):
        logger.info("%s is complete (same options): nothing to do", out_dir)
        return json.loads((out_dir / "accuracy.json").read_text(encoding="utf-8"))
    classes, specs = read_pool(pool)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DONE_NAME).unlink(missing_ok=True)
    handler = logging.FileHandler(out_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the log file gets the progress whatever the root level
    try:
        result = _train(pool, out_dir, opts, classes, specs, config)
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.close()
    return result


def _train(pool: Path, out_dir: Path, opts: TrainOptions, classes: list[str],
           specs: dict[str, ClipSetSpec], config: dict) -> dict:
    start = time.perf_counter()
    data = {split: load_clips(spec, opts.fs) for split, spec in specs.items()}
    logger.info("pool %s: %s clips (train/dev/test), %d classes; options %s", pool,
                "/".join(str(len(data[s].audio)) for s in vctk.SPLITS), len(classes),
                json.dumps({k: v for k, v in config.items() if k not in ("kind", "pool")}))
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng([opts.seed, 0xC1A5])
    model = SoundClassifier(len(classes), fs=opts.fs, channels=tuple(opts.channels))
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, opts.steps, eta_min=0.1 * opts.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    dev_wav = eval_crops(data["dev"], opts.num_samples, EVAL_DB)
    best: tuple[float, int, dict] | None = None
    running, count = 0.0, 0
    model.train()
    for step in tqdm(range(1, opts.steps + 1), desc="classifier", unit="step", mininterval=2,
                     disable=None):
        wav, target = draw_batch(rng, data["train"], len(classes), opts)
        loss = loss_fn(model(torch.from_numpy(wav)), torch.from_numpy(target))
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        running, count = running + loss.item(), count + 1
        if step % opts.eval_every == 0 or step == opts.steps:
            dev = score(predict(model, dev_wav), data["dev"].labels, classes)
            logger.info("step %d: train loss %.4f, dev top-1 %.4f (balanced %.4f), lr %.2e",
                        step, running / count, dev["top1"], dev["balanced_top1"],
                        sched.get_last_lr()[0])
            running, count = 0.0, 0
            if best is None or dev["top1"] > best[0]:
                best = (dev["top1"], step, copy.deepcopy(model.state_dict()))
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    dev = score(predict(model, dev_wav), data["dev"].labels, classes)
    n = opts.num_samples
    test = score(predict(model, eval_crops(data["test"], n, EVAL_DB)), data["test"].labels,
                 classes)
    by_level = {f"{db:g}": score(predict(model, eval_crops(data["test"], n, db)),
                                 data["test"].labels, classes)["top1"]
                for db in TEST_LEVELS_DB}
    silence = silence_check(model, data["test"], opts)
    seconds = round(time.perf_counter() - start, 1)
    confusion = test.pop("confusion")
    dev.pop("confusion")
    dev["step"] = best[1]
    result = {"dev": dev, "test": test, "test_by_level": by_level, "silence": silence,
              "steps": opts.steps, "best_step": best[1], "seconds": seconds,
              "eval_level_db": EVAL_DB, "classes": classes,
              "options": {k: v for k, v in config.items() if k != "kind"}}
    save_classifier(out_dir / "classifier.pth", model, classes,
                    extra={"dev_top1": dev["top1"], "test_top1": test["top1"],
                           "best_step": best[1], "options": result["options"]})
    atomic_write_text(out_dir / "accuracy.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out_dir / "confusion.tsv", _confusion_tsv(confusion, classes))
    write_marker(out_dir / DONE_NAME, config)
    logger.info("best dev step %d: dev top-1 %.4f; TEST top-1 %.4f +- %.4f (n=%d); "
                "per class %s; silence: %s; %.1f s", best[1], dev["top1"], test["top1"],
                test["stderr"], test["n"], json.dumps(test["per_class"]),
                json.dumps(silence), seconds)
    return result


def _channels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sepplug.recipes.mixit_semantic.train_classifier",
        description="Train the semantic-MixIT sound classifier on the clip pool's train "
        "clips; score it on dev (checkpoint choice) and test.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainOptions()
    parser.add_argument("--pool", type=Path, required=True, help="clip pool dir (clip_pool)")
    parser.add_argument("--out_dir", type=Path, default=Path("exp/classifier"))
    parser.add_argument("--fs", type=int, default=defaults.fs)
    parser.add_argument("--segment", type=float, default=defaults.segment, help="crop (s)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--eval_every", type=int, default=defaults.eval_every,
                        help="score dev every N steps (and at the end)")
    parser.add_argument("--channels", type=_channels, default=defaults.channels,
                        help="conv block widths, e.g. 16,32,64")
    parser.add_argument("--silent_share", type=float, default=defaults.silent_share,
                        help="share of near-silent examples (all-zero target)")
    parser.add_argument("--leak_prob", type=float, default=defaults.leak_prob,
                        help="probability of adding a quiet crop of another class")
    parser.add_argument("--num_threads", type=int, default=1, help="torch CPU threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()
    torch.set_num_threads(max(1, args.num_threads))
    opts = TrainOptions(fs=args.fs, segment=args.segment, steps=args.steps,
                        batch_size=args.batch_size, seed=args.seed, lr=args.lr,
                        eval_every=args.eval_every, channels=tuple(args.channels),
                        silent_share=args.silent_share, leak_prob=args.leak_prob)
    return run_or_report(lambda: train_classifier(args.pool, args.out_dir, opts), logger)


if __name__ == "__main__":
    sys.exit(main())
