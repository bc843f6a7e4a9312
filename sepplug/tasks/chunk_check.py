"""Refuse, before the first epoch, a chunk-iterator training that can form no batch.

ESPnet's ``ChunkIterFactory.build_iter`` silently skips every training mixture whose length
``L`` is not above some candidate chunk length (``--chunk_discard_short_samples true``, the
default) and cuts each other mixture into ``(L - W) // int(W * chunk_shift_ratio) + 1``
chunks of a drawn candidate width ``W``; batches of ``batch_size`` chunks form from those.
With too few long mixtures no batch forms and a whole training run passes without a step.
:func:`check_chunk_supply` counts the chunks from the training shape file (Kaldi-style
``uttid L`` or ``uttid L,C`` lines, ESPnet's collect_stats output) and raises a
:class:`~sepplug.errors.DataError` naming the file, the counts and what to change.

The counts are upper bounds (each mixture cut with the candidate that gives it the most
chunks, chunks of every width pooled), so a training refused here can form no batch at all.

Under DDP (``W`` processes) ESPnet's chunk iterator gives rank ``r`` the mixtures
``r, r + W, ...`` of the shape file and batches of ``batch_size // W`` chunks (one more for
the first ``batch_size % W`` ranks), and every rank stops when the first one runs out: the
check is made for every rank's share, on every rank (all refuse alike, none waits for a
rank that failed), and names the rank that cannot fill a batch.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sepplug.errors import DataError


def parse_chunk_lengths(chunk_length: int | str) -> list[int]:
    """The candidate chunk lengths of ``--chunk_length`` exactly as ``ChunkIterFactory``
    reads them: an int, or a string of comma-separated numbers and ``a-b`` ranges
    (``"8000"``, ``"5,8"``, ``"3-5"`` = 3, 4, 5)."""
    if not isinstance(chunk_length, str):
        return [int(chunk_length)]
    if not chunk_length:
        raise DataError("--chunk_length: e.g. 5,8 or 3-5, but got an empty string")
    lengths: list[int] = []
    for part in chunk_length.split(","):
        try:
            bounds = [int(x) for x in part.split("-")]
        except ValueError:
            raise DataError(f"--chunk_length: e.g. 5,8 or 3-5, but got {chunk_length!r}") from None
        if len(bounds) > 2:
            raise DataError(f"--chunk_length: e.g. 5,8 or 3-5, but got {chunk_length!r}")
        lengths += list(range(bounds[0], bounds[1] + 1)) if len(bounds) == 2 else bounds
    return lengths


def read_shape_lengths(shape_file: str | Path, limit: int | None = None) -> list[int]:
    """The first dimension (samples) of every line of a shape file, in file order; only the
    first ``limit`` lines when given (ESPnet's ``--num_batches`` cut)."""
    lengths: list[int] = []
    with Path(shape_file).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if limit is not None and len(lengths) >= limit:
                break
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 2:
                    raise ValueError
                lengths.append(int(fields[1].split(",")[0]))
            except ValueError:
                raise DataError(f"{shape_file}:{number}: expected 'uttid L' or 'uttid L,C', "
                                f"got {line.rstrip()!r}") from None
    return lengths


def chunks_of(length: int, widths: list[int], shift_ratio: float,
              max_abs_length: int | None = None) -> int:
    """The most chunks ``build_iter`` cuts from a mixture of ``length`` samples: over the
    candidate ``widths`` shorter than it (capped at ``max_abs_length``); 0 when none is."""
    best = 0
    for width in widths:
        if width >= length:
            continue
        if max_abs_length is not None:
            width = min(width, max_abs_length)
        shift = max(int(width * shift_ratio), 1)
        best = max(best, (length - width) // shift + 1)
    return best


@dataclass(frozen=True)
class ChunkSupply:
    """What a shape file's mixtures give the chunk iterator."""

    mixtures: int  # lines of the shape file
    long_enough: int  # mixtures longer than the shortest candidate chunk length
    longest: int  # samples of the longest mixture (0 without mixtures)
    chunks: int  # chunks of all mixtures (each cut with its best candidate)
    chunks_per_epoch: int  # the most chunks one epoch can draw (num_iters_per_epoch samples)


def chunk_supply(lengths: list[int], widths: list[int], shift_ratio: float,
                 max_abs_length: int | None = None,
                 samples_per_epoch: int | None = None) -> ChunkSupply:
    """Count the mixtures and chunks of ``lengths``. With ``samples_per_epoch`` (ESPnet's
    ``--num_iters_per_epoch``, which the chunk iterator takes as mixtures per epoch) an
    epoch draws that many mixtures from consecutive shuffles of the list, each mixture at
    most ``ceil(samples_per_epoch / mixtures) + 1`` times: its chunk count is bounded by the
    largest counts so drawn."""
    counts = [chunks_of(n, widths, shift_ratio, max_abs_length) for n in lengths]
    total = sum(counts)
    per_epoch = total
    if samples_per_epoch is not None and counts:
        repeats = math.ceil(samples_per_epoch / len(counts)) + 1
        per_epoch = sum(sorted(counts * repeats, reverse=True)[:samples_per_epoch])
    return ChunkSupply(len(lengths), sum(c > 0 for c in counts), max(lengths, default=0),
                       total, per_epoch)


def largest_working_chunk_length(lengths: list[int], batch_size: int, shift_ratio: float,
                                 samples_per_epoch: int | None = None) -> int | None:
    """The largest single chunk length whose chunks fill one batch in an epoch (a binary
    search: fewer chunks for longer chunks); None when even 1 sample does not."""
    def enough(width: int) -> bool:
        supply = chunk_supply(lengths, [width], shift_ratio, None, samples_per_epoch)
        return supply.chunks_per_epoch >= batch_size

    low, high = 1, max(lengths, default=1) - 1
    if high < low or not enough(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if enough(mid) else (low, mid - 1)
    return low


def rank_batch_size(batch_size: int, rank: int, world_size: int) -> int:
    """The chunks per batch of ``rank`` under DDP, as ESPnet's chunk iterator splits them."""
    return batch_size // world_size + (1 if rank < batch_size % world_size else 0)


def _world_size(iter_options: Any) -> int:
    """ESPnet's processes when its iterator is distributed, else 1."""
    if not getattr(iter_options, "distributed", False):
        return 1
    import torch.distributed

    return torch.distributed.get_world_size()


def check_chunk_supply(args: argparse.Namespace, iter_options: Any,
                       world_size: int | None = None) -> ChunkSupply | None:
    """Raise :class:`DataError` when the training shape file's mixtures cannot fill one
    batch of the chunk iterator, in any rank under DDP (see the module doc; ``world_size``:
    ESPnet's, from torch.distributed when the iterator is distributed). The supply returned
    is the whole file's. No check (None) without a shape file,
    with ``chunk_discard_short_samples`` false (short mixtures are kept whole), with
    ``chunk_default_fs`` set (the chunk length then depends on each mixture's rate) or with
    a preprocessor that makes mixtures of its own length (a ``segment`` in
    ``preprocessor_conf``, e.g. ``spatial_dm``'s: the shape file does not tell it)."""
    shape_files = list(getattr(iter_options, "shape_files", None) or [])
    if (not shape_files or not getattr(args, "chunk_discard_short_samples", True)
            or getattr(args, "chunk_default_fs", None) is not None
            or (getattr(args, "preprocessor_conf", None) or {}).get("segment") is not None):
        return None
    shape_file = shape_files[0]
    widths = parse_chunk_lengths(args.chunk_length)
    ratio = float(getattr(args, "chunk_shift_ratio", 0.5))
    max_abs = getattr(args, "chunk_max_abs_length", None)
    per_epoch = getattr(iter_options, "num_iters_per_epoch", None)
    batch_size = int(iter_options.batch_size)
    lengths = read_shape_lengths(shape_file, getattr(iter_options, "num_batches", None))
    world = _world_size(iter_options) if world_size is None else int(world_size)
    if world > 1 and (len(lengths) < world or batch_size < world):
        raise DataError(f"{world} training processes (DDP) but {len(lengths)} training "
                        f"mixtures in {shape_file} and batch_size {batch_size}: ESPnet's chunk "
                        "iterator gives each process a share of the mixtures and of every "
                        f"batch, so both need at least {world} (run fewer processes)")
    for rank in range(world):
        share = lengths[rank::world]
        needed = rank_batch_size(batch_size, rank, world)
        supply = chunk_supply(share, widths, ratio, max_abs, per_epoch)
        if supply.chunks_per_epoch < needed:
            text = _message(shape_file, args.chunk_length, widths, ratio, per_epoch, needed,
                            supply, share)
            if world > 1:
                text = (f"rank {rank} of {world} training processes (DDP: mixtures {rank}, "
                        f"{rank + world}, ... of the file, batches of {needed} of batch_size "
                        f"{batch_size} chunks): " + text)
            raise DataError(text)
    return chunk_supply(lengths, widths, ratio, max_abs, per_epoch)


def _message(shape_file: str, spec: int | str, widths: list[int], ratio: float,
             per_epoch: int | None, batch_size: int, supply: ChunkSupply,
             lengths: list[int]) -> str:
    shortest = min(widths)
    limit = (f"chunk_length {spec} samples" if len(widths) == 1 else
             f"{shortest} samples, the shortest candidate of chunk_length {spec!r},")
    text = (f"{supply.long_enough} of {supply.mixtures} training mixtures in {shape_file} are "
            f"longer than {limit} (longest {supply.longest}); "
            f"they give {supply.chunks} chunks (chunk_shift_ratio {ratio})")
    if per_epoch is not None and supply.chunks_per_epoch != supply.chunks:
        text += (f", at most {supply.chunks_per_epoch} in an epoch of num_iters_per_epoch "
                 f"{per_epoch} mixtures")
    text += (f", one batch needs {batch_size} (batch_size {batch_size}): ESPnet's chunk "
             "iterator skips every mixture not longer than a chunk, and this training would "
             "run without a batch. Change one of: ")
    fixes = []
    working = largest_working_chunk_length(lengths, batch_size, ratio, per_epoch)
    if working is not None:
        fixes.append(f"chunk_length (at most {working} fills a batch)")
    fixes += [f"batch_size (at most {supply.chunks_per_epoch})" if supply.chunks_per_epoch
              else "batch_size", "longer training mixtures",
              "--chunk_discard_short_samples false (short mixtures kept whole)"]
    return text + "; ".join(fixes) + "."
