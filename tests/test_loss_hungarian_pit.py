"""`pit_hungarian`: PIT of 1..N present sources to M outputs (MixIT's supervised reference)."""

import itertools

import pytest
import torch
from espnet2.enh.loss.criterions.time_domain import SISNRLoss, SNRLoss
from espnet2.enh.loss.wrappers.pit_solver import PITSolver

from sepplug.enh.loss.criterions.mixit_sparsity import MixITSparsityLoss
from sepplug.enh.loss.wrappers.hungarian_pit import HungarianPITSolver, silence_loss


def signals(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def brute_force(criterion, refs, ests, present):
    """Minimum mean criterion over every injective map of the present refs to outputs."""
    best = []
    for b in range(refs.shape[0]):
        rows = [n for n in range(refs.shape[1]) if present[b, n]]
        values = []
        for cols in itertools.permutations(range(ests.shape[1]), len(rows)):
            pair = [criterion(refs[b:b + 1, n], ests[b:b + 1, m])
                    for n, m in zip(rows, cols, strict=True)]
            values.append(torch.stack(pair).mean())
        best.append(min(values))
    return torch.stack(best).mean()


@pytest.mark.parametrize("criterion", [SISNRLoss(eps=1e-7), SNRLoss(eps=1e-7)])
def test_equals_espnet_pit_when_all_sources_present(criterion):
    refs, ests = signals(4, 3, 400), signals(4, 3, 400, seed=1)
    ours, _, others = HungarianPITSolver(criterion)(list(refs.unbind(1)), list(ests.unbind(1)))
    stock, _, stock_others = PITSolver(criterion)(list(refs.unbind(1)), list(ests.unbind(1)))
    torch.testing.assert_close(ours, stock, rtol=1e-5, atol=1e-5)
    # the same outputs are matched (stock perm[b, n] = output of reference n)
    assert torch.equal(others["perm"], stock_others["perm"])


def test_silent_references_are_left_out_and_the_match_is_optimal():
    refs, ests = signals(3, 3, 300), signals(3, 5, 300, seed=2)
    refs[0, 2] = 0.0  # example 0: two sources
    refs[1, 1:] = 0.0  # example 1: one source
    present = refs.pow(2).mean(-1) > 0
    criterion = SISNRLoss(eps=1e-7)
    loss, stats, others = HungarianPITSolver(criterion)(list(refs.unbind(1)), list(ests.unbind(1)))
    torch.testing.assert_close(loss, brute_force(criterion, refs, ests, present),
                               rtol=1e-5, atol=1e-5)
    perm = others["perm"]
    assert perm.shape == (3, 3)
    for row in perm.tolist():  # N distinct outputs per example (absent refs: unmatched ones)
        assert len(set(row)) == 3 and all(0 <= m < 5 for m in row)
    assert stats["si_snr_loss"] == loss.detach()


def test_gradient_reaches_matched_outputs_only_without_silence_term():
    refs = signals(2, 2, 200)
    refs[1, 1] = 0.0
    ests = signals(2, 4, 200, seed=3).requires_grad_(True)
    loss, _, others = HungarianPITSolver(SNRLoss(eps=1e-7))(list(refs.unbind(1)),
                                                            list(ests.unbind(1)))
    loss.backward()
    touched = ests.grad.abs().sum(-1) > 0  # (B, M)
    expected = torch.zeros(2, 4, dtype=torch.bool)
    present = refs.pow(2).mean(-1) > 0
    for b, row in enumerate(others["perm"].tolist()):
        for n, m in enumerate(row):
            expected[b, m] = bool(present[b, n])
    assert torch.equal(touched, expected)


def test_silence_term_pushes_unmatched_outputs_down():
    refs = signals(1, 2, 400)
    loud = signals(1, 4, 400, seed=4)
    quiet = loud.clone()
    quiet[:, 2:] *= 1e-4  # which outputs stay unmatched does not depend on their level here
    solver = HungarianPITSolver(SISNRLoss(eps=1e-7), silence_weight=1.0, silence_snr_max=30.0)
    refs_list = list(refs.unbind(1))
    quiet[:, :2] = refs + 0.01 * quiet[:, :2]  # outputs 0, 1 match the sources
    loud[:, :2] = quiet[:, :2]
    loss_loud, stats_loud, _ = solver(refs_list, list(loud.unbind(1)))
    loss_quiet, stats_quiet, _ = solver(refs_list, list(quiet.unbind(1)))
    assert stats_quiet["silence"] < -29.0  # saturates at -snr_max
    assert stats_loud["silence"] > -5.0
    assert loss_quiet < loss_loud
    mix = refs.sum(1)
    assert torch.allclose(silence_loss(torch.zeros(1, 1, 400), mix, 30.0), torch.tensor(-30.0))


def test_bad_inputs_name_the_wrapper():
    refs, ests = signals(2, 3, 100), signals(2, 2, 100)
    with pytest.raises(ValueError, match="pit_hungarian: 2 outputs"):
        HungarianPITSolver(SNRLoss())(list(refs.unbind(1)), list(ests.unbind(1)))
    refs = signals(2, 3, 100)
    refs[1] = 0.0  # an all-silent example is left out (with a warning), not an error
    ests = signals(2, 3, 100, seed=5)
    loss, _, _ = HungarianPITSolver(SNRLoss())(list(refs.unbind(1)), list(ests.unbind(1)))
    alone, _, _ = HungarianPITSolver(SNRLoss())(list(refs[:1].unbind(1)),
                                                list(ests[:1].unbind(1)))
    torch.testing.assert_close(loss, alone)
    refs[0] = 0.0
    ests.requires_grad_(True)
    loss, _, _ = HungarianPITSolver(SNRLoss())(list(refs.unbind(1)), list(ests.unbind(1)))
    assert loss == 0 and loss.requires_grad
    with pytest.raises(ValueError, match="output_regularizer"):
        HungarianPITSolver(MixITSparsityLoss())
    with pytest.raises(ValueError, match="silence_weight"):
        HungarianPITSolver(SNRLoss(), silence_weight=-1.0)
