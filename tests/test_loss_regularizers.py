"""Output-set regularisers (`mixit_sparsity`, `source_covariance`, `output_regularizer`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from espnet2.enh.loss.criterions.time_domain import SISNRLoss
from espnet2.enh.loss.wrappers.pit_solver import PITSolver

from sepplug.enh.loss.criterions.mixit_sparsity import MixITSparsityLoss
from sepplug.enh.loss.criterions.source_covariance import SourceCovarianceLoss
from sepplug.enh.loss.wrappers.output_regularizer import OutputRegularizer
from tests.enh_task import conv_tcn_config, mixit_training_step, task_args

torch.set_num_threads(1)
CONF = Path(__file__).resolve().parents[1] / "egs" / "vctk" / "mixit" / "conf" / "tuning"


def signals(batch: int, num: int, length: int = 1000, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, num, length, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- sparsity


def test_l1_l2_sparsity_range_and_scale_invariance():
    loss = MixITSparsityLoss()
    mixtures = signals(2, 2)
    one_active = torch.zeros(2, 8, 1000)
    one_active[:, 3] = signals(2, 1, seed=1)[:, 0]
    all_equal = signals(2, 8, seed=2)
    torch.testing.assert_close(
        loss(mixtures, one_active), torch.full((2,), 1 / 8), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        loss(mixtures, all_equal), torch.full((2,), 1 / math.sqrt(8)), atol=2e-3, rtol=0
    )
    torch.testing.assert_close(loss(mixtures, 10 * all_equal), loss(mixtures, all_equal))
    # spreading one source over two outputs costs more than keeping it in one
    split = one_active.clone()
    split[:, 4] = 0.5 * split[:, 3]
    split[:, 3] *= 0.5
    assert (loss(mixtures, split) > loss(mixtures, one_active)).all()


def test_rms_over_mixture_variant_penalises_level():
    """Why it is not the default: it drops when every output is scaled down."""
    loss = MixITSparsityLoss(variant="rms_over_mixture")
    mixtures, outputs = signals(2, 2), signals(2, 4, seed=3)
    expected = outputs.pow(2).mean(-1).sqrt().mean(1) / mixtures.sum(1).pow(2).mean(-1).sqrt()
    torch.testing.assert_close(loss(mixtures, outputs), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss(mixtures, 0.5 * outputs), 0.5 * expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["l1_l2", "rms_over_mixture"])
def test_sparsity_is_finite_on_silence(variant):
    outputs = torch.zeros(2, 4, 500, requires_grad=True)
    value = MixITSparsityLoss(variant=variant)(torch.zeros(2, 2, 500), outputs)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(outputs.grad).all()


# --------------------------------------------------------------------------- covariance


def test_covariance_of_duplicates_and_independent_outputs():
    loss = SourceCovarianceLoss()
    base = signals(2, 3, length=4000, seed=4)
    independent = loss(base[:, :2], base)
    duplicated = torch.cat([base[:, :2], 3 * base[:, :1]], dim=1)  # output 2 = 3 x output 0
    # 3 pairs, one perfectly correlated: mean rho^2 close to 1/3
    torch.testing.assert_close(
        loss(base[:, :2], duplicated), torch.full((2,), 1 / 3), atol=2e-3, rtol=0
    )
    assert (independent < 2e-3).all()  # rho^2 ~ 1/T for independent noise
    torch.testing.assert_close(loss(base, 5 * duplicated), loss(base, duplicated))


def test_covariance_ignores_silent_outputs_and_single_output():
    loss = SourceCovarianceLoss()
    base = signals(1, 2, length=4000, seed=5)
    with_silent = torch.cat([base, 1e-6 * base[:, :1]], dim=1)  # near-silent copy
    assert float(loss(base, with_silent)) < 1e-3
    assert float(loss(base, base[:, :1])) == 0.0
    zeros = torch.zeros(1, 3, 100, requires_grad=True)
    value = loss(base[:, :, :100], zeros)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(zeros.grad).all()


# --------------------------------------------------------------------------- wrapper


def test_output_regularizer_wrapper():
    refs, outs = signals(3, 2, seed=6), signals(3, 5, seed=7)
    outs.requires_grad_(True)
    criterion = MixITSparsityLoss()
    wrapper = OutputRegularizer(criterion, weight=23.0)
    perm = torch.zeros(3, 2, 5)
    loss, stats, others = wrapper(list(refs.unbind(1)), list(outs.unbind(1)), {"perm": perm})
    torch.testing.assert_close(loss, criterion(refs, outs).mean())
    assert set(stats) == {"mixit_sparsity"} and wrapper.weight == 23.0
    assert others["perm"] is perm
    loss.backward()
    assert torch.isfinite(outs.grad).all()


def test_bad_input_gives_clear_errors():
    refs, outs = list(signals(2, 2).unbind(1)), list(signals(2, 4).unbind(1))
    with pytest.raises(TypeError, match="set criterion"):
        OutputRegularizer(SISNRLoss())
    wrapper = OutputRegularizer(SourceCovarianceLoss())
    with pytest.raises(ValueError, match="lengths must match"):
        wrapper(refs, [o[:, :900] for o in outs])
    with pytest.raises(ValueError, match="batch size"):
        wrapper(refs, [o[:1] for o in outs])
    with pytest.raises(ValueError, match="inf\\[2\\] has shape"):
        wrapper(refs, outs[:2] + [outs[2][:, :10]] + outs[3:])
    # a set criterion under a pairwise wrapper fails with a pointer to the right one
    with pytest.raises(ValueError, match="output_regularizer"):
        PITSolver(MixITSparsityLoss())(refs, outs[:2])
    with pytest.raises(ValueError, match="variant"):
        MixITSparsityLoss(variant="l0")


# --------------------------------------------------------------------------- ESPnet model


def test_sparse_m8_yaml_trains_one_step():
    """ESPnet's MixIT convention: speech_ref1..N are mixtures, speech_mix their sum."""
    torch.manual_seed(0)
    task, args = task_args((CONF / "train_enh_mixit_sparse_m8.yaml").read_text())
    model = task.build_model(args)
    assert [type(w).__name__ for w in model.loss_wrappers] == [
        "EfficientMixITSolver",
        "OutputRegularizer",
        "OutputRegularizer",
    ]
    mixtures = torch.randn(2, 2, 1600)
    mixtures[0] = 0.0  # an all-zero mixture of mixtures must not give NaN
    stats = mixit_training_step(model, mixtures)
    weighted = stats["snr_loss"] + 23.0 * stats["mixit_sparsity"] + 2.0 * stats["source_covariance"]
    torch.testing.assert_close(stats["loss"], weighted)


BASE = conv_tcn_config(num_spk=4, channel=8, layer=1, hidden_dim=8) + """\
model_conf: {flexible_numspk: true}
"""


def test_criterion_names_must_be_unique_and_known():
    twice = (
        BASE
        + """
criterions:
  - {name: snr, conf: {}, wrapper: mixit_efficient, wrapper_conf: {}}
  - {name: mixit_sparsity, conf: {}, wrapper: output_regularizer, wrapper_conf: {weight: 1.0}}
  - {name: mixit_sparsity, conf: {variant: rms_over_mixture}, wrapper: output_regularizer,
     wrapper_conf: {weight: 1.0}}
"""
    )
    task, args = task_args(twice)
    with pytest.raises(ValueError, match="Duplicated loss names"):
        task.build_model(args)
    args.criterions[2]["conf"]["name"] = "sparsity_rms"
    model = task.build_model(args)
    assert [w.criterion.name for w in model.loss_wrappers][1:] == ["mixit_sparsity", "sparsity_rms"]
    task, args = task_args(
        BASE + "criterions: [{name: no_such_loss, conf: {}, wrapper: pit, wrapper_conf: {}}]"
    )
    with pytest.raises(ValueError, match="no_such_loss"):
        task.build_model(args)
