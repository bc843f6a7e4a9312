"""Benchmark of the data side: embedded-corpus synthesis and SpatialVCTK simulation speed.

    python bench/bench_simulation.py [--n 200] [--nj 2] [--fs 16000] [--segment 4.0]

Prints corpus generation time (and how much faster than real time), simulation throughput
(mixtures/s, 6 mics, 2 sources, ISM order 10) with 1 job — the baseline, measured in the
same process — and with ``--nj`` jobs, and the ratios to the baseline and to the goal of
20 mixtures/s; also CPU time per mixture and the throughput it allows on ``--nj`` idle
cores (on a shared machine the wall-clock rate says more about the neighbours).
Not a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from sepplug.recipes.spatialvctk.simulate import simulate_spatialvctk
from sepplug.simulate.corpus import generate_corpus

GOAL_MIXTURES_PER_S = 20.0


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the job processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_simulation(
    corpus: Path, root: Path, n: int, nj: int, fs: int, segment: float
) -> tuple[float, float]:
    """(mixtures per wall-clock second, CPU seconds per mixture) for ``n`` train mixtures,
    job start-up included."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    simulate_spatialvctk(corpus, root / "data", root / "wav", fs=fs, segment=segment, n_train=n,
                         n_dev=0, n_test=0, n_hard_extra=0, nj=nj)
    return n / (time.perf_counter() - start), (cpu_seconds() - start_cpu) / n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="mixtures per simulation run")
    parser.add_argument("--nj", type=int, default=2, help="jobs of the parallel run")
    parser.add_argument("--fs", type=int, default=16000)
    parser.add_argument("--segment", type=float, default=4.0)
    parser.add_argument("--speakers", type=int, default=20, help="corpus speakers")
    parser.add_argument("--utts", type=int, default=10, help="corpus utterances per speaker")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="sepplug_bench_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        corpus = generate_corpus(root / "corpus", num_speakers=args.speakers,
                                 utts_per_speaker=args.utts, fs=args.fs, nj=args.nj)
        corpus_s = time.perf_counter() - start
        audio_s = sum(sf.info(p).duration for p in (corpus / "wav").rglob("*.wav"))
        n_utts = args.speakers * args.utts
        print(f"corpus: {n_utts} utterances ({audio_s:.0f} s of audio) in {corpus_s:.1f} s "
              f"with {args.nj} processes: {n_utts / corpus_s:.1f} utt/s, "
              f"{audio_s / corpus_s:.0f}x real time")

        base, base_cpu = time_simulation(corpus, root / "nj1", args.n, 1, args.fs, args.segment)
        parallel, parallel_cpu = time_simulation(corpus, root / f"nj{args.nj}", args.n, args.nj,
                                                 args.fs, args.segment)
        print(f"simulation ({args.segment:g} s, {args.fs} Hz, 6 mics, 2 sources, order 10), "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
        print(f"  nj=1 (baseline): {base:.1f} mixtures/s, {1000 * base_cpu:.0f} ms CPU/mixture")
        print(f"  nj={args.nj}: {parallel:.1f} mixtures/s  = {parallel / base:.2f}x baseline, "
              f"{parallel / GOAL_MIXTURES_PER_S:.2f}x the goal of {GOAL_MIXTURES_PER_S:g}/s; "
              f"{1000 * parallel_cpu:.0f} ms CPU/mixture")
        ideal = args.nj / parallel_cpu
        print(f"  CPU-bound ceiling with {args.nj} idle cores: {ideal:.1f} mixtures/s "
              f"= {ideal / GOAL_MIXTURES_PER_S:.2f}x the goal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
