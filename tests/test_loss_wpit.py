"""Rank-weighted PIT (`wpit`): weights, gradients, ESPnet's permutations, dev-set statistic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from espnet2.enh.loss.criterions.time_domain import (
    CISDRLoss,
    SISNRLoss,
    SNRLoss,
    TimeDomainMSE,
)
from espnet2.enh.loss.wrappers.pit_solver import PITSolver
from espnet2.train.reporter import Reporter

from sepplug.enh.loss.criterions.source_covariance import SourceCovarianceLoss
from sepplug.enh.loss.wrappers.weighted_pit import (
    WeightedPITSolver,
    rank_weighted_loss,
    rank_weighted_statistic,
    rank_weights,
    set_statistic_key,
)
from tests.enh_task import conv_tcn_config, task_args

torch.set_num_threads(1)


def shuffled_pair(batch: int, num_spk: int, length: int = 400, seed: int = 0):
    """References and noisy estimates in a random order per example (as lists)."""
    gen = torch.Generator().manual_seed(seed)
    refs = torch.randn(batch, num_spk, length, generator=gen)
    noise = torch.rand(batch, 1, 1, generator=gen) * torch.randn(refs.shape, generator=gen)
    order = torch.stack([torch.randperm(num_spk, generator=gen) for _ in range(batch)])
    estimates = (refs + 0.5 * noise)[torch.arange(batch)[:, None], order]
    return list(refs.unbind(1)), list(estimates.unbind(1))


def test_rank_weights():
    weights = rank_weights(4)
    torch.testing.assert_close(weights, torch.tensor([1.0, 2.0, 3.0, 4.0]) / 10)
    losses = torch.tensor([3.0, -1.0, 2.0, 0.0], requires_grad=True)
    rank_weighted_loss(losses).backward()
    # rank 1 = best = lowest loss; the worst (3.0) gets the largest weight
    torch.testing.assert_close(losses.grad, torch.tensor([4.0, 1.0, 3.0, 2.0]) / 10)
    assert rank_weighted_statistic(np.array([3.0, -1.0, 2.0, 0.0])) == pytest.approx(
        float((torch.tensor([-1.0, 0.0, 2.0, 3.0]) * weights).sum())
    )


def test_equal_losses_give_the_pit_mean():
    """Uniform-rank limit: identical examples (and B = 1) reduce to PIT's mean."""
    refs, ests = shuffled_pair(1, 2)
    refs, ests = [r.repeat(5, 1) for r in refs], [e.repeat(5, 1) for e in ests]
    pit, _, _ = PITSolver(SISNRLoss())(refs, ests)
    wpit, stats, _ = WeightedPITSolver(SISNRLoss())(refs, ests)
    torch.testing.assert_close(wpit, pit)
    torch.testing.assert_close(stats["si_snr_loss"], pit)
    single = WeightedPITSolver(SISNRLoss())([r[:1] for r in refs], [e[:1] for e in ests])[0]
    torch.testing.assert_close(single, pit)


@pytest.mark.parametrize(
    "criterion", [SISNRLoss(), SNRLoss(), CISDRLoss(filter_length=32)], ids=lambda c: c.name
)
def test_any_criterion_and_weighted_mean_is_at_least_the_mean(criterion):
    refs, ests = shuffled_pair(6, 2, seed=1)
    pit, pit_stats, _ = PITSolver(criterion)(refs, ests)
    wpit, stats, _ = WeightedPITSolver(criterion)(refs, ests)
    torch.testing.assert_close(stats[criterion.name], pit, rtol=1e-5, atol=1e-5)
    # increasing weights on ascending losses (Chebyshev's sum inequality)
    assert float(wpit) > float(pit)
    assert float(stats[f"{criterion.name}_weighted"]) == pytest.approx(float(wpit))


