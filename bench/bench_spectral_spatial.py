"""Benchmark of the training step of the 6-ch ``spectral_spatial`` separator (not a test).

The FEABASE recipe compares a 6-ch model with the 1-ch timbre-only one at one budget, so the
6-ch step must cost about what the 1-ch step does. This times one training step (STFT
encoder, separator, backward, Adam) of batch 4 x 2 s at 8 kHz, interleaved so that load
from other processes hits every variant alike, for:

- baseline: ESPnet's stock ``rnn`` separator on one mic (2 x 256 BLSTM, hop 64), the
  recipe's 1-ch model;
- ``spectral_spatial`` with the recipe's config (64-d projection of the cos / sin IPDs of
  5 mics, hop 64) and the variants the issue asked to measure: no projection (the raw
  1290 inter-mic values), IPD + ILD, hop 128, a 2 x 128 BLSTM, 2 of the 5 mic pairs
  (``--mics 3``: the 3-mic model, which has 2 pairs).

It prints each median and its ratio to the baseline. One thread, as the recipes train.

Run: ``python3 bench/bench_spectral_spatial.py [--repeats 8]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from espnet2.enh.encoder.stft_encoder import STFTEncoder
from espnet2.enh.separator.rnn_separator import RNNSeparator

from sepplug.enh.separator.spectral_spatial import SpectralSpatialSeparator

BATCH, SAMPLES, N_FFT = 4, 16000, 256
F = N_FFT // 2 + 1


def make_step(separator: torch.nn.Module, hop: int, mics: int) -> Callable[[], None]:
    """One optimiser step of ``separator`` on a random (B, T[, C]) batch."""
    encoder = STFTEncoder(N_FFT, hop_length=hop)
    shape = (BATCH, SAMPLES, mics) if mics > 1 else (BATCH, SAMPLES)
    mixture = torch.randn(*shape)
    lengths = torch.full((BATCH,), SAMPLES)
    optimizer = torch.optim.Adam(separator.parameters(), lr=1e-3)

    def step() -> None:
        spec, flens = encoder(mixture, lengths)
        sources, _, _ = separator(spec, flens)
        loss = sum(s.abs().mean() for s in sources)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def variants() -> dict[str, Callable[[], None]]:
    ss = SpectralSpatialSeparator
    return {
        "baseline: 1-ch rnn, hop 64": make_step(
            RNNSeparator(F, num_spk=2, layer=2, unit=256, nonlinear="sigmoid"), 64, 1),
        "spectral_spatial (recipe: proj 64, hop 64)": make_step(ss(F), 64, 6),
        "  no projection (raw 1290 values)": make_step(ss(F, spatial_proj_dim=0), 64, 6),
        "  ipd+ild": make_step(ss(F, spatial_feature="ipd+ild"), 64, 6),
        "  hop 128": make_step(ss(F), 128, 6),
        "  BLSTM 2 x 128": make_step(ss(F, unit=128), 64, 6),
        "  3 mics (2 pairs)": make_step(ss(F, num_mics=3), 64, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    steps = variants()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:45s} {median:6.3f} s/step  x{median / base:4.2f}")


if __name__ == "__main__":
    main()
