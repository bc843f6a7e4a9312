"""Efficient vs exhaustive MixIT in training: time per training step and peak memory per M.

One training step = forward of an ESPnet enhancement model, the MixIT loss, backward and
an Adam step. Model: ESPnet's stock ``rnn`` separator (2 x 256 BLSTM masks on a 256-point
STFT, hop 64) with ``M`` outputs (``flexible_numspk``), the CPU-scale backbone of the
recipes; batch ``B`` mixtures of mixtures of ``--seconds`` at 8 kHz, N = 2 reference
mixtures; criterion ESPnet ``snr``. Three loss wrappers:

* ``espnet``: ESPnet's ``MixITSolver``: all ``N**M`` mixing matrices in one einsum with
  autograd; it takes ``N = M // 2`` reference mixtures, so with two mixtures it trains
  only ``M = 4`` (its memory row uses ``N = M // 2``, the only way it runs at other M);
* ``exhaustive``: sepplug's exact search (``mixit_efficient`` with ``exhaustive_up_to``):
  the same ``N**M`` candidates, scored in chunks without autograd, then one remix with
  autograd; any ``N``;
* ``efficient``: ``mixit_efficient`` (least squares + local search, the default).

Part 1, time: the three wrappers at M = 4 (and exhaustive vs efficient at M = 8), steps
interleaved in this process on the same batches, median over ``--steps``; ratios to the
efficient step.
Part 2, memory: each (wrapper, M) in a fresh subprocess: the growth of the peak resident
memory over two training steps above the memory once the model and batch exist (sampled
every millisecond, so a peak shorter than that can be missed); a row whose predicted
remix tensors exceed ``--budget_gb``, or that runs past ``--max_row_s``, ends its
wrapper's sweep. The last line names the largest M each wrapper trained.

Run: ``OMP_NUM_THREADS=1 sepplug bench mixit_train [--steps 10] [--budget_gb 8]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch
from espnet2.enh.decoder.stft_decoder import STFTDecoder
from espnet2.enh.encoder.stft_encoder import STFTEncoder
from espnet2.enh.espnet_model import ESPnetEnhancementModel
from espnet2.enh.loss.criterions.time_domain import SNRLoss
from espnet2.enh.loss.wrappers.mixit_solver import MixITSolver
from espnet2.enh.separator.rnn_separator import RNNSeparator

from sepplug.enh.loss.wrappers.efficient_mixit import EfficientMixITSolver

FS = 8000
N_FFT, HOP = 256, 64
WRAPPERS = ("espnet", "exhaustive", "efficient")


def num_mixtures(wrapper: str, num_out: int) -> int:
    """Reference mixtures per example: ESPnet's solver takes M // 2, the others 2."""
    return num_out // 2 if wrapper == "espnet" else 2


def build(wrapper: str, num_out: int) -> ESPnetEnhancementModel:
    criterion = SNRLoss(eps=1e-7)
    loss = {"espnet": lambda: MixITSolver(criterion),
            "exhaustive": lambda: EfficientMixITSolver(criterion, exhaustive_up_to=99),
            "efficient": lambda: EfficientMixITSolver(criterion)}[wrapper]()
    return ESPnetEnhancementModel(
        STFTEncoder(N_FFT, hop_length=HOP), RNNSeparator(N_FFT // 2 + 1, num_spk=num_out,
                                                         layer=2, unit=256),
        STFTDecoder(N_FFT, hop_length=HOP), None, [loss], flexible_numspk=True)


def batch(num_mix: int, size: int, seconds: float, seed: int) -> dict[str, torch.Tensor]:
    """Mixtures of ``num_mix`` random mixtures, ``(B, T)`` each (the step cost does not
    depend on the audio)."""
    g = torch.Generator().manual_seed(seed)
    refs = [torch.randn(size, int(seconds * FS), generator=g) for _ in range(num_mix)]
    out = {f"speech_ref{i + 1}": r for i, r in enumerate(refs)}
    out["speech_mix"] = torch.stack(refs).sum(0)
    return out


def step(model: torch.nn.Module, optim: torch.optim.Optimizer, data: dict) -> float:
    start = time.perf_counter()
    optim.zero_grad()
    loss, _, _ = model(**data)
    loss.backward()
    optim.step()
    return time.perf_counter() - start


