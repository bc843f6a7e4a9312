"""PIT of a variable number of sources to ``M`` outputs, by the Hungarian algorithm.

The supervised reference of a MixIT recipe (FUSS's supervised baseline) trains the same
``M``-output separator on single mixtures of ``1..K`` sources. ESPnet's ``PITSolver``
cannot do it: it tries all ``M!`` permutations (40 320 criterion sweeps at ``M = 8``) and
needs ``M`` references. Here the data pads every example to ``N <= M`` references with
silent signals (a mixture of fewer sources); per example only the present (non-silent)
references are matched, one-to-one, to the outputs that minimise the summed criterion
(``scipy``'s ``linear_sum_assignment``, exact, on the detached ``(K, M)`` cost matrix), and
the loss is the mean of the matched costs. ESPnet's ``PITSolver`` gives the same loss when
``K = N = M`` (checked in the tests).

The ``M - K`` unmatched outputs can be pushed to silence with FUSS's term for a zero
reference (Wisdom et al. 2020, the thresholded SNR with the threshold set by the mixture
``x = Σ refs``), averaged over the unmatched outputs::

    silence(ŝ) = 10 log10(‖ŝ‖² + τ ‖x‖²) - 10 log10(‖x‖²),   τ = 10^(-snr_max / 10)

It lies in ``[-snr_max, ~0]`` dB and is added with ``silence_weight`` (0 = unmatched
outputs are free, as in plain PIT on the present sources).

YAML (``model_conf: {flexible_numspk: true}`` so that ``N`` refs meet ``M`` outputs)::

    criterions:
      - name: si_snr
        conf: {eps: 1.0e-7}
        wrapper: pit_hungarian
        wrapper_conf: {weight: 1.0, silence_weight: 0.1}
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper
from scipy.optimize import linear_sum_assignment

from sepplug.enh.loss.signals import check_same_layout, stack_signals
from sepplug.enh.loss.source_set import SourceSetLoss

logger = logging.getLogger(__name__)

OWNER = "pit_hungarian"
#: a reference whose energy per sample is below this is padding (absent source)
SILENT_POWER = 1e-12


def present_references(refs: torch.Tensor) -> torch.Tensor:
    """``(B, N, T)`` references -> ``(B, N)`` bool, True where a reference is not silent."""
    return refs.detach().pow(2).mean(dim=-1) > SILENT_POWER


def match(costs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Optimal one-to-one matching of the present references to outputs.

    Args:
        costs: ``(B, N, M)`` loss of reference ``n`` against output ``m``.
        present: ``(B, N)`` which references take part.

    Returns:
        ``(B, N)`` long: the output matched to each present reference; absent references
        get the unmatched outputs in order, so that every row indexes ``N`` distinct outputs
        (ESPnet's ``sort_by_perm`` and ``PITSolver(perm=...)`` can use it).
    """
    costs = costs.detach().double().cpu().numpy()
    present = present.cpu().numpy()
    perm = np.zeros(present.shape, dtype=np.int64)
    for b in range(costs.shape[0]):
        rows = np.flatnonzero(present[b])
        cols = np.empty(0, dtype=np.int64)
        if rows.size:
            matched_rows, cols = linear_sum_assignment(costs[b, rows])
            perm[b, rows[matched_rows]] = cols
        absent = np.flatnonzero(~present[b])
        used = set(cols.tolist())
        perm[b, absent] = [m for m in range(costs.shape[2]) if m not in used][:absent.size]
    return torch.from_numpy(perm)


def silence_loss(estimates: torch.Tensor, mixture: torch.Tensor, snr_max: float) -> torch.Tensor:
    """FUSS's zero-reference term: ``(B, M, T)`` estimates, ``(B, T)`` mixture -> ``(B, M)`` dB."""
    mix_energy = mixture.pow(2).sum(dim=-1, keepdim=True)  # (B, 1)
    tau = 10.0 ** (-snr_max / 10.0)
    est_energy = estimates.pow(2).sum(dim=-1)  # (B, M)
    return 10 * torch.log10(est_energy + tau * mix_energy + 1e-12) \
        - 10 * torch.log10(mix_energy + 1e-12)


