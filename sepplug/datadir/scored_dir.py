"""A data dir as the in-process scoring tools read it (``sepplug preference``,
``sepplug.bin.category_curves``): ``wav.scp`` and per-utterance tables (the references
``spk<k>[_mc].scp``, ``utt2category``), the first N utterances in C order, each signal
taken at the reference mic. :func:`read_utterance_tables` and :func:`pick_channel` take the
message of the caller's tool for what it checks; :class:`ScoredDir` is a two-source dir.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepplug.augment.audio_io import audio_info
from sepplug.datadir.kaldi_dir import c_sorted, read_table
from sepplug.errors import DataError


def read_utterance_tables(
    mix_scp: Path, tables: Sequence[Path], max_utts: int | None,
    lacking: Callable[[Path, list[str]], str],
) -> tuple[list[str], dict[str, str], list[dict[str, str]]]:
    """``(keys, mixtures, [table of each of tables])``: ``keys`` are the first ``max_utts``
    keys of ``mix_scp`` in C order (all when None), and each of ``tables`` (read in the
    order given) must have a non-empty value for every one of them.

    Raises:
        DataError: ``mix_scp`` is empty; a table lacks keys (message ``lacking(table's path,
            the keys it lacks)``); a table has a duplicate key.
    """
    mixtures = read_table(mix_scp)
    keys = c_sorted(mixtures)[:max_utts]
    if not keys:
        raise DataError(f"{mix_scp}: no mixtures")
    read = [read_table(path) for path in tables]
    for path, table in zip(tables, read, strict=True):
        missing = [k for k in keys if not table.get(k)]
        if missing:
            raise DataError(lacking(path, missing))
    return keys, mixtures, read


def pick_channel(audio: np.ndarray, channel: int,
                 too_few: Callable[[int], str]) -> np.ndarray:
    """(T, C) -> (T,): channel ``channel``; a (T, 1) signal is taken as already at that
    mic (a reference given at the reference mic only).

    Raises:
        DataError: ``too_few(C)``, when ``audio`` has 1 < C <= ``channel`` channels.
    """
    if audio.shape[1] == 1:
        return audio[:, 0]
    if channel >= audio.shape[1]:
        raise DataError(too_few(audio.shape[1]))
    return audio[:, channel]


@dataclass
class ScoredDir:
    """A two-source dir: ``keys`` (C-sorted, at most ``max_utts``), mixture and reference
    tables."""

    name: str
    path: Path
    keys: list[str]
    mix: dict[str, str]
    refs: list[tuple[Path, dict[str, str]]]  # (scp, table) of spk1, spk2


def open_scored_dir(path: Path, max_utts: int | None) -> ScoredDir:
    """Check a two-source dir's tables: ``wav.scp`` and the references ``spk<k>_mc.scp``
    ((T, C)) where present, else ``spk<k>.scp``; every key of wav.scp in both."""
    scps = [path / "wav.scp", *(next((s for s in (path / f"{n}_mc.scp", path / f"{n}.scp")
                                      if s.is_file()), path / f"{n}.scp")
                                for n in ("spk1", "spk2"))]
    for scp in scps:
        if not scp.is_file():
            raise DataError(f"{path}: missing {scp.name}")
    mix_scp, *ref_scps = scps
    keys, mix, refs = read_utterance_tables(
        mix_scp, ref_scps, max_utts,
        lambda scp, missing: f"{scp}: no entry for '{missing[0]}' (listed in {mix_scp})")
    return ScoredDir(path.name, path, keys, mix, list(zip(ref_scps, refs, strict=True)))


def mixture_format(dirs: Sequence[ScoredDir]) -> tuple[int, int, str]:
    """``(channels, rate, where)`` of the first mixture; every dir must agree."""
    found = []
    for s in dirs:
        key = s.keys[0]
        try:
            _, channels, rate = audio_info(s.mix[key], key, s.path / "wav.scp")
        except OSError as exc:
            raise DataError(str(exc)) from exc
        found.append((channels, rate, f"{s.path / 'wav.scp'} ('{key}')"))
    for channels, rate, where in found[1:]:
        if (channels, rate) != found[0][:2]:
            raise DataError(f"{where} has {channels} channels at {rate} Hz but {found[0][2]} "
                            f"{found[0][0]} at {found[0][1]} Hz")
    return found[0]
