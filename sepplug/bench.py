"""``sepplug bench [NAME] [ARGS]``: run one of the benchmarks in the repository's bench/.

Benchmarks print ratios against a baseline measured in the same process; they are
not tests. Without NAME, list them.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def available() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}


def main(argv: Sequence[str]) -> int:
    benches = available()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: sepplug bench NAME [ARGS]\navailable: " + ", ".join(benches))
        return 0
    name, rest = argv[0], list(argv[1:])
    if name not in benches:
        print(f"sepplug bench: unknown benchmark '{name}' (available: {', '.join(benches)}); "
              f"benchmarks live in {BENCH_DIR} (a source checkout)", file=sys.stderr)
        return 2
    from sepplug.utils.offline import prepare_espnet_import

    prepare_espnet_import()  # benchmarks that build ESPnet models import g2p_en (nltk)
    sys.argv = [str(benches[name]), *rest]
    runpy.run_path(str(benches[name]), run_name="__main__")
    return 0
