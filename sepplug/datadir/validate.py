"""``sepplug validate-data DIR``: check a Kaldi-style enh data dir (like validate_data_dir.sh).

Checks, each error naming file, line or key, and the problem:

* ``wav.scp``, ``utt2spk`` and ``spk2utt`` exist; every "<key> <value>" file present among
  the known ones (``spk*.scp``, ``noise*.scp``, ``utt2*``, ``text``, ``meta.jsonl``) has
  C-locale sorted, unique keys and the same key set as ``wav.scp``;
* ``spk2utt`` is the inverse of ``utt2spk``;
* ``utt2category`` values are known categories (:mod:`sepplug.datadir.categories`),
  ``utt2angle`` values numbers in [0, 180];
* ``fs`` holds an integer;
* every audio file exists and is readable; all share one sample rate (= ``fs`` file and
  ``--fs``); mixtures share one channel count (= ``--channels``); ``spk<n>.scp`` files are
  single-channel, ``spk<n>_mc.scp`` ones have the mixture's channels; the references
  of an utterance have its mixture's length;
* no audio file holds NaN or Inf samples, and no reference source (``spk*.scp``) is all
  zeros (a silent source makes SI-SDR undefined).

Exit status 0 when valid, 1 otherwise (errors on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import soundfile as sf

from sepplug.datadir.audio_checks import file_problem
from sepplug.datadir.categories import KNOWN as KNOWN_CATEGORIES

REQUIRED = ("wav.scp", "utt2spk", "spk2utt")
_PER_UTT = re.compile(r"^(wav|spk\d+|spk\d+_mc|noise\d+|dereverb\d+)\.scp$|^utt2\w+$|^text$")
MAX_ERRORS_SHOWN = 30


class Report:
    """Collects errors; prints at most MAX_ERRORS_SHOWN of them."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, where: Path | str, problem: str) -> None:
        self.errors.append(f"{where}: {problem}")


def read_lines(path: Path, report: Report) -> dict[str, str] | None:
    """Read "<key> <value>" lines, reporting unsorted, duplicate and malformed ones."""
    table: dict[str, str] = {}
    previous: bytes | None = None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.error(path, f"cannot read: {exc}")
        return None
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        if not line.strip():
            report.error(where, "empty line")
            continue
        key, _, value = line.partition(" ")
        if not key or line != line.strip():
            report.error(where, "leading/trailing whitespace or no key")
            key = key.strip() or line.strip().split()[0]
        if key in table:
            report.error(where, f"key {key}: duplicate")
        encoded = key.encode("utf-8")
        if previous is not None and encoded < previous:
            report.error(where, f"key {key}: not sorted (C locale; use LC_ALL=C sort)")
        previous = encoded
        table[key] = value.strip()
    if not table:
        report.error(path, "empty file")
    return table


def check_keys(name: str, table: dict[str, str], reference: dict[str, str], data_dir: Path,
               report: Report) -> None:
    missing = [k for k in reference if k not in table]
    extra = [k for k in table if k not in reference]
    for kind, keys in (("missing (in wav.scp, not here)", missing),
                       ("extra (here, not in wav.scp)", extra)):
        for key in keys[:5]:
            report.error(data_dir / name, f"key {key}: {kind}")
        if len(keys) > 5:
            report.error(data_dir / name, f"... {len(keys) - 5} more keys {kind}")


def check_values(data_dir: Path, tables: dict[str, dict[str, str]], report: Report) -> None:
    """utt2spk/spk2utt consistency, categories, angles."""
    if "utt2spk" in tables and "spk2utt" in tables:
        inverse: dict[str, list[str]] = {}
        for utt, spk in tables["utt2spk"].items():
            inverse.setdefault(spk, []).append(utt)
        spk2utt = {spk: sorted(v.split()) for spk, v in tables["spk2utt"].items()}
        for spk in sorted(set(inverse) | set(spk2utt)):
            if sorted(inverse.get(spk, [])) != spk2utt.get(spk, []):
                report.error(data_dir / "spk2utt", f"speaker {spk}: does not match utt2spk")
    for key, value in tables.get("utt2category", {}).items():
        if value not in KNOWN_CATEGORIES:
            report.error(data_dir / "utt2category", f"key {key}: category '{value}' is not "
                                                    f"one of {', '.join(KNOWN_CATEGORIES)}")
    for key, value in tables.get("utt2angle", {}).items():
        try:
            ok = 0.0 <= float(value) <= 180.0
        except ValueError:
            ok = False
        if not ok:
            report.error(data_dir / "utt2angle", f"key {key}: angle '{value}' not in [0, 180]")


