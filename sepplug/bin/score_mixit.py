"""Score a MixIT separator on a FUSS-style test dir: 1S, MSi, over-/under-separation.

    python -m sepplug.bin.score_mixit --data_dir data/test \\
        --inf_scp exp/enh_x/enhanced_test/spk1.scp ... --inf_scp .../spk8.scp \\
        --out_dir exp/enh_x/enhanced_test/scoring

``--data_dir`` is a test dir of :mod:`sepplug.recipes.mixit.make_data`: ``wav.scp`` (mixtures),
``utt2num_sources`` (K per example) and ``src<k>.scp`` (the k-th source of the examples
with K >= k). The M ``--inf_scp`` files are the separator's outputs (M >= K).

Metrics (:mod:`sepplug.utils.fuss_metrics`): the references are matched one-to-one to
the estimates by the optimal (Hungarian) assignment of FUSS; 1S = mean SI-SNR on
single-source examples, MSi = mean SI-SNRi on multi-source ones, pairs with an inactive
estimate left out as in FUSS; an estimate is active above ``--threshold_db`` (−20 dB) of
the quietest reference. ``remix_*`` are the same means under the MixIT-style many-to-one
assignment (estimates summed per reference). Writes ``per_example.tsv`` and
``summary.json`` under ``--out_dir``, each atomically. Exit 1 with a message naming the
file/key on bad input.

When the test dir has ``utt2source_classes`` (``<utt> <class of src1> ... <class of srcK>``,
open-domain sets: :mod:`sepplug.recipes.mixit_semantic.labels`), ``per_example.tsv`` also
has ``num_classes``, ``pure_outputs`` and ``class_purity`` (pure share of the active outputs,
:mod:`sepplug.utils.class_purity`), and ``summary.json`` ``class_purity_multi_class``: their
mean over the examples of two or more classes.
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
from tqdm import tqdm

from sepplug.datadir.kaldi_dir import read_table
from sepplug.errors import DataError
from sepplug.utils.atomic import atomic_write_text
from sepplug.utils.class_purity import output_purity
from sepplug.utils.fuss_metrics import MetricInputError, score_example, summarize

logger = logging.getLogger("score_mixit")

COLUMNS = ("num_sources", "num_active", "over", "under", "si_snr", "si_snri", "pit_index",
           "pit_active", "remix_si_snr", "remix_si_snri", "remix_groups")
PURITY_COLUMNS = ("num_classes", "pure_outputs", "class_purity")
SOURCE_CLASSES = "utt2source_classes"


class ScoringError(RuntimeError):
    """Bad input of the scorer (the message names the file/key)."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data_dir", type=Path, required=True,
                   help="test dir: wav.scp, utt2num_sources, src<k>.scp")
    p.add_argument("--inf_scp", action="append", required=True, type=Path,
                   help="one per separator output (spk1.scp ... spkM.scp)")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--threshold_db", type=float, default=-20.0,
                   help="an estimate is active above this level re the quietest reference")
    p.add_argument("--clamp_db", type=float, default=100.0, help="SI-SNR clamp (dB)")
    p.add_argument("--ref_channel", type=int, default=0,
                   help="mixture channel to compare (the test mixtures are mono: only 0)")
    return p


