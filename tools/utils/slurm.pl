#!/usr/bin/env python3
"""slurm.pl: run.pl's interface on a Slurm cluster (one sbatch job array, waited for).

    slurm.pl [--gpu N] [--mem 4G] [--num-threads N] [--time 1:00:00] [--max-jobs-run N]
             [--partition P] [JOB=1:N] <log-file> <command...>

Writes a batch script to <log dir>/q/, submits it with ``sbatch --wait --array=1-N``
(JOB -> $SLURM_ARRAY_TASK_ID) and the log files as --output, in the current dir and
environment (sbatch exports it; ./path.sh is sourced when present, as Kaldi's queue.pl
does). Extra sbatch arguments: $SLURM_PL_OPTS. Exit status 1 when any job failed.
"""

import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobcmd import ended_code, parse  # noqa: E402

SBATCH_OPTIONS = {"--gpu": "--gres=gpu:{}", "--mem": "--mem={}", "--num-threads":
                  "--cpus-per-task={}", "--time": "--time={}", "--partition": "--partition={}"}


def main():
    request = parse(sys.argv[1:], "slurm.pl")
    task = "${SLURM_ARRAY_TASK_ID}"
    log_dir = os.path.dirname(os.path.abspath(request.log))
    queue_dir = os.path.join(log_dir, "q")
    os.makedirs(queue_dir, exist_ok=True)
    name = os.path.basename(request.substitute(request.log, "x")).split(".")[0] or "job"
    script = os.path.join(queue_dir, f"{name}.sh")
    command = request.substitute(request.command, task)
    with open(script, "w") as f:
        f.write(f"#!/usr/bin/env bash\ncd {shlex.quote(os.getcwd())}\n"
                "[ -f ./path.sh ] && . ./path.sh\n"
                f"echo '# '{shlex.quote(command)}\necho \"# Started at $(date)\"\n"
                f"( {command} )\ncode=$?\n"
                "echo \"# Ended (code $code) at $(date)\"\nexit $code\n")
    argv = ["sbatch", "--wait", f"--job-name={name}"]
    argv += [fmt.format(request.options[opt]) for opt, fmt in SBATCH_OPTIONS.items()
             if opt in request.options and request.options[opt] != "0"]
    argv += shlex.split(os.environ.get("SLURM_PL_OPTS", ""))
    if request.job_var:
        limit = request.options.get("--max-jobs-run")
        argv.append(f"--array={request.first}-{request.last}" + (f"%{limit}" if limit else ""))
        argv.append("--output=" + os.path.abspath(request.substitute(request.log, "%a")))
    else:
        argv.append("--output=" + os.path.abspath(request.log))
    subprocess.call(argv + [script], stdout=subprocess.DEVNULL)
    jobs = request.jobs()
    failed = []
    for job in jobs:
        log = request.substitute(request.log, job)
        text = open(log).read() if os.path.isfile(log) else ""
        if ended_code(text) != 0:
            failed.append(log)
    if failed:
        print(f"slurm.pl: {len(failed)} / {len(jobs)} failed, log is in {failed[0]}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
