#!/usr/bin/env python3
"""run.pl: Kaldi-style local job runner (a Python stand-in for Kaldi's Perl script).

    run.pl [--max-jobs-run N] [JOB=1:N] <log-file> <command...>

Runs jobs 1..N at once (at most --max-jobs-run together), each under bash with its output in
the log file (JOB replaced by the job number). --gpu/--mem/--num-threads/--time are accepted
and ignored, as in Kaldi. Exit status 1 when any job failed.
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobcmd import parse  # noqa: E402


def run_one(request, job):
    log = request.substitute(request.log, job)
    command = request.substitute(request.command, job)
    os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        f.write(f"# {command}\n# Started at {time.ctime()}\n")
        f.flush()
        code = subprocess.call(["bash", "-c", command], stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        elapsed = time.time() - start
        f.write(f"# Accounting: time={elapsed:.0f} threads=1\n"
                f"# Ended (code {code}) at {time.ctime()}, elapsed time {elapsed:.0f} seconds\n")
    return code


def main():
    request = parse(sys.argv[1:], "run.pl")
    jobs = request.jobs()
    workers = int(request.options.get("--max-jobs-run", len(jobs)))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        codes = list(pool.map(lambda job: run_one(request, job), jobs))
    failed = [job for job, code in zip(jobs, codes, strict=True) if code != 0]
    if failed:
        log = request.substitute(request.log, failed[0] if request.job_var else None)
        print(f"run.pl: {len(failed)} / {len(jobs)} failed, log is in {log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