def check_meta(path: Path, reference: dict[str, str], report: Report) -> None:
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            keys.append(json.loads(line)["key"])
        except (json.JSONDecodeError, KeyError, TypeError):
            report.error(f"{path}:{number}", "not a JSON object with a 'key'")
    if [k.encode() for k in keys] != sorted(k.encode() for k in keys):
        report.error(path, "records not sorted by key")
    if set(keys) != set(reference) or len(keys) != len(set(keys)):
        report.error(path, "keys differ from wav.scp's (missing, extra or duplicate records)")


def declared_source_counts(utt2num_sources: dict[str, str]) -> dict[str, int]:
    """Keys whose references beyond their count are padding (silent on purpose): the
    ``utt2num_sources`` values holding one count ``K`` per example (a MoM set's two counts
    declare no padding). Shared by this check and the training path's
    (:mod:`sepplug.tasks.checked_data`)."""
    return {key: int(value) for key, value in utt2num_sources.items()
            if value.strip().isdigit()}


def is_padding(counts: dict[str, int], key: str, index: int) -> bool:
    """Whether reference ``index`` (1-based) of ``key`` is declared padding in ``counts``."""
    return key in counts and counts[key] < index


def check_audio(data_dir: Path, scps: dict[str, dict[str, str]], expected_fs: int | None,
                expected_channels: int | None, report: Report,
                num_sources: dict[str, int] | None = None) -> tuple[set[int], set[int]]:
    """Open every audio file; return (sample rates seen, mixture channel counts seen).

    A reference ``spk<k>.scp`` may be silent only where ``num_sources[key] < k``."""
    num_sources = num_sources or {}
    rates: set[int] = set()
    mix_channels: set[int] = set()
    mixture_info: dict[str, Any] = {}  # key -> soundfile info
    for name in ["wav.scp"] + sorted(n for n in scps if n != "wav.scp"):
        for key, value in scps[name].items():
            where = data_dir / name
            if value.endswith("|") or re.search(r"\.ark:\d+$", value):
                report.error(where, f"key {key}: pipes and ark offsets are not supported: {value}")
                continue
            try:
                info = sf.info(value)
            except Exception as exc:  # soundfile raises several types
                problem = "file not found" if not Path(value).exists() else f"unreadable ({exc})"
                report.error(where, f"key {key}: {problem}: {value}")
                continue
            if info.frames == 0:
                report.error(where, f"key {key}: zero-length audio: {value}")
            else:
                is_reference = name.startswith("spk")
                index = re.fullmatch(r"spk(\d+)\.scp", name)
                padding = bool(index) and is_padding(num_sources, key, int(index.group(1)))
                problem = file_problem(value, silent_ok=not is_reference or padding)
                if problem:
                    report.error(where, f"key {key}: {problem}: {value}")
            rates.add(info.samplerate)
            if expected_fs and info.samplerate != expected_fs:
                report.error(where, f"key {key}: sample rate {info.samplerate} Hz, expected "
                                    f"{expected_fs}: {value}")
            if name == "wav.scp":
                mixture_info[key] = info
                mix_channels.add(info.channels)
                if expected_channels and info.channels != expected_channels:
                    report.error(where, f"key {key}: {info.channels} channels, expected "
                                        f"{expected_channels}: {value}")
                continue
            mixture = mixture_info.get(key)
            if mixture is None:
                continue
            want = mixture.channels if name.endswith("_mc.scp") else 1
            if name.startswith("spk") and info.channels != want:
                report.error(where, f"key {key}: {info.channels} channels, expected {want}: "
                                    f"{value}")
            if info.frames != mixture.frames:
                report.error(where, f"key {key}: {info.frames} samples, mixture has "
                                    f"{mixture.frames}: {value}")
    return rates, mix_channels


