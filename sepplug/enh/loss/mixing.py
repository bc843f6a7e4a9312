"""MixIT assignments: mixing matrices, exhaustive search, projected least squares.

Shapes: ``B`` batch, ``N`` reference signals (mixtures in MixIT), ``M`` estimates,
``L`` flattened signal length (``T`` for time-domain signals).

A *mixing matrix* is a binary ``(N, M)`` matrix with exactly one 1 per column: estimate
``m`` is added to mixture ``n`` where ``A[n, m] = 1`` (ESPnet's ``MixITSolver`` returns
the same kind of matrix as its ``perm``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from sepplug.enh.loss.signals import CriterionFn


def one_hot_mixing(assignment: torch.Tensor, num_mixtures: int) -> torch.Tensor:
    """``(..., M)`` mixture index per estimate -> ``(..., N, M)`` binary mixing matrix."""
    return torch.nn.functional.one_hot(assignment, num_mixtures).transpose(-1, -2)


def all_mixing_matrices(
    num_mixtures: int, num_estimates: int, device: torch.device | None = None
) -> torch.Tensor:
    """Every binary mixing matrix, ``(N**M, N, M)`` int64, in ESPnet's MixIT order."""
    assignments = torch.tensor(
        list(itertools.product(range(num_mixtures), repeat=num_estimates)),
        dtype=torch.long,
        device=device,
    ).reshape(-1, num_estimates)
    return one_hot_mixing(assignments, num_mixtures)


