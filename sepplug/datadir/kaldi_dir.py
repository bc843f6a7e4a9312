"""Kaldi-style data dirs (ESPnet enh layout): the one reader/writer of their text tables.

Every sepplug tool reads and writes ``wav.scp``, ``utt2spk``, ``utt2category`` ... through
this module (C byte order, :class:`~sepplug.errors.DataError` naming file and line). A
multi-channel data dir (the SpatialVCTK simulator's, FEABASE's FS-transformed ones) holds "<key>
<value>" text files sorted by key in C locale (byte order), with
the same key set in every per-utterance file:

    wav.scp          <utt> <abs path of the C-channel mixture wav, (T, C)>
    spk{1,2}.scp     reference image of each source at the reference mic, (T,)
    spk{1,2}_mc.scp  the same reference images at all C mics, (T, C)
    utt2spk          <utt> <utt>      (ESPnet enh recipes: each mixture is its own "speaker")
    spk2utt          <utt> <utt>
    utt2category     <utt> easy|hard|both
    utt2angle        <utt> <angle between the sources seen from the array centre, degrees>
    meta.jsonl       one JSON object per utterance ("key" first), sorted by key
    fs               the sample rate, one integer
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sepplug.errors import DataError

#: per-utterance text files of a simulated data dir, and what each holds
SCP_FILES = ("wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp", "spk2_mc.scp")
TABLE_FILES = SCP_FILES + ("utt2spk", "spk2utt", "utt2category", "utt2angle")
CATEGORIES = ("easy", "hard", "both")
#: per-utterance files a recipe tool copies or rewrites when it derives a data dir
UTT_FILES = tuple(f for f in TABLE_FILES if f != "spk2utt")  # spk2utt is derived
FS_CATEGORY = "fs"  #: utterances written by sepplug.augment.fs_apply (feature-suppressed)


def c_sorted(keys: Iterable[str]) -> list[str]:
    """Sort like ``LC_ALL=C sort``: by UTF-8 bytes."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def write_table(path: Path | str, table: Mapping[str, Any]) -> None:
    """Write "<key> <value>" lines in C-locale key order (atomically: temp name, rename)."""
    path = Path(path)
    lines = []
    for key in c_sorted(table):
        value = str(table[key])
        if not key or any(c.isspace() for c in key):
            raise DataError(f"{path}: key {key!r} is empty or contains whitespace")
        if "\n" in value:
            raise DataError(f"{path}: value of key {key} contains a newline")
        lines.append(f"{key} {value}\n")
    _write_text(path, "".join(lines))


def read_table(path: Path | str) -> dict[str, str]:
    """Read "<key> <value>" lines (value = rest of the line; may be empty).

    Raises:
        DataError: a duplicate key (the message gives file and line).
    """
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, _, value = line.strip().partition(" ")
            if key in table:
                raise DataError(f"{path}:{number}: duplicate key {key}")
            table[key] = value.strip()
    return table


def write_spk2utt(data_dir: Path) -> None:
    """Derive ``spk2utt`` from ``utt2spk``."""
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in read_table(data_dir / "utt2spk").items():
        spk2utt.setdefault(spk, []).append(utt)
    write_table(data_dir / "spk2utt", {s: " ".join(c_sorted(u)) for s, u in spk2utt.items()})


def write_mixture_tables(data_dir: Path, fs: int, keys: Iterable[str],
                         meta: Mapping[str, Mapping[str, Any]]) -> None:
    """The tables every mixture data dir has besides its scp files: ``utt2spk`` and
    ``spk2utt`` (each mixture its own "speaker", as ESPnet's enh recipes), ``meta.jsonl``
    and ``fs``."""
    keys = list(keys)
    write_table(data_dir / "utt2spk", {k: k for k in keys})
    write_table(data_dir / "spk2utt", {k: k for k in keys})
    write_meta(data_dir / "meta.jsonl", meta)
    _write_text(data_dir / "fs", f"{fs}\n")


def write_meta(path: Path, records: Mapping[str, Mapping[str, Any]]) -> None:
    """Write ``meta.jsonl``: one JSON object per key, ``{"key": ..., **record}``, C-sorted."""
    _write_text(path, "".join(
        json.dumps({"key": key, **records[key]}, sort_keys=False) + "\n"
        for key in c_sorted(records)
    ))


def read_meta(path: Path) -> dict[str, dict[str, Any]]:
    records = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not JSON: {exc}") from exc
                if "key" not in record:
                    raise DataError(f"{path}:{number}: record has no 'key'")
                records[record["key"]] = record
    return records


def write_data_dir(
    data_dir: Path,
    fs: int,
    scps: Mapping[str, Mapping[str, str]],
    categories: Mapping[str, str],
    angles: Mapping[str, float],
    meta: Mapping[str, Mapping[str, Any]],
) -> None:
    """Write every file of the module doc into ``data_dir`` (created).

    Args:
        scps: scp file name (see SCP_FILES) -> {utt: wav path}.
        categories: utt -> easy|hard|both.
        angles: utt -> degrees.
        meta: utt -> JSON-able record.
    """
    keys = set(categories)
    for name, table in list(scps.items()) + [("utt2angle", angles), ("meta.jsonl", meta)]:
        if set(table) != keys:
            raise DataError(f"{data_dir}/{name}: key set differs from utt2category's")
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in SCP_FILES:
        write_table(data_dir / name, scps[name])
    write_table(data_dir / "utt2category", categories)
    write_table(data_dir / "utt2angle", {k: f"{angles[k]:.3f}" for k in keys})
    write_mixture_tables(data_dir, fs, keys, meta)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
