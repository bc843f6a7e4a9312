"""Efficient MixIT (`mixit_efficient`) against exhaustive search and ESPnet's MixITSolver."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from espnet2.enh.loss.criterions.tf_domain import FrequencyDomainL1
from espnet2.enh.loss.criterions.time_domain import SISNRLoss, SNRLoss
from espnet2.enh.loss.wrappers.mixit_solver import MixITSolver

from sepplug.enh.loss.criterions.mixit_sparsity import MixITSparsityLoss
from sepplug.enh.loss.mixing import (
    all_mixing_matrices,
    exhaustive_mixing,
    least_squares_mixing,
    refine_mixing,
    remix,
    remix_losses,
    second_order_stats,
)
from sepplug.enh.loss.signals import mean_criterion
from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver
from tests.enh_task import build_model, mixit_training_step

torch.set_num_threads(1)
CONF = Path(__file__).resolve().parents[1] / "egs" / "vctk" / "mixit" / "conf" / "tuning"
FS, LENGTH = 8000, 4000  # 0.5 s keeps the exhaustive searches fast


def speech_like(rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise with on/off syllable gates, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(LENGTH))
    freqs = np.fft.rfftfreq(LENGTH, 1 / FS)
    spectrum *= np.exp(-0.5 * ((freqs - rng.uniform(150, 2500)) / rng.uniform(200, 1200)) ** 2)
    signal = np.fft.irfft(spectrum, LENGTH)
    gates = np.repeat(rng.random(8) < 0.7, LENGTH // 8 + 1)[:LENGTH].astype(float)
    signal *= np.convolve(gates, np.hanning(200), mode="same") + 0.05
    return signal / np.sqrt(np.mean(signal**2))


def realistic_batch(rng: np.random.Generator, batch: int, num_est: int, num_mix: int = 2):
    """Mixtures (B, N, T) and estimates (B, M, T) near the true sources.

    Each estimate is one true source (or half of an over-separated one) with leakage
    (SIR 10..25 dB) and noise (SNR 5..25 dB); unused outputs hold low-level noise.
    """
    mixtures, estimates = [], []
    for _ in range(batch):
        counts = [1] * num_mix
        for _ in range(rng.integers(0, num_est - num_mix + 1)):
            counts[rng.integers(num_mix)] += 1
        gain = lambda: 10 ** rng.uniform(-0.5, 0.5)  # noqa: E731  (±10 dB)
        groups = [[speech_like(rng) * gain() for _ in range(c)] for c in counts]
        sources = [s for g in groups for s in g]
        pieces = []
        for src in sources:
            if len(pieces) + len(sources) < num_est and rng.random() < 0.2:
                mask = np.clip(np.cumsum(rng.standard_normal(LENGTH)) / LENGTH**0.5 + 0.5, 0, 1)
                pieces += [src * mask, src * (1 - mask)]
            else:
                pieces.append(src)
        mix = np.stack([np.sum(g, axis=0) for g in groups])
        est = np.zeros((num_est, LENGTH))
        slots = rng.permutation(num_est)
        for slot, piece in zip(slots, pieces, strict=False):
            level = np.sqrt(np.mean(piece**2))
            leak = sources[rng.integers(len(sources))] * level * 10 ** (-rng.uniform(10, 25) / 20)
            noise = rng.standard_normal(LENGTH) * level * 10 ** (-rng.uniform(5, 25) / 20)
            est[slot] = piece + leak + noise
        floor = np.sqrt(np.mean(mix.sum(0) ** 2))
        for slot in slots[len(pieces) :]:
            est[slot] = rng.standard_normal(LENGTH) * floor * 10 ** (-rng.uniform(25, 40) / 20)
        mixtures.append(mix)
        estimates.append(est)
    as_tensor = lambda x: torch.tensor(np.stack(x), dtype=torch.float32)  # noqa: E731
    return as_tensor(mixtures), as_tensor(estimates)


def as_lists(mixtures: torch.Tensor, estimates: torch.Tensor):
    return list(mixtures.unbind(1)), list(estimates.unbind(1))


def test_exhaustive_search_equals_espnet_mixit():
    rng = np.random.default_rng(0)
    mixtures, estimates = realistic_batch(rng, 3, 4)
    criterion = SISNRLoss()
    best, mixing = exhaustive_mixing(criterion, mixtures, estimates, max_chunk_elements=5000)
    refs, infs = as_lists(mixtures, estimates)
    loss_espnet, _, others = MixITSolver(criterion)(refs + refs, infs)  # it uses ref[:M//2]
    torch.testing.assert_close(best.mean(), loss_espnet, rtol=0, atol=1e-4)
    assert torch.equal(mixing, others["perm"].long())


@pytest.mark.parametrize("criterion", [SISNRLoss(), SNRLoss()], ids=["si_snr", "snr"])
def test_closed_form_losses_equal_the_criterion(criterion):
    """The refinement's objective is the criterion itself, computed from inner products.

    Checked on all 2^5 assignments. Where one remix is hopeless (a mixture rebuilt from
    noise only, |loss| > 60 dB) the float32 inner products lose precision; such
    candidates never compete, so they are excluded from the value check.
    """
    rng = np.random.default_rng(1)
    mixtures, estimates = realistic_batch(rng, 2, 5)
    objective = "si_snr" if isinstance(criterion, SISNRLoss) else "snr"
    stats = second_order_stats(torch.cat([estimates, mixtures], 1), 5, objective == "si_snr")
    candidates = all_mixing_matrices(2, 5)  # (K, N, M)
    closed = remix_losses(stats, candidates.expand(2, -1, -1, -1), objective)  # (B, K)
    per_mixture = []  # (B, K, N) straight from the criterion
    for mixing in candidates:
        remixed = remix(mixing.expand(2, -1, -1), estimates)
        per_mixture.append(
            torch.stack([criterion(mixtures[:, n], remixed[:, n]) for n in (0, 1)], 1)
        )
    per_mixture = torch.stack(per_mixture, dim=1)
    direct = per_mixture.mean(dim=2)
    sane = (per_mixture.abs() < 60).all(dim=2)
    assert sane.float().mean() > 0.5
    torch.testing.assert_close(closed.float()[sane], direct[sane], rtol=1e-4, atol=1e-3)
    assert torch.equal(closed.argmin(dim=1), direct.argmin(dim=1))


@pytest.mark.parametrize("objective", ["si_snr", "snr"])
def test_refinement_takes_the_best_move_of_up_to_two_estimates(objective):
    """The closed-form move scores equal a brute-force rescoring of every move."""
    rng = np.random.default_rng(2)
    num_est, num_mix = 5, 3
    mixtures, estimates = realistic_batch(rng, 4, num_est, num_mix=num_mix)
    stats = second_order_stats(torch.cat([estimates, mixtures], 1), num_est, objective == "si_snr")
    owner = torch.arange(num_est).repeat(4, 1) % num_mix
    mixing = torch.nn.functional.one_hot(owner, num_mix).transpose(1, 2)
    for _ in range(3):
        # reference: every matrix at most two reassignments away, best kept if it improves
        moves = []
        for m1, q1, m2, q2 in itertools.product(range(num_est), range(num_mix), repeat=2):
            moved = mixing.clone()
            for m, q in ((m1, q1), (m2, q2)):
                moved[:, :, m] = 0
                moved[:, q, m] = 1
            moves.append(moved)
        moves = torch.stack(moves, 1)  # (B, K, N, M)
        scores = remix_losses(stats, moves, objective)
        current = remix_losses(stats, mixing.unsqueeze(1), objective)[:, 0]
        best, index = scores.min(dim=1)
        improves = best < current - 1e-6
        mixing_next = refine_mixing(stats, mixing, objective, max_sweeps=1)
        assert improves.any()
        reached = remix_losses(stats, mixing_next.unsqueeze(1), objective)[:, 0]
        torch.testing.assert_close(reached, torch.where(improves, best, current))
        mixing = mixing_next


@pytest.mark.parametrize("num_mix,num_est", [(2, 2), (2, 5), (3, 6), (4, 7)])
def test_projection_recovers_exact_sources(num_mix, num_est):
    """Clean sources in shuffled slots: the plain least-squares projection is exact."""
    gen = torch.Generator().manual_seed(num_mix * 10 + num_est)
    sources = torch.randn(3, num_est, 500, generator=gen)
    owner = torch.stack([torch.randperm(num_est, generator=gen) % num_mix for _ in range(3)])
    truth = torch.nn.functional.one_hot(owner, num_mix).transpose(1, 2)  # (B, N, M)
    mixtures = remix(truth, sources)
    stats = second_order_stats(torch.cat([sources, mixtures], 1), num_est, zero_mean=False)
    assert torch.equal(least_squares_mixing(stats), truth)
    solver = EfficientMixITSolver(SNRLoss(), refine_sweeps=0)
    loss, _, others = solver(*as_lists(mixtures, sources))
    assert torch.equal(others["perm"], truth)
    assert float(loss) < -60  # perfect remix


@pytest.mark.parametrize("num_est", [4, 6])
def test_efficient_matches_exhaustive_on_realistic_cases(num_est):
    rng = np.random.default_rng(num_est)
    criterion = SISNRLoss()
    solver = EfficientMixITSolver(criterion)
    plain = EfficientMixITSolver(criterion, refine_sweeps=0)
    gaps, plain_gaps = [], []
    for _ in range(10):
        mixtures, estimates = realistic_batch(rng, 4, num_est)
        best, _ = exhaustive_mixing(criterion, mixtures, estimates)
        for wrapper, sink in ((solver, gaps), (plain, plain_gaps)):
            mixing = wrapper(*as_lists(mixtures, estimates))[2]["perm"]
            per_example = mean_criterion(criterion, mixtures, remix(mixing, estimates))
            sink.append(per_example - best)
    gaps, plain_gaps = torch.cat(gaps), torch.cat(plain_gaps)
    assert (gaps > -1e-3).all()  # the exhaustive search is the optimum
    assert (gaps <= 0.01).float().mean() >= 0.95, gaps
    assert gaps.mean() <= plain_gaps.mean() + 1e-6
    assert (plain_gaps > 0.01).any()  # the cases are hard enough for the plain projection


def test_efficient_equals_espnet_mixit_where_both_apply():
    rng = np.random.default_rng(7)
    criterion = SISNRLoss()
    for _ in range(4):
        mixtures, estimates = realistic_batch(rng, 4, 4)
        refs, infs = as_lists(mixtures, estimates)
        ours, stats, _ = EfficientMixITSolver(criterion)(refs, infs)
        espnet, _, _ = MixITSolver(criterion)(refs + refs, infs)
        torch.testing.assert_close(ours, espnet, rtol=0, atol=1e-3)
        assert set(stats) == {"si_snr_loss"}
    exact = EfficientMixITSolver(criterion, exhaustive_up_to=4)(refs, infs)[0]
    torch.testing.assert_close(exact, espnet, rtol=0, atol=1e-5)


def test_general_shapes_and_gradient():
    rng = np.random.default_rng(3)
    mixtures, estimates = realistic_batch(rng, 2, 7, num_mix=3)
    estimates.requires_grad_(True)
    loss, _, others = EfficientMixITSolver(SNRLoss())(*as_lists(mixtures, estimates))
    loss.backward()
    mixing = others["perm"]
    assert mixing.shape == (2, 3, 7)
    assert torch.equal(mixing.sum(1), torch.ones(2, 7, dtype=mixing.dtype))
    assert torch.isfinite(estimates.grad).all() and estimates.grad.abs().sum() > 0


def test_num_mixtures_uses_leading_refs():
    rng = np.random.default_rng(4)
    mixtures, estimates = realistic_batch(rng, 2, 4)
    refs, infs = as_lists(mixtures, estimates)
    padded = refs + [torch.zeros_like(refs[0])] * 2
    loss = EfficientMixITSolver(SISNRLoss(), num_mixtures=2)(padded, infs)[0]
    torch.testing.assert_close(loss, EfficientMixITSolver(SISNRLoss())(refs, infs)[0])


@pytest.mark.parametrize(
    "criterion", [SNRLoss(), SISNRLoss(clamp_db=50)], ids=["snr", "si_snr_clamped"]
)
def test_all_zero_mixture_stays_finite(criterion):
    mixtures = torch.zeros(2, 2, 800)
    mixtures[1] = torch.randn(2, 800)  # example 0: both mixtures silent
    estimates = torch.zeros(2, 4, 800, requires_grad=True)
    with torch.no_grad():
        estimates[1] = torch.randn(4, 800)
    loss, _, _ = EfficientMixITSolver(criterion)(*as_lists(mixtures, estimates))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(estimates.grad).all()


@pytest.mark.parametrize("refine_sweeps", [0, 16])
def test_no_mixture_is_left_empty_with_si_snr(refine_sweeps):
    """Every estimate looks like mixture 0: the projection would leave mixture 1 empty."""
    gen = torch.Generator().manual_seed(5)
    sources = torch.randn(2, 3, 800, generator=gen)
    mixtures = torch.stack([sources[:, 0] + sources[:, 1], 0.01 * sources[:, 2]], dim=1)
    estimates = torch.stack([sources[:, 0], sources[:, 1], sources[:, 0] + 0.1 * sources[:, 1]], 1)
    estimates = estimates + 0.01 * torch.randn(estimates.shape, generator=gen)  # SI-SNR < inf
    solver = EfficientMixITSolver(SISNRLoss(), refine_sweeps=refine_sweeps)
    loss, _, others = solver(*as_lists(mixtures, estimates))
    assert torch.isfinite(loss)
    assert (others["perm"].sum(dim=2) > 0).all()


def test_bad_input_gives_clear_errors():
    solver = EfficientMixITSolver(SISNRLoss())
    refs = [torch.randn(2, 100), torch.randn(2, 100)]
    with pytest.raises(ValueError, match="M >= N"):
        solver(refs, [torch.randn(2, 100)])
    with pytest.raises(ValueError, match="batch size and length"):
        solver(refs, [torch.randn(2, 90)] * 3)
    with pytest.raises(ValueError, match=r"inf\[1\] has shape"):
        solver(refs, [torch.randn(2, 100), torch.randn(3, 100), torch.randn(2, 100)])
    with pytest.raises(ValueError, match="non-empty"):
        solver(refs, [])
    with pytest.raises(TypeError, match="only real"):
        solver(refs, [torch.randn(2, 100, dtype=torch.complex64)] * 2)
    with pytest.raises(ValueError, match="num_mixtures=3"):
        EfficientMixITSolver(SISNRLoss(), num_mixtures=3)(refs, [torch.randn(2, 100)] * 4)
    with pytest.raises(TypeError, match="AbsEnhLoss"):
        EfficientMixITSolver(torch.nn.MSELoss())
    with pytest.raises(TypeError, match="frequency-domain"):
        EfficientMixITSolver(FrequencyDomainL1())
    with pytest.raises(TypeError, match="output_regularizer"):
        EfficientMixITSolver(MixITSparsityLoss())
    with pytest.raises(ValueError, match="refine_objective"):
        EfficientMixITSolver(SISNRLoss(), refine_objective="sdr")


def test_yaml_m4_model_trains_one_step():
    """ESPnet's MixIT convention: speech_ref1..N are mixtures, speech_mix their sum."""
    torch.manual_seed(0)
    model = build_model((CONF / "train_enh_mixit_m4.yaml").read_text())
    assert type(model.loss_wrappers[0]).__name__ == "EfficientMixITSolver"
    stats = mixit_training_step(model, torch.randn(2, 2, 1600))
    assert "snr_loss" in stats
