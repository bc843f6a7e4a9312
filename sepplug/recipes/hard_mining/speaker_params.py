"""Per-speaker parameters for global hard-sample mining: median F0 and a speaker embedding.

    python -m sepplug.recipes.hard_mining.speaker_params --scp data/dry_train/wav.scp --out_dir
    exp/spk \\
        [--utt2spk FILE] [--heldout 2] [--max_utts 20] [--embed_fn pkg.module:function]

"Mining hard samples locally and globally" predicts how hard a two-speaker mixture is from
two numbers of its speakers: the difference of their median F0 and the cosine distance of
their x-vectors (:mod:`sepplug.recipes.hard_mining.hardness`). This module computes, once per
speaker over all its utterances (a ``wav.scp``-like scp + ``utt2spk``, e.g. a dry source
list of :mod:`sepplug.mixing.dry_sources`, or a list of (speaker, wav path) pairs):

* **median F0**: librosa's pYIN (fmin 50 Hz, fmax 500 Hz) on the audio resampled to
  16 kHz, frames of 1024 samples (64 ms) every 256 samples (16 ms); the median over the
  frames pYIN calls voiced, pooled over all the speaker's utterances;
* **embedding**: ``embed_fn(audio, fs) -> (D,)`` per utterance (default
  :func:`mfcc_stats_embedding`, the MFCC mean+std of :mod:`sepplug.simulate.voice_report`),
  standardised per dimension over all utterances (MFCC statistics differ in scale by
  orders of magnitude, so a raw cosine would only see c0), averaged over the speaker's
  utterances and L2-normalised. A trained extractor is plugged in by passing its
  function as ``embed_fn`` (``--embed_fn module:function``), e.g. the pretrained
  Resemblyzer d-vector, ``sepplug.recipes.hard_mining.resemblyzer_embedding:resemblyzer_embedding``
  (with ``--no_standardize``: its vectors are comparable by cosine as they are).

:func:`verification_eer` says how good the embedding is: the speaker-verification EER of
cosine scores between held-out utterances and every speaker's embedding.

Output (``--out_dir``): ``speaker_params.tsv`` (``speaker  median_f0  n_utts``),
``speaker_embeddings.npz`` (one (D,) array per speaker, keyed by speaker, plus the
standardisation ``__center__`` / ``__scale__``), and with ``--heldout`` ``eer.json``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.errors import DataError, run_or_report, setup_cli_logging
from sepplug.mixing.dry_sources import load_source_list
from sepplug.simulate.segments import load_source
from sepplug.simulate.voice_report import utterance_features
from sepplug.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

#: analysis rate of F0 and of the default embedding (voice_report's MFCCs are at 16 kHz)
ANALYSIS_FS = 16000
F0_MIN, F0_MAX = 50.0, 500.0
F0_FRAME, F0_HOP = 1024, 256  # samples at ANALYSIS_FS: 64 ms frames, 16 ms hop
TSV_NAME, NPZ_NAME, EER_NAME = "speaker_params.tsv", "speaker_embeddings.npz", "eer.json"
_RESERVED = ("__center__", "__scale__")

#: ``embed_fn(audio (T,) float, fs) -> (D,)`` embedding of one utterance
EmbedFn = Callable[[np.ndarray, int], np.ndarray]


def mfcc_stats_embedding(audio: np.ndarray, fs: int) -> np.ndarray:
    """The cheap default embedding: mean and std of 20 MFCCs over loud frames, (40,)."""
    return utterance_features(np.asarray(audio, dtype=np.float32), fs)


def voiced_f0(audio: np.ndarray, fs: int) -> np.ndarray:
    """pYIN F0 (Hz) of the voiced frames of ``audio`` (T,) at ``fs``: (V,), maybe empty."""
    import librosa

    if fs != ANALYSIS_FS:
        audio = librosa.resample(np.asarray(audio, dtype=np.float64), orig_sr=fs,
                                 target_sr=ANALYSIS_FS)
    f0, voiced, _ = librosa.pyin(np.asarray(audio, dtype=np.float64), fmin=F0_MIN,
                                 fmax=F0_MAX, sr=ANALYSIS_FS, frame_length=F0_FRAME,
                                 hop_length=F0_HOP)
    return f0[voiced & np.isfinite(f0)]


@dataclass(frozen=True)
class SpeakerParams:
    """Parameters of S speakers; the embeddings are standardised then unit-norm.

    Attributes:
        speakers: (S,) speaker ids, sorted.
        median_f0: (S,) Hz.
        n_utts: (S,) utterances each speaker's parameters come from.
        embeddings: (S, D) unit-norm rows.
        center, scale: (D,) the standardisation applied to utterance embeddings.
    """

    speakers: list[str]
    median_f0: np.ndarray
    n_utts: np.ndarray
    embeddings: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    def index(self, speaker: str) -> int:
        """Row of ``speaker``; DataError when it has no parameters."""
        try:
            return self._rows[speaker]
        except KeyError:
            raise DataError(f"speaker {speaker} has no parameters "
                            f"({len(self.speakers)} speakers known)") from None

    @functools.cached_property
    def _rows(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.speakers)}

    def normalise(self, vectors: np.ndarray) -> np.ndarray:
        """Utterance embeddings (N, D) -> standardised, unit-norm (N, D)."""
        return _unit((np.asarray(vectors, dtype=np.float64) - self.center) / self.scale)

    def save(self, out_dir: Path | str) -> tuple[Path, Path]:
        """Write ``speaker_params.tsv`` and ``speaker_embeddings.npz`` atomically."""
        clash = [s for s in self.speakers if s in _RESERVED]
        if clash:
            raise DataError(f"speaker id {clash[0]} is reserved in {NPZ_NAME}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = [f"{s}\t{f:.2f}\t{n}\n"
                for s, f, n in zip(self.speakers, self.median_f0, self.n_utts, strict=True)]
        atomic_write_text(out_dir / TSV_NAME, "speaker\tmedian_f0\tn_utts\n" + "".join(rows))
        arrays = dict(zip(self.speakers, self.embeddings, strict=True))
        arrays.update(__center__=self.center, __scale__=self.scale)
        _atomic_savez(out_dir / NPZ_NAME, arrays)
        return out_dir / TSV_NAME, out_dir / NPZ_NAME

    @classmethod
    def load(cls, out_dir: Path | str) -> SpeakerParams:
        """Read what :meth:`save` wrote; DataError on a missing file or speaker mismatch."""
        tsv, npz = Path(out_dir) / TSV_NAME, Path(out_dir) / NPZ_NAME
        for path in (tsv, npz):
            if not path.is_file():
                raise DataError(f"speaker parameters file {path} does not exist")
        lines = tsv.read_text(encoding="utf-8").splitlines()
        if not lines or lines[0].split("\t") != ["speaker", "median_f0", "n_utts"]:
            raise DataError(f"{tsv}: not a speaker_params.tsv (header speaker median_f0 n_utts)")
        table = {}
        for number, line in enumerate(lines[1:], 2):
            fields = line.split("\t")
            try:
                table[fields[0]] = (float(fields[1]), int(fields[2]))
            except (IndexError, ValueError):
                raise DataError(f"{tsv}:{number}: bad line {line!r}") from None
        with np.load(npz) as data:
            vectors = {k: data[k] for k in data.files}
        for key in _RESERVED:
            if key not in vectors:
                raise DataError(f"{npz}: no {key} array")
        speakers = sorted(table)
        missing = [s for s in speakers if s not in vectors]
        if missing or len(vectors) != len(speakers) + len(_RESERVED):
            raise DataError(f"{tsv} and {npz} list different speakers (e.g. {missing[:3]})")
        return cls(speakers, np.array([table[s][0] for s in speakers]),
                   np.array([table[s][1] for s in speakers]),
                   np.stack([vectors[s] for s in speakers]),
                   vectors["__center__"], vectors["__scale__"])


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An ``.npz`` (what ``np.load`` reads) written to a temp file beside ``path``, then
    renamed (sepplug.utils.atomic only has text and figure writers). Written member by
    member rather than by ``np.savez(f, **arrays)``, whose own keywords (``file``,
    ``allow_pickle``) a speaker id could collide with."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as archive:
            for key, array in arrays.items():
                with archive.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_items(scp: Path | str, utt2spk: Path | str | None = None) -> list[tuple[str, str]]:
    """(speaker, wav path) of every utterance of a wav scp + utt2spk (default: beside it),
    sorted by speaker then utterance; DataError names a missing file or key."""
    spk2utt, utt2path = load_source_list(scp, utt2spk)
    return [(s, utt2path[u]) for s in sorted(spk2utt) for u in spk2utt[s]]


def _load(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise DataError(f"audio file {path} does not exist")
    try:
        audio = load_source(path, ANALYSIS_FS)
    except Exception as exc:  # soundfile raises several types
        raise DataError(f"cannot read audio file {path}: {exc}") from exc
    if not audio.size:
        raise DataError(f"audio file {path} has no samples")
    return audio


def utterance_embeddings(items: Sequence[tuple[str, str]],
                         embed_fn: EmbedFn = mfcc_stats_embedding) -> np.ndarray:
    """``embed_fn`` of every (speaker, path) item at 16 kHz: (N, D)."""
    return np.stack([np.asarray(embed_fn(_load(p), ANALYSIS_FS), dtype=np.float64)
                     for _, p in items])


def compute_speaker_params(
    items: Sequence[tuple[str, str]], embed_fn: EmbedFn = mfcc_stats_embedding,
    max_utts: int | None = None, standardize: bool = True,
) -> SpeakerParams:
    """Median F0 and embedding of every speaker of (speaker, wav path) ``items``.

    Args:
        max_utts: use at most this many utterances per speaker (the first ones).
        standardize: standardise embedding dimensions over all utterances first (off:
            center 0, scale 1, e.g. for an x-vector that is already comparable by cosine).

    Raises:
        DataError: no items, a missing or unreadable file, a speaker with no voiced frame.
    """
    from tqdm import tqdm

    by_speaker: dict[str, list[str]] = {}
    for speaker, path in items:
        if max_utts is None or len(by_speaker.get(speaker, ())) < max_utts:
            by_speaker.setdefault(speaker, []).append(str(path))
    if not by_speaker:
        raise DataError("speaker parameters: no utterances given")
    speakers = sorted(by_speaker)
    f0s, vectors, owner = [], [], []
    for row, speaker in enumerate(tqdm(speakers, desc="speakers", unit="spk", disable=None)):
        voiced = []
        for path in by_speaker[speaker]:
            audio = _load(path)
            voiced.append(voiced_f0(audio, ANALYSIS_FS))
            vectors.append(np.asarray(embed_fn(audio, ANALYSIS_FS), dtype=np.float64))
            owner.append(row)
        voiced = np.concatenate(voiced)
        if not voiced.size:
            raise DataError(f"speaker {speaker}: no voiced frame in its "
                            f"{len(by_speaker[speaker])} utterances "
                            f"(e.g. {by_speaker[speaker][0]})")
        f0s.append(float(np.median(voiced)))
    matrix, owner = np.stack(vectors), np.array(owner)  # (N, D), (N,)
    center = matrix.mean(axis=0) if standardize else np.zeros(matrix.shape[1])
    scale = matrix.std(axis=0) + 1e-8 if standardize else np.ones(matrix.shape[1])
    z = (matrix - center) / scale
    embeddings = _unit(np.stack([z[owner == i].mean(axis=0) for i in range(len(speakers))]))
    return SpeakerParams(speakers, np.array(f0s), np.array([len(by_speaker[s]) for s in
                                                            speakers]),
                         embeddings, center, scale)


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit L2 norm."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class EerResult:
    """Speaker-verification equal error rate of cosine scores."""

    eer: float
    threshold: float
    n_target: int
    n_nontarget: int


def verification_eer(params: SpeakerParams, speakers: Sequence[str],
                     vectors: np.ndarray) -> EerResult:
    """EER of held-out utterance embeddings ``vectors`` (N, D) of ``speakers`` (N,) scored
    by cosine against every speaker embedding of ``params``: N x S trials, a trial is a
    target when the utterance's speaker is that speaker (speakers unknown to ``params``
    give only non-target trials). The EER is where the false-acceptance and the
    false-rejection rate of sklearn's ROC cross (mean of the two at the closest point).
    """
    from sklearn.metrics import roc_curve

    scores = params.normalise(vectors) @ params.embeddings.T  # (N, S)
    labels = np.array(speakers)[:, None] == np.array(params.speakers)[None, :]
    n_target = int(labels.sum())
    if n_target == 0 or n_target == labels.size:
        raise DataError(f"verification EER needs target and non-target trials "
                        f"(got {n_target} of {labels.size} targets)")
    fpr, tpr, thresholds = roc_curve(labels.ravel(), scores.ravel())
    fnr = 1 - tpr
    best = int(np.argmin(np.abs(fnr - fpr)))
    return EerResult(float((fpr[best] + fnr[best]) / 2), float(thresholds[best]), n_target,
                     int(labels.size - n_target))


def split_heldout(items: Sequence[tuple[str, str]], heldout: int
                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(enrolment, held-out) items: the last ``heldout`` utterances of each speaker are
    held out; DataError when a speaker would keep no enrolment utterance."""
    by_speaker: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        by_speaker.setdefault(item[0], []).append(item)
    enrol, test = [], []
    for speaker, own in sorted(by_speaker.items()):
        if len(own) <= heldout:
            raise DataError(f"speaker {speaker}: {len(own)} utterances, cannot hold out "
                            f"{heldout} and keep one for its embedding")
        enrol += own[: len(own) - heldout]
        test += own[len(own) - heldout:]
    return enrol, test