class HungarianPITSolver(AbsLossWrapper):
    """PIT of the present references to ``M >= N`` outputs, silent references left out.

    Args:
        criterion: time-domain ESPnet criterion (``si_snr``, ``snr``, ``thresholded_snr``).
        weight: weight of this loss in the model's sum of losses.
        silence_weight: weight of FUSS's silence term on the unmatched outputs (0: none).
        silence_snr_max: its threshold ``snr_max`` (dB below the mixture).
    """

    def __init__(
        self,
        criterion: AbsEnhLoss,
        weight: float = 1.0,
        silence_weight: float = 0.0,
        silence_snr_max: float = 30.0,
    ):
        super().__init__()
        if isinstance(criterion, SourceSetLoss):
            raise ValueError(f"{OWNER}: criterion '{criterion.name}' scores the whole output "
                             "set; use it with wrapper 'output_regularizer'")
        if silence_weight < 0:
            raise ValueError(f"{OWNER}: silence_weight must be >= 0, got {silence_weight}")
        self.criterion = criterion
        self.weight = weight
        self.silence_weight = float(silence_weight)
        self.silence_snr_max = float(silence_snr_max)

    def forward(self, ref, inf, others=None):
        """Match, then average the matched criterion values.

        Args:
            ref: ``N`` tensors ``(B, T)``, silent where a mixture has fewer sources.
            inf: ``M >= N`` tensors ``(B, T)``, the outputs.
            others: unused.

        Returns:
            ``(loss scalar, stats, {"perm": (B, N) output per reference; see match})``.
        """
        refs = stack_signals(ref, "ref", OWNER)  # (B, N, T)
        ests = stack_signals(inf, "inf", OWNER)  # (B, M, T)
        check_same_layout(refs, ests, OWNER)
        num_ref, num_est = refs.shape[1], ests.shape[1]
        if num_est < num_ref:
            raise ValueError(f"{OWNER}: {num_est} outputs (inf) cannot take {num_ref} "
                             "references (ref)")
        present = present_references(refs)  # (B, N)
        silent = ~present.any(dim=1)  # e.g. a chunk cut from the zero padding of a mixture
        if bool(silent.any()):
            logger.warning("%s: %d of %d examples of the batch have only silent references: "
                           "left out of the loss", OWNER, int(silent.sum()), len(silent))
        if bool(silent.all()):  # nothing to learn from: a zero loss that keeps the graph
            zero = ests.sum() * 0.0
            return zero, {self.criterion.name: zero.detach()}, \
                {"perm": torch.arange(num_ref).expand(len(silent), -1)}
        mixture = refs.sum(dim=1)  # (B, T); also the stand-in for an absent reference
        safe_refs = torch.where(present[..., None], refs, mixture[:, None])
        costs = torch.stack([
            torch.stack([self.criterion(safe_refs[:, n], ests[:, m]) for m in range(num_est)],
                        dim=1)
            for n in range(num_ref)
        ], dim=1)  # (B, N, M)
        perm = match(costs, present).to(refs.device)
        matched = costs.gather(2, perm[..., None]).squeeze(2)  # (B, N)
        weights = present.to(matched.dtype)
        per_example = (matched * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)
        loss = per_example[~silent].mean()
        stats = {self.criterion.name: loss.detach()}
        if self.silence_weight > 0 and num_est > 1:
            unmatched = torch.ones(ests.shape[:2], dtype=torch.bool, device=ests.device)
            rows = torch.arange(perm.shape[0], device=perm.device)[:, None].expand_as(perm)
            unmatched[rows[present], perm[present]] = False
            silence = silence_loss(ests, mixture, self.silence_snr_max)  # (B, M)
            count = unmatched.sum(dim=1).clamp_min(1).to(silence.dtype)
            silence = ((silence * unmatched).sum(dim=1) / count)[~silent].mean()
            stats["silence"] = silence.detach()
            loss = loss + self.silence_weight * silence
        return loss, stats, {"perm": perm}