def test_unweighted_training_optimises_the_pit_mean_and_reports_the_weighted_loss():
    """weighted_training=False (WVL without WTL): PIT's loss and gradient, same stats."""
    refs, ests = shuffled_pair(6, 2, seed=4)
    leaves = {k: [e.clone().requires_grad_() for e in ests] for k in ("pit", "wpit")}
    pit, _, pit_others = PITSolver(SISNRLoss())(refs, leaves["pit"])
    loss, stats, others = WeightedPITSolver(SISNRLoss(), weighted_training=False)(
        refs, leaves["wpit"])
    torch.testing.assert_close(loss, pit)
    torch.testing.assert_close(others["perm"], pit_others["perm"])
    weighted, _, _ = WeightedPITSolver(SISNRLoss())(refs, ests)
    assert float(stats["si_snr_loss_weighted"]) == pytest.approx(float(weighted))
    assert float(weighted) > float(loss)
    pit.backward()
    loss.backward()
    for a, b in zip(leaves["pit"], leaves["wpit"], strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_worst_example_gets_the_largest_gradient():
    """Per example, the gradient is PIT's times B x w_rank: the worst has the largest factor."""
    refs, ests = shuffled_pair(5, 2, seed=2)
    criterion = TimeDomainMSE()
    grads = {}
    for solver in (PITSolver(criterion), WeightedPITSolver(criterion)):
        leaves = [e.clone().requires_grad_() for e in ests]
        loss, _, others = solver(refs, leaves)
        loss.backward()
        grads[type(solver).__name__] = torch.stack([e.grad for e in leaves], 1)
    per_example = WeightedPITSolver(criterion).per_example_losses(refs, ests, others["perm"])
    ratio = grads["WeightedPITSolver"].flatten(1).norm(dim=1) / grads["PITSolver"].flatten(1).norm(
        dim=1
    )
    ranks = per_example.argsort().argsort()  # 0 = best
    torch.testing.assert_close(ratio, 5 * rank_weights(5)[ranks], rtol=1e-4, atol=1e-6)
    assert int(ratio.argmax()) == int(per_example.argmax())


@pytest.mark.parametrize("num_spk", [2, 3])
def test_permutation_matches_espnet_pit(num_spk):
    refs, ests = shuffled_pair(4, num_spk, seed=3)
    _, _, pit_others = PITSolver(SISNRLoss())(refs, ests)
    _, _, others = WeightedPITSolver(SISNRLoss())(refs, ests)
    assert torch.equal(others["perm"], pit_others["perm"])
    # the chosen permutation is the best of all, per example
    per_example = WeightedPITSolver(SISNRLoss()).per_example_losses(refs, ests, others["perm"])
    for b in range(4):
        candidates = [
            np.mean(
                [
                    float(SISNRLoss()(refs[s][b : b + 1], ests[t][b : b + 1]))
                    for s, t in enumerate(p)
                ]
            )
            for p in itertools.permutations(range(num_spk))
        ]
        perms = list(itertools.permutations(range(num_spk)))
        assert tuple(others["perm"][b].tolist()) == perms[int(np.argmin(candidates))]
        assert float(per_example[b]) == pytest.approx(min(candidates), abs=2e-3)


def test_inherited_permutation():
    """independent_perm=False uses the permutation of a previous wrapper, as PITSolver."""
    refs, ests = shuffled_pair(3, 2, seed=4)
    forced = torch.tensor([[1, 0], [1, 0], [1, 0]])
    solver = WeightedPITSolver(SNRLoss(), independent_perm=False)
    _, _, others = solver(refs, ests, {"perm": forced})
    assert torch.equal(torch.as_tensor(others["perm"]), forced)
    espnet = PITSolver(SNRLoss(), independent_perm=False)(refs, ests, {"perm": forced})[0]
    per_example = solver.per_example_losses(refs, ests, forced)
    torch.testing.assert_close(per_example.mean(), espnet)


def test_bad_input_gives_clear_errors():
    refs, ests = shuffled_pair(2, 2)
    solver = WeightedPITSolver(SISNRLoss())
    with pytest.raises(ValueError, match="2 references but 3 estimates"):
        solver(refs, ests + [ests[0]])
    with pytest.raises(ValueError, match="same batch size and length"):
        solver(refs, [ests[0], ests[1][:, :300]])
    with pytest.raises(ValueError, match="same batch size and length"):
        solver(refs, [ests[0], ests[1][:1]])
    with pytest.raises(ValueError, match="non-empty"):
        solver([], [])
    with pytest.raises(TypeError, match="AbsEnhLoss"):
        WeightedPITSolver("si_snr")
    with pytest.raises(TypeError, match="output_regularizer"):
        WeightedPITSolver(SourceCovarianceLoss())


def test_all_zero_reference_is_finite_with_snr():
    refs = [torch.zeros(2, 200), torch.randn(2, 200)]
    ests = [torch.randn(2, 200, requires_grad=True), torch.randn(2, 200, requires_grad=True)]
    loss, _, _ = WeightedPITSolver(SNRLoss())(refs, ests)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(e.grad).all() for e in ests)