def resolve_embed_fn(spec: str | None) -> EmbedFn:
    """``"package.module:function"`` -> that function; None -> the MFCC default."""
    if not spec:
        return mfcc_stats_embedding
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DataError(f"--embed_fn {spec}: cannot import it ({exc})") from exc


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scp", type=Path,
                        help="<utt> <wav path> lines (e.g. a dry wav.scp or spk1.scp)")
    source.add_argument("--corpus_dir", type=Path,
                        help="a VCTK-layout corpus (every speaker's utterances)")
    parser.add_argument("--utt2spk", type=Path, help="default: utt2spk beside --scp")
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--max_utts", type=int, help="at most this many utterances/speaker")
    parser.add_argument("--heldout", type=int, default=0,
                        help="hold out the last N utterances of each speaker for the EER")
    parser.add_argument("--embed_fn", help="module:function(audio, fs) -> (D,) embedding "
                                           "(default: MFCC mean+std)")
    parser.add_argument("--no_standardize", action="store_true",
                        help="do not standardise embedding dimensions before the cosine")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_cli_logging()

    def work() -> None:
        embed_fn = resolve_embed_fn(args.embed_fn)
        if args.corpus_dir is not None:
            from sepplug.simulate.vctk import scan_corpus

            corpus = scan_corpus(args.corpus_dir)
            items = [(s, str(u.path)) for s in sorted(corpus) for u in corpus[s]]
        else:
            items = read_items(args.scp, args.utt2spk)
        enrol, test = split_heldout(items, args.heldout) if args.heldout else (items, [])
        params = compute_speaker_params(enrol, embed_fn, args.max_utts,
                                        not args.no_standardize)
        tsv, npz = params.save(args.out_dir)
        logger.info("%d speakers: %s, %s", len(params.speakers), tsv, npz)
        if test:
            result = verification_eer(params, [s for s, _ in test],
                                      utterance_embeddings(test, embed_fn))
            report = {"eer": round(result.eer, 4), "threshold": round(result.threshold, 4),
                      "target_trials": result.n_target,
                      "nontarget_trials": result.n_nontarget,
                      "embed_fn": args.embed_fn or "mfcc_stats", "heldout": args.heldout}
            atomic_write_text(args.out_dir / EER_NAME, json.dumps(report, indent=2) + "\n")
            logger.info("speaker verification: %s", json.dumps(report))

    return run_or_report(work, logger)


if __name__ == "__main__":
    sys.exit(main())
