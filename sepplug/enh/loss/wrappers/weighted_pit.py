"""Rank-weighted PIT: hard-sample mining inside the batch (wSI-SNR).

From "Mining hard samples locally and globally for improved speech separation": the
per-example PIT losses ``l_b`` of a batch are sorted from best (lowest) to worst and rank
``i`` (1 = best) gets ``w_i = i / Σ_j j``, so the worst example weighs most::

    loss = Σ_i w_i l_(i)

With equal losses (or ``B = 1``) this is PIT's mean. The permutation is ESPnet's
``PITSolver``'s (called under ``no_grad``); the chosen permutation's losses are then
recomputed with autograd (``N`` criterion calls, against ``N x N!`` for the search).

Weighted validation (the paper's model selection): the same weights over the *whole*
dev set. ESPnet's reporter averages each validation stat over batches weighted by batch
size, so a per-batch rank weighting cannot give the set statistic. While validating
(estimates carry no autograd graph, i.e. ``validate_one_epoch``'s ``no_grad``), this
wrapper accumulates the per-example losses of the validation pass and reports under
``<criterion>_weighted_set`` the *increment* of ``K x S_K`` (``S_K`` = rank-weighted
statistic of the ``K`` examples seen so far) divided by the batch size. The reporter's
batch-size-weighted mean of these increments telescopes to ``S`` of the whole dev set,
exactly, for a single-process validation. Use it as::

    best_model_criterion: [[valid, si_snr_loss_weighted_set, min]]

Distributed training (DDP, ESPnet's ``torch.distributed`` mode): each rank holds a share of
every batch, and ESPnet all-reduces each stat weighted by the ranks' batch sizes ``b_r``
(``B = Σ b_r``). In the training and validation epochs of
:class:`~sepplug.train.trainer.SepplugTrainer` (where every rank calls the model in step:
:func:`sepplug.train.distributed.in_collective_step`) the per-example losses of all ranks
are gathered, so that every rank ranks the whole global batch and accumulates the whole
dev set: each rank reports the same ``<criterion>_weighted`` (the global batch's) and the
same set increment divided by ``B``, which the all-reduce leaves as they are; the training
loss of rank ``r`` is ``(B / b_r) Σ_{i in r} w_i l_i`` with the global batch's weights, so
that ESPnet's reduction (``Σ_r (b_r / B) loss_r``, DDP's gradient average included)
optimises the global batch's rank-weighted loss. Values equal one process's on the same
batches, to float rounding. Model calls outside those epochs (ESPnet's rank-0-only
attention plots) gather nothing.

Caveats: ``DataParallel`` replicas share the accumulator (not supported); a non-finite
loss makes the reporter drop that batch. The accumulator is reset when a validation call
follows a training call.

Reported stats: ``<criterion>`` PIT mean (comparable with ``pit`` runs),
``<criterion>_weighted`` the batch rank-weighted loss (the one optimised unless
``weighted_training=False``), and
``<criterion>_weighted_set`` (validation only).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.wrappers.pit_solver import PITSolver

from sepplug.enh.loss.signals import check_signals, mean_criterion, stack_signals
from sepplug.enh.loss.source_set import check_pairwise_criterion
from sepplug.train.distributed import gather_1d, in_collective_step

logger = logging.getLogger(__name__)

OWNER = "wpit"


def rank_weights(num: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``w_i = i / Σ_j j`` for ranks ``i = 1..num`` (best to worst), shape ``(num,)``."""
    ranks = torch.arange(1, num + 1, device=device, dtype=dtype)
    return ranks / ranks.sum()


def rank_weighted_loss(losses: torch.Tensor) -> torch.Tensor:
    """``(B,)`` per-example losses -> scalar ``Σ_i w_i l_(i)``, ascending sort (best first).

    Differentiable in the losses: the gradient w.r.t. the example of rank ``i`` is ``w_i``.
    """
    ordered, _ = torch.sort(losses)
    return (ordered * rank_weights(losses.numel(), losses.device, losses.dtype)).sum()


def example_rank_weights(losses: torch.Tensor) -> torch.Tensor:
    """The weight ``w_i`` of each example of ``(B,)`` ``losses`` in :func:`rank_weighted_loss`
    (by its rank in the ascending order), in the examples' order: ``(B,)``, no gradient."""
    order = torch.sort(losses.detach(), stable=True).indices
    weights = torch.empty_like(losses, dtype=losses.dtype).detach()
    weights[order] = rank_weights(losses.numel(), losses.device, losses.dtype)
    return weights


def rank_weighted_statistic(losses: np.ndarray) -> float:
    """Rank-weighted statistic of a whole set of per-example losses (float64)."""
    ordered = np.sort(np.asarray(losses, dtype=np.float64))
    ranks = np.arange(1, ordered.size + 1, dtype=np.float64)
    return float((ordered * ranks).sum() / ranks.sum())


def set_statistic_key(criterion_name: str) -> str:
    """Reporter key of the whole-dev-set statistic, for ``best_model_criterion``."""
    return f"{criterion_name}_weighted_set"