def largest_tensor_gb(wrapper: str, num_out: int, size: int, seconds: float) -> float:
    """A lower bound of ESPnet's extra memory: its (N**M, B, N, T) float32 remix tensor
    twice (the tensor and what its criterion loop keeps for backward); the other wrappers
    stay near the model's own footprint."""
    if wrapper != "espnet":
        return 0.0
    num_mix = num_out // 2
    return 2 * num_mix**num_out * size * num_mix * seconds * FS * 4 / 2**30


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def memory_child(wrapper: str, num_out: int, size: int, seconds: float) -> None:
    """In a fresh process: peak resident-memory growth (MiB) over two training steps, and
    the step time. The peak is sampled every millisecond by a thread (torch ops release
    the GIL); ``ru_maxrss`` cannot be used, it keeps the peak of the imports."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build(wrapper, num_out)
    optim = torch.optim.Adam(model.parameters(), 1e-3)
    data = batch(num_mixtures(wrapper, num_out), size, seconds, 0)
    before, peak, done = resident_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_mib())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    seconds_per_step = [step(model, optim, data) for _ in range(2)]
    done.set()
    sampler.join()
    print(json.dumps({"peak_growth_mib": peak[0] - before, "step_s": seconds_per_step[-1]}))


def time_part(args: argparse.Namespace) -> None:
    print(f"## time per training step (batch {args.batch} x {args.seconds} s, 1 thread, "
          f"median of {args.steps} interleaved steps)")
    for num_out, wrappers in ((4, WRAPPERS), (8, ("exhaustive", "efficient"))):
        torch.manual_seed(0)
        models = {w: build(w, num_out) for w in wrappers}
        for w in wrappers[1:]:  # the same initial weights for every wrapper
            models[w].load_state_dict(models[wrappers[0]].state_dict())
        optims = {w: torch.optim.Adam(m.parameters(), 1e-3) for w, m in models.items()}
        times: dict[str, list[float]] = {w: [] for w in wrappers}
        for i in range(args.steps + 1):  # the first step of each is warm-up
            data = batch(2, args.batch, args.seconds, i)
            for w in wrappers:
                t = step(models[w], optims[w], data)
                if i:
                    times[w].append(t)
        base = statistics.median(times["efficient"])
        for w in wrappers:
            med = statistics.median(times[w])
            print(f"M={num_out:2d} {w:10s} {med * 1000:8.1f} ms/step  "
                  f"x{med / base:5.2f} of efficient")


def memory_part(args: argparse.Namespace) -> None:
    print(f"## peak memory growth of two training steps (fresh process per row; budget "
          f"{args.budget_gb} GiB for ESPnet's remix tensor)")
    largest: dict[str, int] = {}
    for wrapper in WRAPPERS:
        for num_out in args.num_outputs:
            if wrapper == "espnet" and num_out % 2:
                continue
            need = largest_tensor_gb(wrapper, num_out, args.batch, args.seconds)
            label = f"{wrapper:10s} M={num_out:2d} N={num_mixtures(wrapper, num_out)}"
            if need > args.budget_gb:
                print(f"{label}: not run, its remix tensors need at least {need:.1f} GiB")
                break
            try:
                run = subprocess.run(
                    [sys.executable, __file__, "--child", wrapper, str(num_out),
                     "--batch", str(args.batch), "--seconds", str(args.seconds)],
                    capture_output=True, text=True, timeout=args.max_row_s)
            except subprocess.TimeoutExpired:
                print(f"{label}: two steps did not finish within {args.max_row_s:.0f} s")
                break
            if run.returncode:
                print(f"{label}: failed: {run.stderr.strip().splitlines()[-1]}")
                break
            result = json.loads(run.stdout.strip().splitlines()[-1])
            largest[wrapper] = num_out
            print(f"{label}: +{result['peak_growth_mib']:7.0f} MiB, "
                  f"{result['step_s'] * 1000:7.0f} ms/step")
    print("largest M trained (memory budget and --max_row_s): " +
          ", ".join(f"{w} {m}" for w, m in largest.items()) +
          " (espnet with N = M/2 mixtures; with N = 2 it runs only at M = 4)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--budget_gb", type=float, default=8.0)
    parser.add_argument("--num_outputs", type=int, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--max_row_s", type=float, default=300.0,
                        help="give up a memory row (and larger M) after this long")
    parser.add_argument("--child", nargs=2, metavar=("WRAPPER", "M"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child[0], int(args.child[1]), args.batch, args.seconds)
        return
    torch.set_num_threads(1)
    time_part(args)
    memory_part(args)


if __name__ == "__main__":
    main()