# ----------------------------------------------------------------------------------------
# Weighted validation through ESPnet's own trainer and reporter

YAML = conv_tcn_config(num_spk=2, channel=16, layer=2, hidden_dim=16) + """\
criterions:
  - name: si_snr
    conf: {}
    wrapper: wpit
    wrapper_conf: {weight: 1.0}
"""


def build_model_and_options():
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.trainer import Trainer

    task, args = task_args(YAML)
    return task.build_model(args), Trainer.build_options(args), DistributedOption(distributed=False)


def dev_batches(sizes, seed):
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for i, size in enumerate(sizes):
        refs = torch.randn(size, 2, 480, generator=gen)
        refs[:, 1] *= torch.rand(size, 1, generator=gen) * 3  # spread of difficulty
        batch = {
            "speech_mix": refs.sum(1),
            "speech_mix_lengths": torch.full((size,), 480),
            "speech_ref1": refs[:, 0],
            "speech_ref2": refs[:, 1],
        }
        batches.append(([f"utt{i}_{j}" for j in range(size)], batch))
    return batches


def per_example_dev_losses(model, batches) -> np.ndarray:
    """Reference computation: ESPnet's PITSolver on one example at a time."""
    pit = PITSolver(SISNRLoss())
    losses = []
    model.eval()
    with torch.no_grad():
        for _, batch in batches:
            speech_pre, *_ = model.forward_enhance(
                batch["speech_mix"], batch["speech_mix_lengths"], {}
            )
            for b in range(batch["speech_mix"].shape[0]):
                refs = [batch["speech_ref1"][b : b + 1], batch["speech_ref2"][b : b + 1]]
                losses.append(float(pit(refs, [p[b : b + 1] for p in speech_pre])[0]))
    return np.array(losses)


def run_validation(model, batches, options, distributed, reporter, epoch):
    from espnet2.train.trainer import Trainer

    reporter.set_epoch(epoch)
    with reporter.observe("valid") as sub:
        Trainer.validate_one_epoch(model, iter(batches), sub, options, distributed)


def training_step(model, batch):
    model.train()
    loss, _, _ = model(**batch)
    loss.backward()


def test_weighted_validation_equals_the_dev_set_statistic():
    """ESPnet's validate_one_epoch + Reporter give the whole-dev-set rank-weighted value."""
    torch.manual_seed(0)
    model, options, distributed = build_model_and_options()
    key = set_statistic_key("si_snr_loss")
    reporter = Reporter()
    for epoch, sizes in ((1, [3, 5, 2, 4]), (2, [1, 6, 2])):
        training_step(model, dev_batches([2], seed=99)[0][1])  # a new epoch starts
        batches = dev_batches(sizes, seed=epoch)
        run_validation(model, batches, options, distributed, reporter, epoch)
        expected = rank_weighted_statistic(per_example_dev_losses(model, batches))
        assert reporter.has("valid", key)
        assert reporter.get_value("valid", key, epoch) == pytest.approx(expected, abs=1e-4)
        # the set statistic is not the mean of per-batch rank weightings
        batch_mean = reporter.get_value("valid", "si_snr_loss_weighted", epoch)
        assert batch_mean != pytest.approx(expected, abs=1e-3)
        plain = reporter.get_value("valid", "si_snr_loss", epoch)
        assert plain == pytest.approx(per_example_dev_losses(model, batches).mean(), abs=1e-4)
    assert key not in reporter.stats[1].get("train", {})
