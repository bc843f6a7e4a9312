"""Base class of criteria that score the whole set of estimated sources at once.

ESPnet criteria compare one reference with one estimate. Regularisers of the output set
(sparsity, decorrelation) need all ``M`` estimates together; they take
``ref (B, N, T)`` and ``inf (B, M, T)`` and return ``(B,)``. The
``output_regularizer`` wrapper stacks ESPnet's lists and calls them; the wrappers that
pair references with estimates refuse them (:func:`check_pairwise_criterion`).

They subclass ``TimeDomainLoss`` because ``ESPnetEnhancementModel.forward_loss`` routes
criteria by that type (time-domain ones receive waveforms).
"""

from __future__ import annotations

from abc import ABC

import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss


class SourceSetLoss(TimeDomainLoss, ABC):
    """A criterion over the set of estimates: ``forward(ref (B, N, T), inf (B, M, T)) -> (B,)``.

    ``ref`` is used for normalisation only (e.g. the mixture = ``ref.sum(1)``).
    """

    def check_inputs(self, ref: torch.Tensor, inf: torch.Tensor) -> None:
        """Clear errors when used with a per-pair wrapper (pit ...) or with bad shapes."""
        for what, sig in (("ref", ref), ("inf", inf)):
            if not torch.is_tensor(sig) or sig.dim() != 3:
                shape = tuple(sig.shape) if torch.is_tensor(sig) else type(sig).__name__
                raise ValueError(
                    f"criterion '{self.name}' scores the whole set of estimates and needs "
                    f"{what} of shape (B, K, T), got {shape}; use it with wrapper "
                    "'output_regularizer', not pit/fixed_order/mixit"
                )
        if ref.shape[0] != inf.shape[0] or ref.shape[2] != inf.shape[2]:
            raise ValueError(
                f"criterion '{self.name}': ref {tuple(ref.shape)} and inf {tuple(inf.shape)} "
                "must share batch size and length"
            )


def check_pairwise_criterion(criterion: object, owner: str) -> None:
    """A pairing wrapper's criterion: an ESPnet ``AbsEnhLoss`` that compares one reference
    ``(B, T)`` with one estimate ``(B, T)``, not a :class:`SourceSetLoss`.

    Raises ``TypeError`` naming ``owner`` (the wrapper) otherwise.
    """
    if not isinstance(criterion, AbsEnhLoss):
        raise TypeError(
            f"{owner}: criterion must be an ESPnet AbsEnhLoss (si_snr, snr, ci_sdr ...), "
            f"got {type(criterion).__name__}"
        )
    if isinstance(criterion, SourceSetLoss):
        raise TypeError(
            f"{owner}: criterion '{criterion.name}' scores the whole set of outputs; "
            "use it with wrapper 'output_regularizer'"
        )
