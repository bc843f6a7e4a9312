"""Thresholded SNR: the MixIT / FUSS training loss (Wisdom et al., 2020 and 2021).

For a reference ``s`` and an estimate ``ŝ`` (one row of ``(B, T)``)::

    loss = 10 log10((‖s - ŝ‖² + τ ‖s‖² + eps) / (‖s‖² + eps)),   τ = 10^(-snr_max / 10)

``τ`` is a soft threshold: the loss saturates smoothly at ``-snr_max`` dB (30 dB in the
papers), so examples that are already well separated stop dominating the gradient, and
``ŝ = s`` is harmless (the gradient stays finite). ESPnet's ``snr`` criterion is the same
dB scale without the threshold (``-20 log10(‖s‖ / ‖s - ŝ‖)`` with ``eps`` clamps), so far
below 30 dB the two agree.

**Scale of the sparsity weight.** A regulariser's weight is in dB of this loss per unit
of the regulariser: the default ``mixit_sparsity`` variant (``l1_l2``) lies in
``[1 / M, 1 / √M]``, so at weight ``w`` its whole range is worth ``w (1 / √M - 1 / M)`` dB
of SNR (0.23 w at M = 8: weight 23 with this variant spans about 5 dB).
sepplug's ``mixit_efficient`` (like ESPnet's PIT and MixIT solvers,
:func:`sepplug.enh.loss.signals.mean_criterion`) *averages* the
criterion over the two mixtures; MixIT code that *sums* it (common in public
implementations) has twice the scale, so a weight ``w`` tuned there is ``w / 2`` here.
With ESPnet's ``snr`` instead, the scale is the same below ~20 dB, but nothing caps the
gain of improving an already good example, so the sparsity term loses ground as training
proceeds.

YAML::

    criterions:
      - name: thresholded_snr
        conf: {snr_max: 30.0}
        wrapper: mixit_efficient
        wrapper_conf: {weight: 1.0}
"""

from __future__ import annotations

import math

import torch
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss


class ThresholdedSNRLoss(TimeDomainLoss):
    """Negative soft-thresholded SNR in dB; ``(ref (B, T), inf (B, T)) -> (B,)``.

    Args:
        snr_max: the threshold in dB (the loss approaches ``-snr_max`` for ``ŝ -> s``).
        eps: added to the denominator (guards an all-zero reference).
        name: reporter key.
        only_for_test: compute it in validation only.
    """

    def __init__(
        self,
        snr_max: float = 30.0,
        eps: float = 1e-8,
        name: str | None = None,
        only_for_test: bool = False,
    ):
        super().__init__(name or "thresholded_snr", only_for_test=only_for_test)
        if not math.isfinite(snr_max):
            raise ValueError(f"thresholded_snr: snr_max must be finite, got {snr_max}")
        if eps < 0:
            raise ValueError(f"thresholded_snr: eps must be >= 0, got {eps}")
        self.snr_max = float(snr_max)
        self.tau = 10.0 ** (-self.snr_max / 10.0)
        self.eps = float(eps)

    def forward(self, ref: torch.Tensor, inf: torch.Tensor) -> torch.Tensor:
        if ref.shape != inf.shape or ref.dim() != 2:
            raise ValueError(f"thresholded_snr: expected two (B, T) tensors, got "
                             f"{tuple(ref.shape)} and {tuple(inf.shape)}")
        ref_power = ref.pow(2).sum(dim=1)
        error_power = (ref - inf).pow(2).sum(dim=1)
        return 10.0 * torch.log10(error_power + self.tau * ref_power + self.eps) \
            - 10.0 * torch.log10(ref_power + self.eps)
