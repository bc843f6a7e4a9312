"""thresholded_snr: the MixIT / FUSS soft-thresholded SNR loss."""

from __future__ import annotations

import math

import pytest
import torch
from espnet2.enh.loss.criterions.time_domain import SNRLoss

from sepplug.enh.loss.criterions.thresholded_snr import ThresholdedSNRLoss
from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver


def _at_snr(ref: torch.Tensor, snr_db: float, seed: int = 0) -> torch.Tensor:
    """An estimate of ``ref`` (B, T) whose error is white noise at exactly ``snr_db``."""
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed),
                        dtype=ref.dtype)
    scale = ref.norm(dim=1) / noise.norm(dim=1) * 10 ** (-snr_db / 20)
    return ref + noise * scale[:, None]


def test_value_matches_the_formula_and_saturates_at_snr_max():
    ref = torch.randn(3, 800, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = ThresholdedSNRLoss(snr_max=30.0, eps=0.0)
    for snr_db in (0.0, 10.0, 20.0, 30.0):
        want = 10 * math.log10(10 ** (-snr_db / 10) + 1e-3)  # (E + tau P) / P
        got = loss(ref, _at_snr(ref, snr_db))
        assert got == pytest.approx(torch.full((3,), want, dtype=torch.float64), abs=1e-9)
    assert loss(ref, ref) == pytest.approx(torch.full((3,), -30.0, dtype=torch.float64), abs=1e-9)
    assert ThresholdedSNRLoss(snr_max=20.0, eps=0.0)(ref, ref) == pytest.approx(
        torch.full((3,), -20.0, dtype=torch.float64), abs=1e-9)


def test_agrees_with_espnet_snr_far_below_the_threshold():
    ref = torch.randn(2, 800, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    est = _at_snr(ref, 5.0)
    ours, espnet = ThresholdedSNRLoss()(ref, est), SNRLoss()(ref, est)
    assert torch.all((ours - espnet).abs() < 0.02)  # 10 log10(1 + 1e-3 / 10^-0.5)
    assert torch.all(ours >= espnet)  # the threshold only ever raises the loss


def test_gradient_is_finite_at_a_perfect_estimate():
    ref = torch.randn(2, 400, generator=torch.Generator().manual_seed(3))
    est = ref.clone().requires_grad_(True)
    ThresholdedSNRLoss()(ref, est).sum().backward()
    assert torch.isfinite(est.grad).all()
    assert ThresholdedSNRLoss()(torch.zeros(1, 10), torch.zeros(1, 10)).item() == 0.0


def test_mixit_refines_with_the_snr_objective():
    solver = EfficientMixITSolver(ThresholdedSNRLoss())
    assert solver.refine_objective == "snr"
    g = torch.Generator().manual_seed(4)
    sources = torch.randn(2, 4, 1600, generator=g)
    mixtures = [sources[:, 0] + sources[:, 1], sources[:, 2] + sources[:, 3]]
    estimates = [sources[:, k] for k in (2, 0, 3, 1)]
    loss, _, others = solver(mixtures, estimates)
    assert loss.item() == pytest.approx(-30.0, abs=1e-3)  # perfect remix: at the threshold
    assert others["perm"].shape == (2, 2, 4)


def test_bad_options_and_shapes():
    with pytest.raises(ValueError, match="snr_max"):
        ThresholdedSNRLoss(snr_max=math.inf)
    with pytest.raises(ValueError, match="eps"):
        ThresholdedSNRLoss(eps=-1.0)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        ThresholdedSNRLoss()(torch.zeros(2, 10), torch.zeros(2, 9))
