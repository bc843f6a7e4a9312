"""Benchmark of the start-up of an ESPnet enh process (not a test).

Every training, inference and stats job a recipe runs is a new Python process that imports
``espnet2.tasks.enh``. This measures that import, in fresh interpreters started one after
another from this process and interleaved so that load from other processes hits both
alike:

- baseline: nltk stand-ins only (``sepplug.utils.offline.prepare_offline_nltk``);
- deferred: ``prepare_espnet_import`` — also the stand-in modules for g2p_en and
  tacotron_cleaner.cleaners, which the enh task imports but never uses.

It prints the median wall time of each and the ratio deferred / baseline.

Run: ``OMP_NUM_THREADS=1 python3 bench/bench_espnet_import.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

SETUP = {
    "baseline": "from sepplug.utils.offline import prepare_offline_nltk; prepare_offline_nltk()",
    "deferred": "from sepplug.utils.offline import prepare_espnet_import; prepare_espnet_import()",
}


def time_import(setup: str) -> float:
    """Wall seconds of a fresh interpreter that runs ``setup`` then imports the enh task."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"{setup}\nimport espnet2.tasks.enh"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in SETUP}
    time_import(SETUP["baseline"])  # warm the file cache
    for _ in range(args.repeats):
        for name, setup in SETUP.items():
            times[name].append(time_import(setup))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:9s} median {medians[name]:.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"ratio deferred / baseline: {medians['deferred'] / medians['baseline']:.2f}")


if __name__ == "__main__":
    main()
