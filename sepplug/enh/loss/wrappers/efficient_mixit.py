"""Efficient mixture invariant training (MixIT) for any number of mixtures and outputs.

ESPnet's ``MixITSolver`` scores all ``N**M`` assignments of the ``M`` estimates to the
mixtures on one ``(N**M, B, N, T)`` tensor and forces ``N = M // 2``. This wrapper keeps
its interface (``ref`` = the ``N`` mixtures, ``inf`` = the ``M`` estimates, ``perm`` = the
``(B, N, M)`` mixing matrix) but finds the assignment with the projected least-squares
solution of Wisdom et al., "Sparse, efficient, and semantic mixture invariant training"
(2021): ``A = solve(EᵀE + λI, EᵀR)``, one-hot per estimate (argmax), remix, criterion.

The argmax projection alone misplaces low-level outputs (noise-only, leakage) and the
halves of over-separated sources often enough to miss the exhaustive optimum in about
70 % of the examples with 8 outputs (bench/bench_mixit.py). A local search fixes most of
it at small cost: starting from the projection, reassign one or two estimates at a time
while the loss drops, scoring every move in closed form from the ``(M + N)²`` inner
products already computed for the solve (SI-SNR or SNR, whichever matches the criterion;
no extra pass over the samples). A mixture left without any estimate gets the one with
the largest coefficient when the criterion is scale-invariant (its loss would be inf).

YAML (model needs ``model_conf: {flexible_numspk: true}`` so that ``N`` refs are
accepted with ``num_spk: M`` outputs)::

    criterions:
      - name: snr
        conf: {eps: 1.0e-7}
        wrapper: mixit_efficient
        wrapper_conf: {weight: 1.0, diag_loading: 1.0e-3, refine_sweeps: 16}
"""

from __future__ import annotations

import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.criterions.tf_domain import FrequencyDomainLoss
from espnet2.enh.loss.criterions.time_domain import SNRLoss, TimeDomainL1, TimeDomainMSE
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper

from sepplug.enh.loss.criterions.thresholded_snr import ThresholdedSNRLoss
from sepplug.enh.loss.mixing import (
    exhaustive_mixing,
    least_squares_mixing,
    refine_mixing,
    remix,
    second_order_stats,
)
from sepplug.enh.loss.signals import check_signals, mean_criterion, stack_signals
from sepplug.enh.loss.source_set import check_pairwise_criterion

OWNER = "mixit_efficient"
OBJECTIVES = ("auto", "snr", "si_snr")
#: criteria whose closest closed-form objective is the (scale-dependent) SNR
SCALE_DEPENDENT = (SNRLoss, ThresholdedSNRLoss, TimeDomainMSE, TimeDomainL1)