def validate(data_dir: Path, expected_fs: int | None = None, expected_channels: int | None = None,
             check_audio_files: bool = True) -> list[str]:
    """All problems of ``data_dir`` (empty when valid)."""
    report = Report()
    if not data_dir.is_dir():
        report.error(data_dir, "no such directory")
        return report.errors
    for name in REQUIRED:
        if not (data_dir / name).is_file():
            report.error(data_dir / name, "required file missing")
    if not (data_dir / "wav.scp").is_file():
        return report.errors
    tables: dict[str, dict[str, str]] = {}
    for path in sorted(data_dir.iterdir()):
        if path.is_file() and (_PER_UTT.match(path.name) or path.name == "spk2utt"):
            table = read_lines(path, report)
            if table is not None:
                tables[path.name] = table
    reference = tables.get("wav.scp", {})
    for name, table in tables.items():
        if name not in ("wav.scp", "spk2utt"):
            check_keys(name, table, reference, data_dir, report)
    check_values(data_dir, tables, report)
    if (data_dir / "meta.jsonl").is_file():
        check_meta(data_dir / "meta.jsonl", reference, report)
    fs_file = None
    if (data_dir / "fs").is_file():
        text = (data_dir / "fs").read_text().strip()
        if text.isdigit():
            fs_file = int(text)
        else:
            report.error(data_dir / "fs", f"'{text}' is not an integer sample rate")
    if expected_fs and fs_file and fs_file != expected_fs:
        report.error(data_dir / "fs", f"says {fs_file} Hz, expected {expected_fs}")
    if check_audio_files:
        scps = {n: t for n, t in tables.items() if n.endswith(".scp")}
        padding = declared_source_counts(tables.get("utt2num_sources", {}))
        rates, channels = check_audio(data_dir, scps, expected_fs or fs_file, expected_channels,
                                      report, padding)
        if len(rates) > 1:
            report.error(data_dir, f"audio files have different sample rates: {sorted(rates)}")
        if len(channels) > 1:
            report.error(data_dir / "wav.scp",
                         f"mixtures have different channel counts: {sorted(channels)}")
    return report.errors


def summary(data_dir: Path) -> str:
    wav = (data_dir / "wav.scp").read_text().splitlines()
    info = sf.info(wav[0].split(" ", 1)[1]) if wav else None
    detail = f", {info.channels} channels, {info.samplerate} Hz" if info else ""
    return f"{data_dir}: {len(wav)} utterances{detail}: OK"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sepplug validate-data",
        description="Check Kaldi-style enh data dirs (sorted keys, same key sets, readable "
        "audio, consistent sample rate and channels). Exit 1 on any error.",
    )
    parser.add_argument("data_dir", type=Path, nargs="+", help="data dir(s) to check")
    parser.add_argument("--fs", type=int, default=None, help="demand this sample rate (Hz)")
    parser.add_argument("--channels", type=int, default=None,
                        help="demand this channel count of the mixtures")
    parser.add_argument("--no_audio", action="store_true",
                        help="check the text files only, do not open the audio")
    args = parser.parse_args(argv)
    status = 0
    for data_dir in args.data_dir:
        errors = validate(data_dir, args.fs, args.channels, not args.no_audio)
        if errors:
            status = 1
            for line in errors[:MAX_ERRORS_SHOWN]:
                print(f"validate-data: ERROR: {line}", file=sys.stderr)
            if len(errors) > MAX_ERRORS_SHOWN:
                print(f"validate-data: ... and {len(errors) - MAX_ERRORS_SHOWN} more errors",
                      file=sys.stderr)
            print(f"validate-data: {data_dir}: {len(errors)} errors", file=sys.stderr)
        else:
            print(summary(data_dir))
    return status


if __name__ == "__main__":
    sys.exit(main())
