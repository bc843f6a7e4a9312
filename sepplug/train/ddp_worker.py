"""A torchrun worker of ``sepplug.bin.enh_train`` that dies with its torchrun.

    python -m torch.distributed.run --nproc_per_node N -m sepplug.train.ddp_worker ARGS

runs ``sepplug.bin.enh_train ARGS`` in each worker (what enh.sh stage 5 runs for
``--dist_procs N``). torchrun starts its workers in sessions of their own, so killing a
recipe's process group (a SIGKILL, as a killed job gets) kills torchrun but leaves the
workers training on, writing into the exp dir that a rerun resumes from. Here each worker
first asks Linux to SIGKILL it when its parent (torchrun) dies (``PR_SET_PDEATHSIG``), and
exits at once when its parent is already gone, so that a killed training is wholly dead
and a rerun resumes alone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LAUNCHERS = ("torch.distributed.run", "torchrun")


def parent_is_launcher(pid: int) -> bool:
    """True when process ``pid``'s command line is a torchrun's."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return any(name in cmdline for name in LAUNCHERS)


def follow_launcher() -> None:
    """Die with the torchrun that started this process (module doc); no-op off Linux or
    outside torchrun."""
    if not sys.platform.startswith("linux") or "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    parent = os.getppid()
    if not parent_is_launcher(parent):
        sys.exit("sepplug.train.ddp_worker: the torchrun that started this worker is gone")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died between the check and the prctl
        sys.exit("sepplug.train.ddp_worker: the torchrun that started this worker is gone")


def main() -> None:
    follow_launcher()
    from sepplug.bin.enh_train import main as enh_train

    enh_train(sys.argv[1:])


if __name__ == "__main__":
    main()
