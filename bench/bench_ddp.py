"""Data-parallel training on CPU: 1 process x 1 thread against N processes x 1 thread.

The same toy training of the SpatialVCTK recipe (its stage 5, the separator given by
``--config``; default the 6-ch ``spectral_spatial`` model) runs once per process count
through ``enh.sh --dist_procs N`` (torchrun + ESPnet's distributed mode, ``gloo``), with the
same global batch (ESPnet's ``--batch_size`` is global: each of N ranks takes 1/N of it) and
the same number of training samples: ``--num_iters_per_epoch`` (samples per rank and epoch
for ESPnet's chunk iterator) is divided by N; the learning rate is constant (``--scheduler
none``: the config's plateau schedule reacts to the noise of the toy's 16-mixture dev set,
halving the rate in some runs and not in others). Reported, from each run's ``train.log``:

* throughput: training chunks per second of wall time over epochs 2..E (epoch 1 is
  warm-up), from the timestamps of ESPnet's "epoch started" and "epoch results" lines
  (validation included, which is split over the ranks too), and its ratio to 1 process;
* the machine's ceiling for two one-thread trainings: two independent 1-process runs side
  by side (the same training with seeds 0 and 1, no communication), their summed
  throughput against one alone (two one-thread jobs may slow each other down: shared
  caches, memory bandwidth, clock);
* learning: the training loss of the last epoch and the dev loss after it (the whole dev
  set, all-reduced over ranks by ESPnet) for each run, and their relative difference to 1
  process. Different process counts draw different chunks in a different order, so the
  losses agree only within the run-to-run noise of the same training, which the second
  side-by-side run (another ``--seed``) shows.

The data (stages 1-4 at toy sizes) are made once in ``--workdir``. Run on an idle machine:

    OMP_NUM_THREADS=1 sepplug bench ddp [--procs 1 2] [--epochs 8] [--batch_size 16]
                                       [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sepplug.train.train_log import read_epoch_stats

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "spatialvctk"
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) \(trainer:\d+\) INFO: "
                   r"(\d+)(/\d+epoch started|epoch results)")


def data_options(work: Path, n_train: int) -> list[str]:
    return ["--nj", "2", "--datadir", str(work / "data"), "--dumpdir", str(work / "dump"),
            "--expdir", str(work / "exp"), "--corpus_dir", str(work / "corpus"),
            "--corpus_opts", "--num_speakers 12 --utts_per_speaker 6",
            "--local_data_opts", f"--segment 2.0 --n_train {n_train} --n_dev 16 --n_test 4 "
                                 f"--n_hard_extra 4 --wav_dir {work / 'wav'}"]


def run(cmd: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as out:
        rc = subprocess.call(cmd, cwd=RECIPE, stdout=out, stderr=subprocess.STDOUT, env=env)
    if rc:
        sys.exit(f"bench ddp: {' '.join(cmd[:6])} ... failed (exit {rc}); see {log}")


def train(work: Path, opts: list[str], args: argparse.Namespace, tag: str, procs: int,
          seed: int) -> dict[str, float]:
    """Stage 5 of one run (removed first), measured from its train.log."""
    shutil.rmtree(work / "exp" / f"enh_{tag}", ignore_errors=True)
    enh = (f"--max_epoch {args.epochs} --num_iters_per_epoch "
           f"{args.samples_per_epoch // procs} --batch_size {args.batch_size} "
           f"--valid_batch_size 4 --chunk_length 8000 --seed {seed} --num_workers 0 "
           "--scheduler none")  # a constant learning rate: the config's plateau schedule
    # would halve it in some runs and not others on the noise of the small dev set
    run(["./run.sh", "--stage", "5", "--stop-stage", "5", *opts, "--enh_tag", tag,
         "--enh_config", args.config, "--dist_procs", str(procs), "--enh_args", enh],
        work / f"{tag}.log")
    return measure(work / "exp" / f"enh_{tag}", args.batch_size)


def epoch_seconds(train_log: Path) -> dict[int, float]:
    """Epoch -> seconds from its "started" line to its "results" line."""
    started, seconds = {}, {}
    for line in train_log.read_text(errors="replace").splitlines():
        match = STAMP.search(line)
        if not match:
            continue
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        epoch = int(match.group(2))
        if match.group(3).endswith("started"):
            started[epoch] = when
        elif epoch in started:
            seconds[epoch] = (when - started[epoch]).total_seconds()
    return seconds


def measure(exp: Path, batch_size: int) -> dict[str, float]:
    stats = read_epoch_stats(exp)
    seconds = epoch_seconds(exp / "train.log")
    epochs = sorted(stats)
    last = epochs[-1]
    counts = {e: stats[e]["train"]["total_count"] for e in epochs}
    steps = {e: counts[e] - counts.get(e - 1, 0) for e in epochs}
    timed = [e for e in epochs[1:] if e in seconds]
    return {
        "chunks_per_s": sum(steps[e] * batch_size for e in timed) / sum(seconds[e] for e in timed),
        "chunks": sum(steps[e] * batch_size for e in epochs),
        "train_loss": stats[last]["train"]["loss"],
        "valid_loss": stats[last]["valid"]["loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples_per_epoch", type=int, default=96,
                        help="mixtures drawn per epoch over all ranks")
    parser.add_argument("--batch_size", type=int, default=16, help="global batch (chunks)")
    parser.add_argument("--n_train", type=int, default=96)
    parser.add_argument("--config", default="conf/tuning/train_enh_spectral_spatial_cpu.yaml")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="kept when given (the data are reused); else a temp dir")
    args = parser.parse_args()
    if args.procs[0] != 1:
        sys.exit("bench ddp: the first --procs is the baseline and must be 1")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sepplug_bench_ddp."))
    work.mkdir(parents=True, exist_ok=True)
    try:
        opts = data_options(work, args.n_train)
        print(f"## data: SpatialVCTK toy ({args.n_train} training mixtures of 2 s) in {work}")
        run(["./run.sh", "--stage", "1", "--stop-stage", "4", *opts], work / "data.log")
        results: dict[str, dict[str, float]] = {}
        print("## 1 process x 1 thread, alone (the baseline) ...", flush=True)
        results["1 process, seed 0, alone"] = train(work, opts, args, "bench_ddp_p1", 1, 0)
        for procs in args.procs[1:]:
            for seed in (0, 1):
                print(f"## {procs} processes x 1 thread, seed {seed} ...", flush=True)
                results[f"{procs} processes, seed {seed}"] = train(
                    work, opts, args, f"bench_ddp_p{procs}_seed{seed}", procs, seed)
        print("## two independent 1-process runs side by side (seeds 0 and 1) ...", flush=True)
        with ThreadPoolExecutor(2) as pool:
            pair = list(pool.map(lambda seed: train(work, opts, args, f"bench_ddp_pair{seed}",
                                                    1, seed), (0, 1)))
        results["1 process, seed 0, beside another"] = pair[0]
        results["1 process, seed 1, beside another"] = pair[1]
        base = results["1 process, seed 0, alone"]
        print(f"\n{args.config}, global batch {args.batch_size}, {args.epochs} epochs, "
              f"{base['chunks']:.0f} training chunks of 1 s per run; throughput over epochs "
              f"2..{args.epochs}, 1 thread per process")
        print("|run|chunks/s|x of 1 process alone|train loss (last epoch)|dev loss"
              "|train loss vs 1 proc|dev loss vs 1 proc|")
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            print(f"|{name}|{r['chunks_per_s']:.2f}|"
                  f"{r['chunks_per_s'] / base['chunks_per_s']:.2f}|{r['train_loss']:.3f}|"
                  f"{r['valid_loss']:.3f}|"
                  f"{(r['train_loss'] - base['train_loss']) / abs(base['train_loss']):+.1%}|"
                  f"{(r['valid_loss'] - base['valid_loss']) / abs(base['valid_loss']):+.1%}|")
        ceiling = sum(r["chunks_per_s"] for r in pair) / base["chunks_per_s"]
        print(f"ceiling of two one-thread trainings on this machine (the pair's summed "
              f"throughput / 1 process alone): x{ceiling:.2f}")
        one = [r["train_loss"] for r in pair]
        for procs in args.procs[1:]:
            many = [results[f"{procs} processes, seed {seed}"]["train_loss"] for seed in (0, 1)]
            diff = (sum(many) - sum(one)) / 2
            print(f"train loss of the last epoch, mean of seeds 0 and 1: 1 process "
                  f"{sum(one) / 2:.3f} (seeds {one[0]:.3f}, {one[1]:.3f}), {procs} processes "
                  f"{sum(many) / 2:.3f} (seeds {many[0]:.3f}, {many[1]:.3f}): difference "
                  f"{diff:+.3f} ({diff / abs(sum(one) / 2):+.1%}); seed-to-seed spread "
                  f"{abs(one[0] - one[1]):.3f} (1 process), {abs(many[0] - many[1]):.3f} "
                  f"({procs} processes)")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
