"""Covariance loss: discourages correlated output sources (Wisdom et al., 2021).

Two outputs that carry the same source (duplicates or partial copies) are correlated;
separated sources are not. The loss is the mean squared correlation coefficient over the
``M (M - 1) / 2`` pairs of zero-mean outputs::

    C = X Xᵀ / T,   ρ_ij = C_ij / sqrt((C_ii + δ)(C_jj + δ)),   loss = mean_{i<j} ρ_ij²

``ρ²`` is scale-invariant and in ``[0, 1]``. ``δ = rel_floor x mean_i C_ii`` makes
near-silent outputs (which the sparsity loss asks for) count as uncorrelated instead of
amplifying noise correlations (and keeps gradients bounded).

Weight: ``wrapper_conf.weight`` of the ``output_regularizer`` wrapper.
"""

from __future__ import annotations

import torch

from sepplug.enh.loss.source_set import SourceSetLoss


class SourceCovarianceLoss(SourceSetLoss):
    """Mean squared correlation of output pairs; ``(ref (B,N,T), inf (B,M,T)) -> (B,)``.

    Args:
        rel_floor: ``δ`` relative to the mean output power (see the module docstring).
        name: reporter key (unique among the model's criteria).
        only_for_test: compute it in validation only.
    """

    def __init__(
        self,
        rel_floor: float = 1e-3,
        name: str | None = None,
        only_for_test: bool = False,
    ):
        super().__init__(name or "source_covariance", only_for_test=only_for_test)
        if rel_floor < 0:
            raise ValueError(f"source_covariance: rel_floor must be >= 0, got {rel_floor}")
        self.rel_floor = float(rel_floor)

    def correlation(self, inf: torch.Tensor) -> torch.Tensor:
        """``(B, M, T)`` -> ``(B, M, M)`` floored correlation coefficients."""
        centred = inf - inf.mean(dim=-1, keepdim=True)
        cov = torch.bmm(centred, centred.transpose(1, 2)) / inf.shape[-1]  # (B, M, M)
        power = cov.diagonal(dim1=1, dim2=2)  # (B, M)
        floor = self.rel_floor * power.mean(dim=1, keepdim=True) + 1e-12
        scale = torch.sqrt(power + floor)  # (B, M)
        return cov / (scale.unsqueeze(2) * scale.unsqueeze(1))

    def forward(self, ref: torch.Tensor, inf: torch.Tensor) -> torch.Tensor:
        """Args: ref ``(B, N, T)`` (unused), inf ``(B, M, T)``. Returns ``(B,)``."""
        self.check_inputs(ref, inf)
        num_out = inf.shape[1]
        if num_out < 2:
            return inf.new_zeros(inf.shape[0])
        rho = self.correlation(inf)
        pairs = torch.triu_indices(num_out, num_out, offset=1, device=inf.device)
        return rho[:, pairs[0], pairs[1]].pow(2).mean(dim=1)