class WeightedPITSolver(PITSolver):
    """PIT with rank-weighted batch reduction and whole-dev-set weighted validation.

    Args:
        criterion: any ESPnet pairwise criterion (``si_snr``, ``snr``, ``ci_sdr`` ...).
        weight: weight of this loss in the model's sum of losses.
        independent_perm, flexible_numspk: as ESPnet's ``PITSolver``.
        set_statistic: report ``<criterion>_weighted_set`` while validating.
        weighted_training: optimise the rank-weighted loss (the paper's WTL); ``False``
            optimises PIT's plain mean and only reports the weighted statistics, so that a
            plain-PIT run can still select its model by the weighted dev-set statistic
            (WVL without WTL).
    """

    def __init__(
        self,
        criterion: AbsEnhLoss,
        weight: float = 1.0,
        independent_perm: bool = True,
        flexible_numspk: bool = False,
        set_statistic: bool = True,
        weighted_training: bool = True,
    ):
        check_pairwise_criterion(criterion, OWNER)
        super().__init__(
            criterion,
            weight=weight,
            independent_perm=independent_perm,
            flexible_numspk=flexible_numspk,
        )
        self.set_statistic = set_statistic
        self.weighted_training = weighted_training
        self._set_losses: list[np.ndarray] = []
        self._set_total = 0.0  # K x S_K of the examples accumulated so far
        self._last_call_validating = False

    def reset_set_statistic(self) -> None:
        """Forget the accumulated validation losses (done automatically per validation)."""
        self._set_losses = []
        self._set_total = 0.0

    def per_example_losses(
        self, ref: list[torch.Tensor], inf: list[torch.Tensor], perm
    ) -> torch.Tensor:
        """PIT loss of each example under ``perm`` ``(B, N)`` (ref s <-> inf perm[b, s]): (B,)."""
        if isinstance(perm, (list, tuple)):
            perm = torch.stack([torch.as_tensor(p) for p in perm])
        perm = perm.to(device=inf[0].device, dtype=torch.long)
        num_spk = perm.shape[1]
        refs = stack_signals(list(ref[:num_spk]), "ref", OWNER)  # (B, N, ...)
        estimates = stack_signals(list(inf), "inf", OWNER)  # (B, M, ...)
        batch_index = torch.arange(perm.shape[0], device=perm.device).unsqueeze(1)
        return mean_criterion(self.criterion, refs, estimates[batch_index, perm])

    def forward(
        self,
        ref: list[torch.Tensor],
        inf: list[torch.Tensor],
        others: dict | None = None,
    ) -> tuple[torch.Tensor, dict, dict]:
        """Rank-weighted PIT loss.

        Args:
            ref: ``[(B, ...)] x N`` references.
            inf: ``[(B, ...)] x N`` estimates.
            others: may hold ``perm`` (used when ``independent_perm`` is False).

        Returns:
            ``(loss scalar, stats, {"perm": (B, N)})``: the rank-weighted loss (the plain
            mean with ``weighted_training=False``).
        """
        others = others or {}
        if len(ref) == 0 or len(inf) == 0:
            raise ValueError(f"{OWNER}: ref and inf must be non-empty lists of (B, T) tensors")
        if len(ref) != len(inf) and not (self.flexible_numspk and len(ref) > len(inf)):
            raise ValueError(
                f"{OWNER}: {len(ref)} references but {len(inf)} estimates (PIT pairs them "
                "one to one; flexible_numspk: true allows extra dummy references)"
            )
        # Readable errors for mismatched batch sizes/lengths before ESPnet's asserts.
        check_signals(list(inf) + list(ref[: len(inf)]), "ref/inf", OWNER)
        with torch.no_grad():
            _, stats, pit_others = super().forward(ref, inf, others)
        per_example = self.per_example_losses(ref, inf, pit_others["perm"])  # (B,)
        if in_collective_step():  # DDP: rank the global batch (module doc)
            everything, offset = gather_1d(per_example)
            weights = example_rank_weights(everything)[offset:offset + per_example.numel()]
            scale = everything.numel() / per_example.numel()
            weighted = scale * (weights * per_example).sum()  # this rank's share, scaled
            weighted_stat = rank_weighted_loss(everything)
        else:
            everything = per_example
            weighted = weighted_stat = rank_weighted_loss(per_example)
        loss = weighted if self.weighted_training else per_example.mean()
        name = self.criterion.name
        stats[name] = per_example.detach().mean()
        stats[f"{name}_weighted"] = weighted_stat.detach()
        validating = not any(t.requires_grad for t in inf)
        if validating and self.set_statistic:
            if not self._last_call_validating:
                self.reset_set_statistic()
            stats[set_statistic_key(name)] = self._accumulate(everything.detach())
        self._last_call_validating = validating
        return loss, stats, pit_others

    def _accumulate(self, losses: torch.Tensor) -> torch.Tensor:
        """Add a validation batch (under DDP: the global batch, every rank's examples);
        return ``(K S_K - K' S_K') / B`` (see module docstring)."""
        batch = losses.detach().double().cpu().numpy()
        if not np.all(np.isfinite(batch)):
            logger.warning(
                "%s: non-finite validation loss; %s will not equal the dev-set statistic",
                OWNER,
                set_statistic_key(self.criterion.name),
            )
        self._set_losses.append(batch)
        everything = np.concatenate(self._set_losses)
        total = rank_weighted_statistic(everything) * everything.size
        increment = (total - self._set_total) / batch.size
        self._set_total = total
        return losses.new_tensor(increment)
