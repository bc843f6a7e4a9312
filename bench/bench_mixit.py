"""Exhaustive vs efficient MixIT: time per call and loss gap on realistic cases.

Setting: N = 2 mixtures, batch 4 x 4 s at 16 kHz, criterion ESPnet ``si_snr`` (or
``--criterion snr``), forward without autograd unless stated, 1 thread.

Cases ("estimates near the true sources"): each mixture holds 1..M-1 synthetic
speech-like sources (band-limited noise with syllable-rate on/off envelopes, levels
within ±10 dB), at most M in all. The M estimates are the true sources in random slots
with leakage of two other sources (SIR 10..25 dB) and noise (SNR 5..25 dB); 20 % of the
sources are over-separated (split over two outputs by a smooth random time mask) while
slots remain; unused outputs hold noise 25..40 dB below the mixture-of-mixtures.

Baselines measured in this process: the exact exhaustive search
(``sepplug.enh.loss.mixing.exhaustive_mixing``: all N^M assignments scored with the
criterion, chunked, no autograd; M = 4, 8) and ESPnet's ``MixITSolver`` where it applies
(M = 4: it forces N = M/2). "matched" = the efficient per-example loss is within 0.01 dB
of the exhaustive optimum. "proj only" is the paper's plain projection (no refinement).

``--hard``: a poorly trained separator instead (SIR 0..15 dB, SNR -5..10 dB, 40 % splits).

Run: ``OMP_NUM_THREADS=1 python bench/bench_mixit.py [--cases 40] [--criterion si_snr] [--hard]``
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial

import numpy as np
import torch
from espnet2.enh.loss.criterions.time_domain import SISNRLoss, SNRLoss
from espnet2.enh.loss.wrappers.mixit_solver import MixITSolver
from tqdm import tqdm

from sepplug.enh.loss.mixing import exhaustive_mixing, remix
from sepplug.enh.loss.signals import mean_criterion
from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver

MATCH_TOLERANCE_DB = 0.01


def speech_like(rng: np.random.Generator, length: int, fs: int) -> np.ndarray:
    """Band-limited noise with a syllable-rate on/off envelope, unit RMS, ``(length,)``."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.fft.rfftfreq(length, 1.0 / fs)
    centre, width = rng.uniform(150, 3000), rng.uniform(200, 1500)
    spectrum *= np.exp(-0.5 * ((freqs - centre) / width) ** 2) + 0.05 / (1 + freqs / 500)
    signal = np.fft.irfft(spectrum, length)
    rate = rng.uniform(2, 6)  # on/off segments per second
    gates = (rng.random(int(length / fs * rate) + 2) < 0.7).astype(float)
    envelope = np.interp(np.arange(length), np.linspace(0, length, gates.size), gates)
    signal *= np.convolve(envelope, np.hanning(fs // 20), mode="same")
    return signal / (np.sqrt(np.mean(signal**2)) + 1e-12)


def db_gain(rng: np.random.Generator, low: float, high: float) -> float:
    return 10 ** (rng.uniform(low, high) / 20)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def realistic_case(
    rng: np.random.Generator,
    num_est: int,
    length: int,
    fs: int,
    num_mix: int = 2,
    hard: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One example: mixtures ``(N, T)`` and estimates ``(M, T)`` near the true sources.

    ``hard``: a poorly trained separator instead (SIR 0..15 dB, SNR -5..10 dB, 40 % splits).
    """
    sir, snr, split = ((0, 15), (-5, 10), 0.4) if hard else ((10, 25), (5, 25), 0.2)
    counts = [1] * num_mix
    for _ in range(rng.integers(0, num_est - num_mix + 1)):
        counts[rng.integers(num_mix)] += 1
    groups = [
        [speech_like(rng, length, fs) * db_gain(rng, -10, 10) for _ in range(c)] for c in counts
    ]
    mixtures = np.stack([np.sum(g, axis=0) for g in groups])
    sources = [s for g in groups for s in g]
    pieces = []
    for src in sources:
        if len(pieces) + len(sources) < num_est and rng.random() < split:
            walk = np.cumsum(rng.standard_normal(length)) / math.sqrt(length)
            mask = np.clip(walk + 0.5, 0, 1)
            pieces += [src * mask, src * (1 - mask)]
        else:
            pieces.append(src)
    estimates = np.zeros((num_est, length))
    slots = rng.permutation(num_est)
    for slot, piece in zip(slots, pieces, strict=False):
        level = rms(piece)
        others = [sources[i] for i in rng.permutation(len(sources))[:2]]
        leak = sum(o / (rms(o) + 1e-12) * level / db_gain(rng, *sir) for o in others)
        noise = rng.standard_normal(length) * level / db_gain(rng, *snr)
        estimates[slot] = piece + leak + noise
    floor = rms(mixtures.sum(axis=0))
    for slot in slots[len(pieces) :]:
        estimates[slot] = rng.standard_normal(length) * floor / db_gain(rng, 25, 40)
    return mixtures, estimates


def make_batch(
    rng: np.random.Generator, batch: int, num_est: int, length: int, fs: int, hard: bool = False
):
    """Lists of separate contiguous ``(B, T)`` tensors, as ESPnet's model passes them."""
    cases = [realistic_case(rng, num_est, length, fs, hard=hard) for _ in range(batch)]
    mixtures = torch.tensor(np.stack([c[0] for c in cases]), dtype=torch.float32)
    estimates = torch.tensor(np.stack([c[1] for c in cases]), dtype=torch.float32)
    refs = [m.contiguous() for m in mixtures.unbind(1)]
    infs = [e.contiguous() for e in estimates.unbind(1)]
    return mixtures, estimates, refs, infs


def timed(fn, repeat: int) -> tuple[float, object]:
    """Fastest wall time (ms) of ``repeat`` calls of ``fn()`` and its last result.

    The minimum is the least disturbed by other processes on a shared machine.
    """
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times), out


def forward_backward(solver, refs, estimates) -> None:
    solver(refs, estimates)[0].backward()


def gap_db(criterion, mixtures, estimates, mixing, best) -> np.ndarray:
    with torch.no_grad():
        per_example = mean_criterion(criterion, mixtures, remix(mixing, estimates))
    return (per_example - best).double().numpy()


def bench_one_m(args, rng, criterion, num_est: int) -> dict:
    length = int(args.seconds * args.fs)
    solver = EfficientMixITSolver(criterion)
    projection = EfficientMixITSolver(criterion, refine_sweeps=0)
    exhaustive = num_est <= 8
    res = {k: [] for k in ("eff", "proj", "fb", "exh", "espnet", "gap", "gap_proj")}
    for case in tqdm(range(args.cases), desc=f"M={num_est}", leave=False):
        mixtures, estimates, refs, infs = make_batch(
            rng, args.batch, num_est, length, args.fs, args.hard
        )
        with torch.no_grad():
            t_eff, (_, _, out) = timed(partial(solver, refs, infs), 3)
            t_proj, (_, _, out_proj) = timed(partial(projection, refs, infs), 3)
        res["eff"].append(t_eff)
        res["proj"].append(t_proj)
        if case < 3:
            grads = [e.clone().requires_grad_() for e in infs]
            res["fb"].append(timed(partial(forward_backward, solver, refs, grads), 3)[0])
        if not exhaustive:
            continue
        repeat = 2 if num_est == 4 and case < 3 else 1
        search = partial(exhaustive_mixing, criterion, mixtures, estimates)
        t_exh, (best, _) = timed(search, repeat)
        res["exh"].append(t_exh)
        res["gap"].append(gap_db(criterion, mixtures, estimates, out["perm"], best))
        res["gap_proj"].append(gap_db(criterion, mixtures, estimates, out_proj["perm"], best))
        if num_est == 4 and case < 3:
            espnet = MixITSolver(criterion)
            with torch.no_grad():
                # ESPnet uses ref[: M // 2]; the list must hold M refs.
                t_esp, (loss_esp, _, _) = timed(partial(espnet, refs + refs, infs), 2)
            res["espnet"].append(t_esp)
            if abs(float(loss_esp) - float(best.mean())) > 1e-3:
                raise RuntimeError(f"exhaustive {float(best.mean())} != ESPnet {float(loss_esp)}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="batches per M for the gap")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fs", type=int, default=16000)
    parser.add_argument("--criterion", choices=["si_snr", "snr"], default="si_snr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard", action="store_true", help="poorly separated estimates")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    rng = np.random.default_rng(args.seed)
    criterion = SISNRLoss() if args.criterion == "si_snr" else SNRLoss()
    results = {m: bench_one_m(args, rng, criterion, m) for m in (4, 8, 16)}

    def med(values):
        return float(np.median(values)) if values else float("nan")

    print(
        f"\nMixIT, N=2 mixtures, batch {args.batch} x {args.seconds:g} s at {args.fs} Hz, "
        f"criterion {args.criterion}, {'hard' if args.hard else 'realistic'} cases, "
        f"{args.cases} batches ({args.cases * args.batch} "
        "examples) per M, 1 thread\nms = median over batches of the fastest of 2-3 calls "
        "(exhaustive at M=8: one call per batch); speed-up = exhaustive / efficient"
    )
    print(
        f"{'M':>3} {'exhaustive':>11} {'ESPnet':>8} {'efficient':>10} {'proj only':>10} "
        f"{'eff fwd+bwd':>12} {'speed-up':>9} {'matched %':>10} {'mean gap':>9} "
        f"{'max gap':>8} {'proj matched %':>15} {'proj mean gap':>14}"
    )
    for num_est, res in results.items():
        nan = float("nan")
        gap = np.concatenate(res["gap"]) if res["gap"] else None
        gap_proj = np.concatenate(res["gap_proj"]) if res["gap_proj"] else None
        speed = med(res["exh"]) / med(res["eff"]) if gap is not None else nan
        print(
            f"{num_est:>3} {med(res['exh']):>11.1f} {med(res['espnet']):>8.1f} "
            f"{med(res['eff']):>10.2f} {med(res['proj']):>10.2f} {med(res['fb']):>12.2f} "
            f"{speed:>9.0f} "
            f"{100 * np.mean(gap <= MATCH_TOLERANCE_DB) if gap is not None else nan:>10.1f} "
            f"{gap.mean() if gap is not None else nan:>9.4f} "
            f"{gap.max() if gap is not None else nan:>8.3f} "
            f"{100 * np.mean(gap_proj <= MATCH_TOLERANCE_DB) if gap is not None else nan:>15.1f} "
            f"{gap_proj.mean() if gap is not None else nan:>14.4f}"
        )
    print(f"gaps in dB of {args.criterion} loss; matched = gap <= {MATCH_TOLERANCE_DB} dB")


if __name__ == "__main__":
    main()
