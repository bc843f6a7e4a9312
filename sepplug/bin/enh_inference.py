"""``python -m sepplug.bin.enh_inference``: ESPnet's ``enh_inference`` with plugins registered.

Takes exactly ESPnet's arguments; ``--help`` lists plugin components among the choices.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sepplug.launch import run_tool


def main(cmd: Sequence[str] | None = None) -> None:
    run_tool("espnet2.bin.enh_inference", list(sys.argv[1:] if cmd is None else cmd))


if __name__ == "__main__":
    main()
