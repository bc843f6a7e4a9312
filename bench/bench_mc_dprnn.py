"""Benchmark of the multi-channel DPRNN separator on CPU, one thread (not a test).

Measured in one process, interleaving the models so that load from other
processes hits them alike:

1. training-step time (forward + SI-SNR/PIT loss + backward + Adam step) of
   ``mc_dprnn`` on 6-channel input against ESPnet's stock ``conv`` + ``dprnn`` +
   ``conv`` of the same size on 1-channel input (goal: ratio <= 1.2);
2. inference real-time factor (RTF = compute time / audio duration, batch 1) of
   both on ``--infer-seconds`` of audio;
3. parameter count and training-step time of candidate CPU recipe configs.

Every model is built by ``SepplugEnhancementTask.build_model`` from a config
dict, as a YAML config would build it.

Run: ``OMP_NUM_THREADS=1 python3 bench/bench_mc_dprnn.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

FS = 8000
CRITERIONS = [
    {"name": "si_snr", "conf": {"eps": 1.0e-7}, "wrapper": "pit", "wrapper_conf": {"weight": 1.0}}
]
#: small CPU size used for the stock-vs-plugin comparison and the RTF
SMALL = dict(num_filters=64, kernel_size=16, stride=8, hidden_dim=64, chunk_size=50, num_layers=3)

CANDIDATES = {
    "cpu_xs (k32/s16 N64 D64 H64 K32 x3)": dict(
        SMALL, kernel_size=32, stride=16, chunk_size=32, bottleneck_dim=64
    ),
    "cpu_s (N64 D64 H64 K50 x3)": dict(SMALL, bottleneck_dim=64),
    "cpu_m (N64 D64 H96 K50 x4)": dict(SMALL, bottleneck_dim=64, hidden_dim=96, num_layers=4),
    "cpu_s gru": dict(SMALL, bottleneck_dim=64, rnn_type="gru"),
    "cpu_s + TAC": dict(SMALL, bottleneck_dim=64, use_tac=True),
}


def build(config: dict) -> torch.nn.Module:
    """Build an ESPnetEnhancementModel through the task, as from a YAML config."""
    from sepplug.tasks.enh import SepplugEnhancementTask

    args = SepplugEnhancementTask.get_parser().parse_args([])
    for key, value in {**config, "criterions": CRITERIONS}.items():
        setattr(args, key, value)
    return SepplugEnhancementTask.build_model(args)


def mc_dprnn_config(sizes: dict, num_mics: int = 6) -> dict:
    conf = {"num_spk": 2, "num_mics": None if sizes.get("use_tac") else num_mics, **sizes}
    return {"encoder": "same", "decoder": "same", "separator": "mc_dprnn", "separator_conf": conf}


def stock_dprnn_config(sizes: dict) -> dict:
    """ESPnet's conv + dprnn + conv with the sizes of an mc_dprnn without bottleneck."""
    enc = {"channel": sizes["num_filters"], "kernel_size": sizes["kernel_size"]}
    enc["stride"] = sizes["stride"]
    sep = {
        "num_spk": 2,
        "layer": sizes["num_layers"],
        "unit": sizes["hidden_dim"],
        "segment_size": sizes["chunk_size"],
    }
    return {
        "encoder": "conv",
        "encoder_conf": enc,
        "decoder": "conv",
        "decoder_conf": dict(enc),
        "separator": "dprnn",
        "separator_conf": sep,
    }


def train_step_fn(model: torch.nn.Module, batch: int, seconds: float, mics: int) -> Callable:
    num_samples = int(seconds * FS)
    shape = (batch, num_samples, mics) if mics > 1 else (batch, num_samples)
    mixture = torch.randn(shape)
    refs = {f"speech_ref{n + 1}": torch.randn(batch, num_samples) for n in range(2)}
    lengths = torch.full((batch,), num_samples, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        loss, _, _ = model(mixture, lengths, **refs)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()

    return step


def infer_fn(model: torch.nn.Module, seconds: float, mics: int) -> Callable:
    num_samples = int(seconds * FS)
    mixture = torch.randn((1, num_samples, mics) if mics > 1 else (1, num_samples))
    lengths = torch.tensor([num_samples])
    model.eval()

    def run() -> None:
        with torch.no_grad():
            model.forward_enhance(mixture, lengths)

    return run


def interleaved_medians(fns: dict[str, Callable], repeats: int) -> dict[str, float]:
    """Median wall time of each function, run in turns after one warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--train-seconds", type=float, default=2.0)
    parser.add_argument("--infer-seconds", type=float, default=4.0)
    parser.add_argument("--skip-candidates", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # denormals made CPU steps 10x slower on this machine
    torch.manual_seed(0)

    same_size = dict(SMALL, bottleneck_dim=None)
    stock = build(stock_dprnn_config(same_size))
    plugin = build(mc_dprnn_config(same_size))
    plugin_bn = build(mc_dprnn_config(dict(SMALL, bottleneck_dim=64)))
    print(f"sizes: {SMALL}; 8 kHz, batch {args.batch} x {args.train_seconds} s, 1 thread")
    print(
        f"params: stock dprnn {num_params(stock):,}, mc_dprnn 6ch {num_params(plugin):,}, "
        f"mc_dprnn 6ch + bottleneck 64 {num_params(plugin_bn):,}"
    )

    step = {
        "stock dprnn 1ch": train_step_fn(stock, args.batch, args.train_seconds, 1),
        "mc_dprnn 6ch": train_step_fn(plugin, args.batch, args.train_seconds, 6),
        "mc_dprnn 6ch +bn64": train_step_fn(plugin_bn, args.batch, args.train_seconds, 6),
    }
    step_t = interleaved_medians(step, args.repeats)
    base = step_t["stock dprnn 1ch"]
    print("\n[training step, median of", args.repeats, "]")
    for name, value in step_t.items():
        print(f"  {name:<22} {value:7.3f} s   ratio vs stock {value / base:5.2f}x")

    infer = {
        "stock dprnn 1ch": infer_fn(stock, args.infer_seconds, 1),
        "mc_dprnn 6ch": infer_fn(plugin, args.infer_seconds, 6),
        "mc_dprnn 6ch +bn64": infer_fn(plugin_bn, args.infer_seconds, 6),
    }
    infer_t = interleaved_medians(infer, args.repeats)
    base = infer_t["stock dprnn 1ch"]
    print(f"\n[inference, batch 1 x {args.infer_seconds} s, RTF = time / audio duration]")
    for name, value in infer_t.items():
        print(
            f"  {name:<22} RTF {value / args.infer_seconds:6.4f}   ratio vs stock "
            f"{value / base:5.2f}x"
        )

    if args.skip_candidates:
        return
    models = {name: build(mc_dprnn_config(sizes)) for name, sizes in CANDIDATES.items()}
    fns = {n: train_step_fn(m, args.batch, args.train_seconds, 6) for n, m in models.items()}
    cand_t = interleaved_medians(fns, args.repeats)
    print(f"\n[candidate CPU configs, 6ch, batch {args.batch} x {args.train_seconds} s]")
    for name, value in cand_t.items():
        print(
            f"  {name:<36} {num_params(models[name]):>9,} params  {value:6.3f} s/step  "
            f"~{480 / value:5.0f} steps in 8 min"
        )


if __name__ == "__main__":
    main()
