"""Run the N jobs of a data step, locally in processes or through a Kaldi-style ``cmd``.

With ``cmd`` (e.g. ``tools/utils/run.pl`` or ``tools/utils/slurm.pl``) the call is Kaldi's::

    <cmd> JOB=1:N <log_dir>/<name>.JOB.log python -m <module> <args with JOB>

Without it, a pool of N spawned processes calls the job function directly (one tqdm
bar per job).
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sepplug.errors import DataError


def run_jobs(
    nj: int,
    job_function: Callable[..., object],
    job_args: Sequence[object],
    module: str,
    module_argv: Sequence[str],
    log_dir: Path,
    name: str,
    cmd: str | None = None,
) -> None:
    """Run jobs 1..nj.

    Args:
        job_function: called as ``job_function(*job_args, job, nj, progress_position)`` locally.
        module, module_argv: ``python -m module *module_argv`` under ``cmd``; the string
            ``JOB`` in module_argv is replaced by the job number by ``cmd``.
        log_dir, name: logs go to ``log_dir/name.JOB.log`` under ``cmd``.

    Raises:
        DataError: a job failed (with the tail of its log under ``cmd``).
    """
    if cmd:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_pattern = log_dir / f"{name}.JOB.log"
        argv = [*shlex.split(cmd), f"JOB=1:{nj}", str(log_pattern), sys.executable, "-m",
                module, *module_argv]
        # One thread per job: the jobs are the parallelism (pyroomacoustics reads
        # PRA_NUM_THREADS, numpy/scipy the OMP/MKL/OpenBLAS variables).
        env = {**os.environ, **dict.fromkeys(
            ("PRA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"),
            "1")}
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env)
        if proc.returncode != 0:
            raise DataError(
                f"{name}: jobs failed under '{cmd}' (exit {proc.returncode}): {proc.stdout.strip()}"
                f"{_failed_log_tail(log_dir, name, nj)}"
            )
        return
    if nj == 1:
        job_function(*job_args, 1, 1, None)
        return
    # spawn: workers must not inherit the caller's threads/locks (torch, tqdm)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(nj, mp_context=context) as pool:
        futures = [pool.submit(job_function, *job_args, job, nj, job - 1)
                   for job in range(1, nj + 1)]
        for job, future in enumerate(futures, 1):
            try:
                future.result()
            except Exception as exc:
                raise DataError(f"{name}: job {job}/{nj} failed: {exc}") from exc


def _failed_log_tail(log_dir: Path, name: str, nj: int, lines: int = 15) -> str:
    for job in range(1, nj + 1):
        log = log_dir / f"{name}.{job}.log"
        if log.is_file():
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            if any(line.startswith("# Ended (code") and "(code 0)" not in line for line in text):
                return f"\n--- end of {log} ---\n" + "\n".join(text[-lines:])
    return ""
