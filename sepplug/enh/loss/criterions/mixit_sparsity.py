"""Sparsity loss on the output sources of a MixIT model (Wisdom et al., 2021).

MixIT models with many outputs over-separate: one source is spread over several
outputs. The loss is computed on the vector ``r = (rms(ŝ_1), ..., rms(ŝ_M))`` of output
levels and favours few active outputs. Two published variants:

* ``l1_l2`` (default): ``‖r‖₁ / (M ‖r‖₂)``, in ``[1/M, 1/√M]``; minimal when a single
  output is active.
* ``rms_over_mixture``: ``mean_m r_m / rms(x)`` with ``x = Σ_n ref_n`` the
  mixture-of-mixtures (``speech_mix``).

Why ``l1_l2`` is the default: it is scale-invariant. ``rms_over_mixture`` is an L1 penalty
on output *level*; with a scale-invariant separation criterion (ESPnet's default
``si_snr``) the model can lower it by shrinking every output by the same factor without
any change in the separation loss, i.e. it penalises loudness rather than the number of
active outputs. ``l1_l2`` only changes when the *distribution* of energy over the
outputs changes, so it works with ``si_snr`` and ``snr`` alike and does not fight the
reconstruction term. Use ``rms_over_mixture`` with a scale-dependent criterion
(``snr``), where it matches the published recipe.

Weight: set in ``wrapper_conf.weight`` of the ``output_regularizer`` wrapper::

    - name: mixit_sparsity
      conf: {variant: l1_l2}
      wrapper: output_regularizer
      wrapper_conf: {weight: 23.0}
"""

from __future__ import annotations

import torch

from sepplug.enh.loss.source_set import SourceSetLoss

VARIANTS = ("l1_l2", "rms_over_mixture")


class MixITSparsityLoss(SourceSetLoss):
    """Sparsity of the output RMS vector; ``forward(ref (B, N, T), inf (B, M, T)) -> (B,)``.

    Args:
        variant: ``"l1_l2"`` or ``"rms_over_mixture"`` (see the module docstring).
        eps: floor added to mean squares (an output at 0 has RMS ``√eps``, -100 dB by
            default) so silent outputs and all-zero inputs give finite values and gradients.
        name: reporter key (unique among the model's criteria).
        only_for_test: compute it in validation only.
    """

    def __init__(
        self,
        variant: str = "l1_l2",
        eps: float = 1e-10,
        name: str | None = None,
        only_for_test: bool = False,
    ):
        super().__init__(name or "mixit_sparsity", only_for_test=only_for_test)
        if variant not in VARIANTS:
            raise ValueError(f"mixit_sparsity: variant must be one of {VARIANTS}, got {variant!r}")
        if eps <= 0:
            raise ValueError(f"mixit_sparsity: eps must be > 0, got {eps}")
        self.variant = variant
        self.eps = float(eps)

    def output_rms(self, inf: torch.Tensor) -> torch.Tensor:
        """``(B, M, T)`` -> ``(B, M)`` RMS levels (with the ``eps`` floor)."""
        return torch.sqrt(inf.pow(2).mean(dim=-1) + self.eps)

    def forward(self, ref: torch.Tensor, inf: torch.Tensor) -> torch.Tensor:
        """Args: ref ``(B, N, T)`` mixtures, inf ``(B, M, T)`` estimates. Returns ``(B,)``."""
        self.check_inputs(ref, inf)
        rms = self.output_rms(inf)  # (B, M)
        if self.variant == "l1_l2":
            num_out = rms.shape[1]
            return rms.sum(dim=1) / (num_out * rms.norm(p=2, dim=1))
        mixture_rms = torch.sqrt(ref.sum(dim=1).pow(2).mean(dim=-1) + self.eps)  # (B,)
        return rms.mean(dim=1) / mixture_rms
