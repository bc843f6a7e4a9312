"""Wrapper that applies a criterion to the whole set of estimates (no pairing).

PIT and MixIT pair references with estimates; regularisers of the output set (sparsity,
decorrelation) look at all ``M`` estimates together. This wrapper stacks ESPnet's lists
and calls a :class:`~sepplug.enh.loss.source_set.SourceSetLoss`::

    criterions:
      - name: snr
        conf: {eps: 1.0e-7}
        wrapper: mixit_efficient
        wrapper_conf: {weight: 1.0}
      - name: mixit_sparsity
        conf: {variant: l1_l2}
        wrapper: output_regularizer
        wrapper_conf: {weight: 23.0}
"""

from __future__ import annotations

import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper

from sepplug.enh.loss.signals import check_same_layout, stack_signals
from sepplug.enh.loss.source_set import SourceSetLoss

OWNER = "output_regularizer"


class OutputRegularizer(AbsLossWrapper):
    """Apply a set criterion: ``loss = mean_b criterion(stack(ref), stack(inf))``.

    Args:
        criterion: a :class:`SourceSetLoss` (``mixit_sparsity``, ``source_covariance``).
        weight: weight of this loss in the model's sum of losses.
    """

    def __init__(self, criterion: AbsEnhLoss, weight: float = 1.0):
        super().__init__()
        if not isinstance(criterion, SourceSetLoss):
            name = getattr(criterion, "name", type(criterion).__name__)
            raise TypeError(
                f"{OWNER}: criterion '{name}' compares one reference with one estimate; this "
                "wrapper needs a set criterion (mixit_sparsity, source_covariance). Use "
                "pit/mixit_efficient for pairwise criteria"
            )
        self.criterion = criterion
        self.weight = weight

    def forward(
        self,
        ref: list[torch.Tensor],
        inf: list[torch.Tensor],
        others: dict | None = None,
    ) -> tuple[torch.Tensor, dict, dict]:
        """Args: ref ``[(B, T)] x N``, inf ``[(B, T)] x M``; others passed on (``perm``).

        Returns ``(loss scalar, {criterion.name: loss}, {"perm": ...} if given)``.
        """
        refs = stack_signals(ref, "ref", OWNER)  # (B, N, T)
        estimates = stack_signals(inf, "inf", OWNER)  # (B, M, T)
        check_same_layout(refs, estimates, OWNER)
        if refs.dim() != 3:
            raise ValueError(
                f"{OWNER}: signals must be (B, T) waveforms, got {tuple(refs.shape[2:])} per signal"
            )
        loss = self.criterion(refs, estimates).mean()
        passed_on = {"perm": others["perm"]} if others and "perm" in others else {}
        return loss, {self.criterion.name: loss.detach()}, passed_on