class EfficientMixITSolver(AbsLossWrapper):
    """MixIT with a least-squares assignment, general ``N`` mixtures and ``M >= N`` outputs.

    Args:
        criterion: time-domain ESPnet criterion (``si_snr``, ``snr``, ``ci_sdr`` ...).
        weight: weight of this loss in the model's sum of losses.
        diag_loading: relative diagonal loading ``λ`` of the least-squares solve (times the
            mean estimate energy; see :func:`sepplug.enh.loss.mixing.least_squares_mixing`).
        refine_sweeps: at most this many local-search steps (each reassigns one or two
            estimates) after the projection; 0 = the paper's plain projection.
        refine_objective: closed-form objective of the refinement: ``"si_snr"``,
            ``"snr"``, or ``"auto"`` (``snr`` for the scale-dependent ``snr``,
            ``thresholded_snr``, ``mse_td``, ``l1_td`` criteria, ``si_snr`` otherwise).
        exhaustive_up_to: use the exact exhaustive search (``N**M`` criterion calls,
            chunked, no autograd) when ``M <= exhaustive_up_to``; 0 = always efficient.
        num_mixtures: use only ``ref[:num_mixtures]`` (for data that pads the reference
            list to ``M`` entries, as ESPnet's ``MixITSolver`` assumes with ``M // 2``).
        max_chunk_elements: memory bound of the exhaustive search.
    """

    def __init__(
        self,
        criterion: AbsEnhLoss,
        weight: float = 1.0,
        diag_loading: float = 1e-3,
        refine_sweeps: int = 16,
        refine_objective: str = "auto",
        exhaustive_up_to: int = 0,
        num_mixtures: int | None = None,
        max_chunk_elements: int = 2**24,
    ):
        super().__init__()
        check_pairwise_criterion(criterion, OWNER)
        if isinstance(criterion, FrequencyDomainLoss):
            raise TypeError(
                f"{OWNER}: criterion '{criterion.name}' is a frequency-domain loss; the "
                "least-squares assignment needs real time-domain signals"
            )
        if diag_loading < 0:
            raise ValueError(f"{OWNER}: diag_loading must be >= 0, got {diag_loading}")
        if refine_sweeps < 0:
            raise ValueError(f"{OWNER}: refine_sweeps must be >= 0, got {refine_sweeps}")
        if refine_objective not in OBJECTIVES:
            raise ValueError(
                f"{OWNER}: refine_objective must be one of {OBJECTIVES}, got {refine_objective!r}"
            )
        if refine_objective == "auto":
            refine_objective = "snr" if isinstance(criterion, SCALE_DEPENDENT) else "si_snr"
        if num_mixtures is not None and num_mixtures < 1:
            raise ValueError(f"{OWNER}: num_mixtures must be >= 1, got {num_mixtures}")
        self.criterion = criterion
        self.weight = weight
        self.diag_loading = float(diag_loading)
        self.refine_sweeps = int(refine_sweeps)
        self.refine_objective = refine_objective
        # ESPnet's si_snr removes the mean; the refinement must see the same signals.
        self.zero_mean = refine_objective == "si_snr" and getattr(criterion, "zero_mean", True)
        self.exhaustive_up_to = int(exhaustive_up_to)
        self.num_mixtures = num_mixtures
        self.max_chunk_elements = int(max_chunk_elements)

    @property
    def name(self) -> str:
        return OWNER

    def find_mixing(self, signals: torch.Tensor, num_est: int) -> torch.Tensor:
        """Mixing matrix ``(B, N, M)`` (int64, no gradient).

        Args:
            signals: ``(B, M + N, ...)`` the estimates followed by the mixtures.
            num_est: ``M``.
        """
        estimates, mixtures = signals[:, :num_est], signals[:, num_est:]
        if num_est <= self.exhaustive_up_to:
            _, mixing = exhaustive_mixing(
                self.criterion, mixtures, estimates, self.max_chunk_elements
            )
            return mixing
        stats = second_order_stats(signals, num_est, self.zero_mean)
        # A scale-invariant criterion is infinite for a mixture that gets no estimate.
        fill_empty = self.refine_objective == "si_snr"
        mixing = least_squares_mixing(stats, self.diag_loading, fill_empty)
        if self.refine_sweeps > 0:
            mixing = refine_mixing(stats, mixing, self.refine_objective, self.refine_sweeps)
        return mixing

    def forward(
        self,
        ref: list[torch.Tensor],
        inf: list[torch.Tensor],
        others: dict | None = None,
    ) -> tuple[torch.Tensor, dict, dict]:
        """Loss of the best (approximately, unless exhaustive) remix of the estimates.

        Args:
            ref: ``[(B, T)] x N`` mixtures (ESPnet's MixIT convention: speech_ref1..N).
            inf: ``[(B, T)] x M`` estimates, ``M >= N``.
            others: unused (kept for the wrapper interface).

        Returns:
            ``(loss scalar, stats {criterion.name: loss}, {"perm": (B, N, M) mixing})``.
        """
        if self.num_mixtures is not None:
            if len(ref) < self.num_mixtures:
                raise ValueError(
                    f"{OWNER}: num_mixtures={self.num_mixtures} but only {len(ref)} refs given"
                )
            ref = ref[: self.num_mixtures]
        check_signals(ref, "ref", OWNER)
        check_signals(inf, "inf", OWNER)
        if ref[0].shape != inf[0].shape:
            raise ValueError(
                f"{OWNER}: ref signals have shape {tuple(ref[0].shape)} but inf signals "
                f"{tuple(inf[0].shape)}: batch size and length must match"
            )
        num_mix, num_est = len(ref), len(inf)
        if num_est < num_mix:
            raise ValueError(
                f"{OWNER}: {num_est} estimates (inf) cannot be assigned to {num_mix} mixtures "
                "(ref): MixIT needs M >= N"
            )
        # One stacked tensor: a single (M + N)² product gives all the inner products.
        signals = stack_signals(
            list(inf) + [r.to(inf[0].dtype) for r in ref], "inf+ref", OWNER
        )  # (B, M + N, T)
        estimates, mixtures = signals[:, :num_est], signals[:, num_est:]
        mixing = self.find_mixing(signals, num_est)
        remixed = remix(mixing, estimates)  # gradient flows through the estimates only
        loss = mean_criterion(self.criterion, mixtures, remixed).mean()
        stats = {self.criterion.name: loss.detach()}
        return loss, stats, {"perm": mixing}
