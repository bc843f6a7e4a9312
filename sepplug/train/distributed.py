"""What sepplug's components need to know about ESPnet's distributed (DDP) training.

ESPnet runs one process per rank (torchrun, or its own launcher) and gives each rank a
share of every batch (sequence iterators) or of the mixtures (the chunk iterator); the
trainer all-reduces each reported stat weighted by the ranks' batch sizes. Helpers here:

* :func:`rank_and_world_size`: this process's rank and world size, from torch.distributed
  when it is initialised (ESPnet does so before it builds preprocessors and iterators),
  else from ESPnet's ``--dist_rank`` / ``--dist_world_size`` arguments, else ``(0, 1)``;
* :func:`rank_seed_words`: the words a preprocessor appends to its seed so that ranks draw
  differently; none with world size 1, so a single process draws exactly as before;
* :func:`collective_steps` / :func:`in_collective_step`: set by
  :class:`~sepplug.train.trainer.SepplugTrainer` around its training and validation epochs,
  where every rank calls the model the same number of times (ESPnet stops all ranks at the
  shortest one's end); a loss may call a collective (:func:`gather_1d`) only inside, never
  in calls one rank makes alone (ESPnet's attention plots run on rank 0 only);
* :func:`gather_1d`: every rank's 1-D tensor, concatenated in rank order, on every rank.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch

#: a fixed word before the rank in a seed, so that ``[seed, ..., RANK_TAG, r]`` cannot be
#: mistaken for the seed words of some other draw
RANK_TAG = 0x52414E4B  # "RANK"

_collective = False


def distributed_ready() -> bool:
    """True when torch.distributed is initialised with more than one process."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def rank_and_world_size(args: argparse.Namespace | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process (module doc); ``(0, 1)`` without DDP."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    rank = getattr(args, "dist_rank", None)
    world = getattr(args, "dist_world_size", None)
    if getattr(args, "distributed", False) and rank is not None and world is not None:
        return int(rank), int(world)
    return 0, 1


def rank_seed_words(rank: int, world_size: int) -> tuple[int, ...]:
    """Words to append to a draw's seed: ``()`` for one process, else ``(RANK_TAG, rank)``."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
    return () if world_size == 1 else (RANK_TAG, int(rank))


@contextlib.contextmanager
def collective_steps() -> Iterator[None]:
    """Mark the model calls inside as made by every rank in step (module doc)."""
    global _collective
    previous, _collective = _collective, True
    try:
        yield
    finally:
        _collective = previous


def in_collective_step() -> bool:
    """True inside :func:`collective_steps` of a DDP run of more than one process."""
    return _collective and distributed_ready()


def gather_1d(values: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Every rank's 1-D ``values`` (lengths may differ), concatenated in rank order (the
    same tensor on every rank), and where this rank's values start in it. Call it on every
    rank (:func:`in_collective_step`); no gradient flows through it."""
    if values.dim() != 1:
        raise ValueError(f"gather_1d: expected a 1-D tensor, got shape {tuple(values.shape)}")
    world = torch.distributed.get_world_size()
    size = torch.tensor([values.numel()], device=values.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    torch.distributed.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    values = values.detach()
    padded = values.new_zeros(max(counts))  # all_gather needs equal shapes on every rank
    padded[: values.numel()] = values
    parts = [torch.zeros_like(padded) for _ in range(world)]
    torch.distributed.all_gather(parts, padded)
    joined = torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)])
    return joined, sum(counts[: torch.distributed.get_rank()])