def read_scp(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ScoringError(f"missing scp file {path}")
    try:
        return read_table(path)
    except DataError as exc:
        raise ScoringError(str(exc)) from exc


def load_references(data_dir: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``(key -> mixture path, key -> [source paths])`` with every table cross-checked."""
    mixtures = read_scp(data_dir / "wav.scp")
    counts_file = data_dir / "utt2num_sources"
    counts_table = read_scp(counts_file)
    counts = {}
    for key in mixtures:
        if key not in counts_table:
            raise ScoringError(f"{counts_file}: key {key} of wav.scp is missing")
        value = counts_table[key]
        if not value.isdigit() or int(value) < 1:
            raise ScoringError(
                f"{counts_file}: key {key}: '{value}' is not a source count >= 1 (a MoM "
                "training dir has two counts per line; score a test dir)"
            )
        counts[key] = int(value)
    sources: dict[str, list[str]] = {key: [] for key in mixtures}
    for k in range(1, max(counts.values()) + 1):
        scp = data_dir / f"src{k}.scp"
        table = read_scp(scp)
        for key in mixtures:
            if counts[key] >= k:
                if key not in table:
                    raise ScoringError(f"{scp}: key {key} has {counts[key]} sources but is "
                                       "missing here")
                sources[key].append(table[key])
        extra = sorted(set(table) - {key for key in mixtures if counts[key] >= k})
        if extra:
            raise ScoringError(f"{scp}: key {extra[0]} is not an example with >= {k} sources "
                               f"in wav.scp/utt2num_sources")
    return mixtures, sources


def load_source_classes(data_dir: Path, sources: dict[str, list[str]]
                        ) -> dict[str, list[str]] | None:
    """``key -> class of each source`` from ``utt2source_classes``, or None without one."""
    path = data_dir / SOURCE_CLASSES
    if not path.is_file():
        return None
    table = read_scp(path)
    classes = {}
    for key, refs in sources.items():
        if key not in table:
            raise ScoringError(f"{path}: key {key} of wav.scp is missing")
        classes[key] = table[key].split()
        if len(classes[key]) != len(refs):
            raise ScoringError(f"{path}: key {key} names {len(classes[key])} classes for "
                               f"{len(refs)} sources")
    return classes


def read_audio(path: str, where: str) -> tuple[np.ndarray, int]:
    """Mono float64 samples and rate; a multi-channel file is an error."""
    try:
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types
        raise ScoringError(f"{where}: cannot read {path}: {exc}") from exc
    if audio.shape[1] != 1:
        raise ScoringError(f"{where}: {path} has {audio.shape[1]} channels, expected 1")
    return audio[:, 0], rate


def fit(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad ``(T,)`` to ``length`` (ESPnet may pad outputs by a few samples)."""
    return x[:length] if x.shape[0] >= length else np.pad(x, (0, length - x.shape[0]))


def score_dir(data_dir: Path, inf_scps: list[Path], threshold_db: float,
              clamp_db: float) -> tuple[list[str], list[dict]]:
    """Score every example of ``data_dir``; returns (keys, per-example results)."""
    mixtures, sources = load_references(data_dir)
    source_classes = load_source_classes(data_dir, sources)
    estimates = [read_scp(scp) for scp in inf_scps]
    for scp, table in zip(inf_scps, estimates, strict=True):
        missing = sorted(set(mixtures) - set(table))
        if missing:
            raise ScoringError(f"{scp}: lacks {len(missing)} keys of {data_dir}/wav.scp, "
                               f"e.g. '{missing[0]}'")
    keys = sorted(mixtures)
    rows = []
    for key in tqdm(keys, desc=f"scoring {data_dir.name}", mininterval=2, disable=None):
        mix, rate = read_audio(mixtures[key], f"{data_dir}/wav.scp:{key}")
        refs, ests = [], []
        for k, path in enumerate(sources[key], 1):
            ref, ref_rate = read_audio(path, f"{data_dir}/src{k}.scp:{key}")
            _check_rate(ref_rate, rate, f"{data_dir}/src{k}.scp:{key}")
            refs.append(fit(ref, mix.shape[0]))
        for scp, table in zip(inf_scps, estimates, strict=True):
            est, est_rate = read_audio(table[key], f"{scp}:{key}")
            _check_rate(est_rate, rate, f"{scp}:{key}")
            ests.append(fit(est, mix.shape[0]))
        refs_arr, ests_arr = np.stack(refs), np.stack(ests)
        try:
            row = score_example(refs_arr, ests_arr, mix, threshold_db, clamp_db,
                                key=f"{data_dir}:{key}")
        except MetricInputError as exc:
            raise ScoringError(str(exc)) from exc
        if source_classes is not None:
            pure, num_active = output_purity(refs_arr, ests_arr, source_classes[key],
                                             np.asarray(row["active"]))
            row.update(num_classes=len(set(source_classes[key])), pure_outputs=pure,
                       class_purity=pure / num_active if num_active else float("nan"))
        rows.append(row)
    return keys, rows


def _check_rate(rate: int, expected: int, where: str) -> None:
    if rate != expected:
        raise ScoringError(f"{where}: sample rate {rate} Hz, the mixture has {expected} Hz")


def per_example_table(keys: list[str], rows: list[dict]) -> str:
    def cell(value) -> str:
        if isinstance(value, list):
            return ",".join(cell(v) for v in value)
        if isinstance(value, bool):
            return str(int(value))
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    columns = COLUMNS + (PURITY_COLUMNS if rows and "class_purity" in rows[0] else ())
    lines = ["utt\t" + "\t".join(columns)]
    lines += [key + "\t" + "\t".join(cell(row[c]) for c in columns)
              for key, row in zip(keys, rows, strict=True)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.ref_channel != 0:
        logger.error("--ref_channel %d: the MixIT test mixtures are mono (channel 0 only)",
                     args.ref_channel)
        return 1
    try:
        keys, rows = score_dir(args.data_dir, args.inf_scp, args.threshold_db, args.clamp_db)
    except ScoringError as exc:
        logger.error("%s", exc)
        return 1
    summary = {
        "metric_set": "fuss",
        "assignment": "pit (1S, MSi: optimal one-to-one); remix_* (optimal many-to-one, summed)",
        "threshold_db": args.threshold_db,
        **summarize(rows),
    }
    if rows and "class_purity" in rows[0]:
        values = [r["class_purity"] for r in rows
                  if r["num_classes"] >= 2 and r["num_active"] > 0]
        summary["class_purity_multi_class"] = float(np.mean(values)) if values else None
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / "per_example.tsv", per_example_table(keys, rows))
    atomic_write_text(args.out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    logger.info("%s: 1S %s dB, MSi %s dB, over-separation single %s / multi %s (%d examples, "
                "M = %d)", args.out_dir, _fmt(summary["one_source_si_snr"]),
                _fmt(summary["msi"]), _fmt(summary["over_separation_single"]),
                _fmt(summary["over_separation_multi"]), len(rows), summary["num_estimates"])
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
