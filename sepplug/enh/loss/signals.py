"""Input checks and pairwise criterion helpers shared by sepplug's loss wrappers.

ESPnet passes wrappers lists of ``(B, T)`` tensors; these helpers turn them into
``(B, K, T)`` stacks with errors that name the wrapper and the faulty entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

#: criterion call: ``(ref (B, ...), est (B, ...)) -> (B,)``, as every ESPnet AbsEnhLoss
CriterionFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_signals(signals: Sequence[torch.Tensor], what: str, owner: str) -> None:
    """Check a list of real signals ``[(B, ...)] x K`` that share one shape.

    Raises ``ValueError``/``TypeError`` naming ``owner`` (the wrapper) and ``what``
    (e.g. ``"ref"``) when the list is empty, holds non-tensors or complex values,
    or when batch sizes / lengths differ.
    """
    if not isinstance(signals, (list, tuple)) or len(signals) == 0:
        raise ValueError(f"{owner}: {what} must be a non-empty list of (B, T) tensors")
    first = signals[0]
    for k, sig in enumerate(signals):
        if not torch.is_tensor(sig):
            raise TypeError(
                f"{owner}: {what}[{k}] is a {type(sig).__name__}; only real torch tensors "
                "(time-domain signals) are supported"
            )
        if sig.is_complex():
            raise TypeError(f"{owner}: {what}[{k}] is complex; only real signals are supported")
        if sig.dim() < 2:
            raise ValueError(f"{owner}: {what}[{k}] has shape {tuple(sig.shape)}; expected (B, T)")
        if sig.shape != first.shape:
            raise ValueError(
                f"{owner}: {what}[{k}] has shape {tuple(sig.shape)} but {what}[0] has "
                f"{tuple(first.shape)}: all signals need the same batch size and length"
            )


def stack_signals(signals: Sequence[torch.Tensor], what: str, owner: str) -> torch.Tensor:
    """:func:`check_signals`, then stack ``[(B, ...)] x K`` into ``(B, K, ...)``."""
    check_signals(signals, what, owner)
    return torch.stack(list(signals), dim=1)


def check_same_layout(ref: torch.Tensor, est: torch.Tensor, owner: str) -> None:
    """Refs ``(B, N, ...)`` and estimates ``(B, M, ...)`` must share batch and length."""
    if ref.shape[0] != est.shape[0]:
        raise ValueError(
            f"{owner}: batch size of ref ({ref.shape[0]}) and inf ({est.shape[0]}) differ"
        )
    if ref.shape[2:] != est.shape[2:]:
        raise ValueError(
            f"{owner}: ref signals have shape {tuple(ref.shape[2:])} but inf signals "
            f"{tuple(est.shape[2:])} (lengths must match; trim or pad upstream)"
        )


def mean_criterion(criterion: CriterionFn, ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Mean over the ``N`` pairs of ``criterion(ref[:, n], est[:, n])``: ``(B, N, ...)`` -> (B,).

    This is the per-example loss ESPnet's PIT and MixIT solvers minimise.
    """
    losses = [criterion(ref[:, n], est[:, n]) for n in range(ref.shape[1])]
    for loss in losses:
        if loss.shape != ref.shape[:1]:
            raise ValueError(
                f"criterion {type(criterion).__name__} returned shape {tuple(loss.shape)}; "
                f"an ESPnet criterion must return one value per example ({ref.shape[0]},)"
            )
    return torch.stack(losses, dim=0).mean(dim=0)
