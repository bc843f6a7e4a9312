"""Benchmark of on-the-fly spatial mixing (preprocessor ``spatial_dm``) against training speed.

    sepplug bench spatial_dm [--mixtures 150] [--steps 4] [--segment 3.0] [--max_order 10]

Measured in one process, one thread (torch, numpy/scipy, pyroomacoustics), not a test:

1. mixtures per second of :class:`SpatialDMPreprocessor` in training mode (6 mics, 8 kHz,
   ``--segment`` s, RIRs of image-source order ``--max_order`` as the simulator's), with
   the dry audio cached in memory (steady state) and uncached (every mixture reads and
   resamples its two 16 kHz files: the worst case, e.g. a corpus too big to cache);
2. training steps per second of the recipe's default 6-ch CPU model (``--config``, default
   ``egs/spatialvctk/conf/tuning/train_enh_tf_dualpath_cpu.yaml``: its sizes, loss,
   optimiser, batch size and chunk length; ``--device cuda`` times the step on a GPU
   instead: a far higher step rate, so more workers);
3. the ratio of mixtures produced to mixtures consumed per second, for ESPnet's chunk
   iterator (each mixture gives ``(L - W) // (W / 2) + 1`` chunks of W samples) and the
   sequence iterator (one mixture per batch element), and the ``num_workers`` it implies.

The dry "utterances" are noise bursts (tests/data_fixtures.write_toy_corpus): mixing cost
does not depend on the content. ESPnet's own reading of the stored mixture that
``spatial_dm`` replaces is not included.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "egs/spatialvctk/conf/tuning/train_enh_tf_dualpath_cpu.yaml"
FS = 8000


def build_world(root: Path, max_order: int, rooms: int) -> tuple[Path, Path]:
    """Toy corpus (12 speakers x 5 utterances of 3.5 s at 16 kHz), its source list, a bank."""
    sys.path.insert(0, str(ROOT))
    from sepplug.mixing.dry_sources import build_source_list
    from sepplug.mixing.rir_bank import generate_rir_bank
    from sepplug.simulate.room import SceneConfig
    from tests.data_fixtures import write_toy_corpus

    corpus = write_toy_corpus(root / "corpus", speakers=12, utts=5, fs=16000, seconds=3.5)
    (corpus / "splits").mkdir()
    (corpus / "splits" / "train.spk").write_text("".join(f"p{s:03d}\n" for s in range(1, 13)))
    dry = build_source_list(corpus, root / "dry")
    bank = generate_rir_bank(root / "bank", fs=FS, n_rooms=rooms, positions_per_room=8,
                             seed=0, config=SceneConfig(max_order=max_order))
    return bank, dry / "wav.scp"


def mixtures_per_second(pres: dict[str, object], n: int, num_samples: int, mics: int,
                        block: int = 10) -> dict[str, float]:
    """Mixtures/s of each preprocessor, run in turns by blocks so that load from other
    processes hits them alike."""
    data = {"speech_mix": np.zeros((num_samples, mics), np.float32),
            "speech_ref1": np.zeros(num_samples, np.float32),
            "speech_ref2": np.zeros(num_samples, np.float32)}
    spent = dict.fromkeys(pres, 0.0)
    for pre in pres.values():
        pre.set_epoch(1)
    for first in range(0, n, block):
        for name, pre in pres.items():
            start = time.perf_counter()
            for i in range(first, min(n, first + block)):
                pre(f"train_{i:06d}", data)
            spent[name] += time.perf_counter() - start
    return {name: n / value for name, value in spent.items()}


def train_step_seconds(config: dict, steps: int, device: str = "cpu") -> float:
    """Median time of forward + loss + backward + clip + optimiser step of the config's model."""
    import torch

    from sepplug.tasks.enh import SepplugEnhancementTask

    args = SepplugEnhancementTask.get_parser().parse_args([])
    for key in ("encoder", "decoder", "separator", "separator_conf", "criterions"):
        setattr(args, key, config[key])
    model = SepplugEnhancementTask.build_model(args).to(device)
    batch, length = int(config["batch_size"]), int(config["chunk_length"])
    mics = int(config["separator_conf"].get("num_mics") or 6)
    mix = torch.randn(batch, length, mics, device=device) * 0.1
    refs = {f"speech_ref{i + 1}": torch.randn(batch, length, device=device) * 0.1
            for i in range(2)}
    lengths = torch.full((batch,), length, dtype=torch.long, device=device)
    optim = torch.optim.Adam(model.parameters(), **config.get("optim_conf", {}))
    model.train()

    def step() -> None:
        loss, _, _ = model(mix, lengths, **refs)
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(config.get("grad_clip", 5.0)))
        optim.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, produced: float, consumed_per_step: float, steps_per_s: float) -> None:
    needed = consumed_per_step * steps_per_s
    ratio = produced / needed
    overhead = needed / produced  # mixing time / training time, num_workers = 0
    print(f"  {name}: {consumed_per_step:.2f} mixtures per step -> {needed:.1f} mixtures/s "
          f"needed; ratio {ratio:.1f}x")
    print(f"    num_workers=0: mixing adds {100 * overhead:.0f} % to each step; "
          f"num_workers >= {max(1, math.ceil(1 / ratio))} runs it beside training "
          f"without starving it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixtures", type=int, default=150, help="mixtures per measurement")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps")
    parser.add_argument("--segment", type=float, default=3.0, help="mixture length (s), "
                        "as the recipe's simulated training set")
    parser.add_argument("--max_order", type=int, default=10, help="image-source order")
    parser.add_argument("--rooms", type=int, default=6, help="rooms of the bank")
    parser.add_argument("--config", type=Path, default=CONFIG, help="training config")
    parser.add_argument("--device", default="cpu", help="where the training step runs "
                        "(cpu, cuda): the mixing always runs on one CPU thread")
    args = parser.parse_args(argv)
    os.environ.setdefault("PRA_NUM_THREADS", "1")
    import torch
    import yaml

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # denormals made CPU steps 10x slower on this machine
    from sepplug.enh.preprocessor.spatial_dm import SpatialDMPreprocessor

    config = yaml.safe_load(args.config.read_text())
    num_samples = int(round(args.segment * FS))
    with tempfile.TemporaryDirectory(prefix="sepplug_bench_dm_") as tmp:
        start = time.perf_counter()
        bank, scp = build_world(Path(tmp), args.max_order, args.rooms)
        setup_s = time.perf_counter() - start
        pres = {cache: SpatialDMPreprocessor(
            train=True, rir_bank=str(bank), source_scp=str(scp), segment=args.segment,
            cache_audio=cache) for cache in (True, False)}
        for spk_utts in pres[True].policy.utts:  # warm the cache: steady state
            for utt in spk_utts:
                pres[True].audio(utt)
        rates = mixtures_per_second(pres, args.mixtures, num_samples, pres[True].bank.num_mics)
        pre = pres[True]
        taps = int(np.mean([room["rir_length"] for room in pre.bank.rooms]))
    step_s = train_step_seconds(config, args.steps, args.device)

    width = int(config["chunk_length"])
    chunks = (num_samples - width) // max(width // 2, 1) + 1 if num_samples > width else 1
    batch = int(config["batch_size"])
    print(f"setup (toy corpus, source list, {args.rooms}-room bank): {setup_s:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"spatial_dm mixing ({args.segment:g} s, 6 mics, {FS} Hz, order-{args.max_order} "
          f"RIRs of ~{taps} taps, 1 thread), {args.mixtures} mixtures:")
    for cache in (True, False):
        label = "audio cached  " if cache else "audio uncached"
        print(f"  {label}: {rates[cache]:7.1f} mixtures/s ({1000 / rates[cache]:.1f} ms each)")
    print(f"training step, {args.config.name} ({config['separator']}, batch {batch} x "
          f"{width} samples, {args.device}, 1 CPU thread): {step_s:.3f} s = "
          f"{1 / step_s:.2f} steps/s")
    for cache in (True, False):
        print(f"ratio with the audio {'cached' if cache else 'uncached'}:")
        report(f"chunk iterator ({chunks} chunks per {args.segment:g} s mixture)",
               rates[cache], batch / chunks, 1 / step_s)
        report("sequence iterator (one mixture per batch element)", rates[cache], batch,
               1 / step_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