def remix(mixing: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
    """Sum estimates into mixtures: ``(B, N, M)`` x ``(B, M, ...)`` -> ``(B, N, ...)``."""
    batch, num_est = estimates.shape[:2]
    flat = estimates.reshape(batch, num_est, -1)
    mixed = torch.bmm(mixing.to(flat.dtype), flat)
    return mixed.reshape(batch, mixing.shape[1], *estimates.shape[2:])


@dataclass
class SecondOrderStats:
    """Inner products that determine SNR-type losses of every remix, in float64.

    For a remix ``ŝ_n = Σ_m A[n, m] e_m``: ``<ŝ_n, r_n> = Σ_m A[n, m] cross[m, n]`` and
    ``‖ŝ_n‖² = A[n] gram A[n]ᵀ``, so assignments can be compared without touching the
    ``L`` samples again.

    The sums over the samples run in the input dtype (float32: a relative error of about
    1e-6 of ``‖e‖ ‖r‖``), so closed-form losses match the criterion to ~1e-3 dB for remixes
    within ±60 dB of their mixture; hopeless remixes are less exact but never compete.

    Attributes:
        gram: ``(B, M, M)`` ``<e_m, e_k>``.
        cross: ``(B, M, N)`` ``<e_m, r_n>``.
        ref_energy: ``(B, N)`` ``‖r_n‖²``.
    """

    gram: torch.Tensor
    cross: torch.Tensor
    ref_energy: torch.Tensor


def second_order_stats(signals: torch.Tensor, num_est: int, zero_mean: bool) -> SecondOrderStats:
    """Stats of ``signals`` ``(B, M + N, ...)`` = estimates then mixtures (one stacked tensor).

    One ``(M + N)²`` product over the samples gives both the estimates' Gram matrix and
    their correlation with the mixtures. ``zero_mean`` removes each signal's mean first
    (as ESPnet's ``si_snr`` does), through the sums rather than a centred copy.
    """
    with torch.no_grad():
        flat = signals.reshape(signals.shape[0], signals.shape[1], -1)
        full = torch.bmm(flat, flat.transpose(1, 2)).double()  # (B, M+N, M+N)
        if zero_mean:
            sums = flat.sum(dim=2).double()
            full = full - sums.unsqueeze(2) * sums.unsqueeze(1) / flat.shape[2]
        return SecondOrderStats(
            gram=full[:, :num_est, :num_est],
            cross=full[:, :num_est, num_est:],
            ref_energy=full[:, num_est:, num_est:].diagonal(dim1=1, dim2=2),
        )


def least_squares_mixing(
    stats: SecondOrderStats, diag_loading: float = 1e-3, fill_empty: bool = False
) -> torch.Tensor:
    """Efficient MixIT assignment (Wisdom et al., 2021): projected least squares.

    Solves ``A = (EᵀE + λI)⁻¹ EᵀR`` per example, with ``E`` the ``(L, M)`` estimates and
    ``R`` the ``(L, N)`` mixtures, then gives each estimate to the mixture with the largest
    coefficient (the projection of ``A`` onto one-hot columns).

    ``λ = diag_loading x mean(diag(EᵀE))`` (+ a tiny floor): relative loading makes the
    assignment independent of the signal level (the papers' fixed 1e-3 assumes
    normalised signals) and keeps all-zero estimates solvable (they go to mixture 0).

    Args:
        stats: from :func:`second_order_stats`.
        diag_loading: relative diagonal loading ``λ``.
        fill_empty: give every mixture at least one estimate (needs ``M >= N``): a
            scale-invariant criterion is infinite for a mixture remixed from nothing.
            The estimate with the largest coefficient for the empty mixture moves there,
            taken from a mixture that keeps at least one.

    Returns:
        ``(B, N, M)`` int64 binary mixing matrix.
    """
    gram, cross = stats.gram, stats.cross
    num_mix = cross.shape[2]
    load = diag_loading * gram.diagonal(dim1=1, dim2=2).mean(dim=1) + 1e-12  # (B,)
    eye = torch.eye(gram.shape[1], dtype=gram.dtype, device=gram.device)
    coeffs = torch.linalg.solve(gram + load[:, None, None] * eye, cross)  # (B, M, N)
    assignment = coeffs.argmax(dim=2)  # (B, M)
    if fill_empty:
        for mix in range(num_mix):
            counts = one_hot_mixing(assignment, num_mix).sum(dim=2)  # (B, N)
            empty = counts[:, mix] == 0
            if not bool(empty.any()):
                continue
            donor = counts.gather(1, assignment) > 1  # (B, M): its mixture keeps others
            score = coeffs[:, :, mix].masked_fill(~donor, float("-inf"))
            moved = score.argmax(dim=1)  # (B,)
            rows = empty.nonzero().squeeze(1)
            assignment[rows, moved[rows]] = mix
    return one_hot_mixing(assignment, num_mix)


#: stands for the infinite SI-SNR loss of an empty remix; finite so that sums of
#: per-mixture losses stay comparable (inf - inf would be NaN)
EMPTY_REMIX_LOSS = 1e6


def mixture_losses(
    inner: torch.Tensor,
    energy: torch.Tensor,
    ref_energy: torch.Tensor,
    empty: torch.Tensor,
    objective: str,
) -> torch.Tensor:
    """Per-mixture closed-form loss in dB (lower is better); all inputs broadcast.

    Args:
        inner: ``<ŝ, r>``.
        energy: ``‖ŝ‖²``.
        ref_energy: ``‖r‖²``.
        empty: True where no estimate is assigned to the mixture.
        objective: ``"snr"`` (``10 log10 ‖r - ŝ‖² / ‖r‖²``) or ``"si_snr"`` (negative
            scale-invariant SNR; :data:`EMPTY_REMIX_LOSS` for an empty remix, whose
            ESPnet ``si_snr`` is infinite).
    """
    floor = 1e-12 * ref_energy + 1e-30
    if objective == "snr":
        error = (ref_energy - 2 * inner + energy).clamp(min=0)
        return 10 * torch.log10((error + floor) / (ref_energy + floor))
    if objective == "si_snr":
        target = inner.pow(2) / (ref_energy + floor)
        distortion = (energy - target).clamp(min=0)
        loss = 10 * torch.log10((distortion + floor) / (target + floor))
        return loss.masked_fill(empty, EMPTY_REMIX_LOSS)
    raise ValueError(f"unknown objective {objective!r}; use 'snr' or 'si_snr'")


def remix_losses(stats: SecondOrderStats, mixing: torch.Tensor, objective: str) -> torch.Tensor:
    """Closed-form loss of candidate mixing matrices ``(B, K, N, M)`` -> ``(B, K)``.

    Mean over the ``N`` mixtures of :func:`mixture_losses`, i.e. the value of the
    criterion (``snr`` or ``si_snr``) on the remix, without touching the samples.
    """
    mixing = mixing.to(stats.gram.dtype)
    inner = (mixing * stats.cross.transpose(1, 2).unsqueeze(1)).sum(dim=3)  # (B, K, N)
    energy = (torch.matmul(mixing, stats.gram.unsqueeze(1)) * mixing).sum(dim=3)
    empty = mixing.sum(dim=3) == 0
    return mixture_losses(inner, energy, stats.ref_energy.unsqueeze(1), empty, objective).mean(
        dim=2
    )


def refine_mixing(
    stats: SecondOrderStats, mixing: torch.Tensor, objective: str, max_sweeps: int
) -> torch.Tensor:
    """Local search from ``mixing`` ``(B, N, M)``: move up to two estimates at a time.

    Each sweep scores, per example, every reassignment of one or two estimates
    (``m -> q`` and ``m' -> q'``; ``(M N)²`` candidates, which include all single moves,
    swaps, and joint moves such as both halves of an over-separated source) and applies
    the best one if it lowers the loss; stops when nothing improves. Pairs matter: a
    source split over two outputs often only improves when both outputs move.

    Closed form: moving estimates changes the mixing row ``a_n`` by
    ``d_n = α e_m + β e_m'`` (``α, β ∈ {-1, 0, 1}``), hence
    ``<ŝ_n, r_n> += d_nᵀ C[:, n]`` and ``‖ŝ_n‖² += 2 d_nᵀ G a_n + d_nᵀ G d_n``: a sweep
    costs ``O(B M² N³)`` on the inner products and no pass over the samples.
    """
    batch, num_mix, num_est = mixing.shape
    gram, dtype = stats.gram, stats.gram.dtype
    cross = stats.cross  # (B, M, N)
    ref_energy = stats.ref_energy  # (B, N)
    gram_diag = gram.diagonal(dim1=1, dim2=2)  # (B, M)
    eye_mix = torch.eye(num_mix, dtype=dtype, device=gram.device)
    same_estimate = torch.eye(num_est, dtype=torch.bool, device=gram.device)
    batch_index = torch.arange(batch, device=mixing.device)
    mixing = mixing.clone()

    # Dimensions of the candidate tensors: (B, m, q, m', q', n).
    def first(x: torch.Tensor) -> torch.Tensor:  # (B, M, N) indexed by m
        return x[:, :, None, None, None, :]

    def second(x: torch.Tensor) -> torch.Tensor:  # (B, M, N) indexed by m'
        return x[:, None, None, :, None, :]

    def per_mixture(x: torch.Tensor) -> torch.Tensor:  # (B, N)
        return x[:, None, None, None, None, :]

    for _ in range(max_sweeps):
        weights = mixing.to(dtype)
        counts = weights.sum(dim=2)  # (B, N)
        inner = (weights * cross.transpose(1, 2)).sum(dim=2)  # (B, N)
        gram_row = torch.bmm(weights, gram).transpose(1, 2)  # (B, M, N): (G a_n)[m]
        energy = (gram_row.transpose(1, 2) * weights).sum(dim=2)  # (B, N)
        current = mixture_losses(inner, energy, ref_energy, counts == 0, objective)  # (B, N)
        # alpha[b, m, q, n] = [q == n] - [owner(m) == n]
        alpha = eye_mix[None, None] - weights.transpose(1, 2)[:, :, None, :]  # (B, M, Q, N)
        a1, a2 = alpha[:, :, :, None, None, :], alpha[:, None, None, :, :, :]
        new_inner = per_mixture(inner) + a1 * first(cross) + a2 * second(cross)
        new_energy = (
            per_mixture(energy)
            + 2 * a1 * first(gram_row)
            + 2 * a2 * second(gram_row)
            + a1.pow(2) * gram_diag[:, :, None, None, None, None]
            + a2.pow(2) * gram_diag[:, None, None, :, None, None]
            + 2 * a1 * a2 * gram[:, :, None, :, None, None]
        )
        new_empty = (per_mixture(counts) + a1 + a2) == 0
        losses = mixture_losses(
            new_inner, new_energy, per_mixture(ref_energy), new_empty, objective
        ).sum(dim=5)  # (B, M, Q, M', Q')
        losses = losses.masked_fill(same_estimate[None, :, None, :, None], float("inf"))
        best, flat_index = losses.flatten(1).min(dim=1)
        improved = best < current.sum(dim=1) - 1e-9
        if not bool(improved.any()):
            break
        index = torch.unravel_index(flat_index, losses.shape[1:])
        rows = batch_index[improved]
        for moved, target in ((index[0], index[1]), (index[2], index[3])):
            mixing[rows, :, moved[improved]] = 0
            mixing[rows, target[improved], moved[improved]] = 1
    return mixing


def exhaustive_mixing(
    criterion: CriterionFn,
    mixtures: torch.Tensor,
    estimates: torch.Tensor,
    max_chunk_elements: int = 2**24,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact MixIT assignment: try all ``N**M`` mixing matrices with the criterion.

    Unlike ESPnet's ``MixITSolver`` (one ``(N**M, B, N, T)`` tensor, N forced to M/2),
    remixes are built in chunks of at most ``max_chunk_elements`` samples and scored
    without autograd, for any ``N`` and ``M``. Cost: ``N**M x N`` criterion calls on
    ``(B, ...)``, like ESPnet's.

    Args:
        criterion: ESPnet criterion, ``(ref (B, ...), est (B, ...)) -> (B,)``.
        mixtures: ``(B, N, ...)``.
        estimates: ``(B, M, ...)``.
        max_chunk_elements: memory bound of one chunk of remixes.

    Returns:
        ``(best_loss (B,), mixing (B, N, M) int64)``; ``best_loss`` carries no gradient.
    """
    batch, num_mix = mixtures.shape[:2]
    num_est = estimates.shape[1]
    candidates = all_mixing_matrices(num_mix, num_est, estimates.device)  # (K, N, M)
    per_candidate = batch * num_mix * max(1, mixtures[0, 0].numel())
    chunk = max(1, max_chunk_elements // per_candidate)
    losses = []
    with torch.no_grad():
        refs = [mixtures[:, n].contiguous() for n in range(num_mix)]
        est = estimates.reshape(batch, num_est, -1)
        for start in range(0, candidates.shape[0], chunk):
            cand = candidates[start : start + chunk].to(est.dtype)  # (k, N, M)
            mixed = torch.einsum("knm,bml->knbl", cand, est)  # (k, N, B, L)
            mixed = mixed.reshape(*mixed.shape[:3], *mixtures.shape[2:])
            for remixed in mixed:  # (N, B, ...) of one candidate
                per_mix = [criterion(refs[n], remixed[n]) for n in range(num_mix)]
                losses.append(torch.stack(per_mix).mean(dim=0))
    # NaN never wins (treated as +inf), so a degenerate candidate cannot be picked.
    losses = torch.nan_to_num(torch.stack(losses).float(), nan=float("inf"))  # (K, B)
    best_loss, best_index = losses.min(dim=0)
    return best_loss, candidates[best_index]
