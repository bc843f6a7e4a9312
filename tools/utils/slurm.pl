#!/usr/bin/env python3
"""slurm.pl: run.pl's interface on a Slurm cluster (one sbatch job array, waited for).

    slurm.pl [--gpu N] [--mem 4G] [--num-threads N] [--time 1:00:00] [--max-jobs-run N]
             [--partition P] [--name NAME] [--num-nodes K] [JOB=1:N] <log-file> <command...>

Writes a batch script to <log dir>/q/ and submits it with ``sbatch --wait --array=1-N``
(``%M`` appended for --max-jobs-run M; JOB -> $SLURM_ARRAY_TASK_ID), each task's log file as
its --output; it runs in the current dir and environment (sbatch's default --export=ALL;
./path.sh is sourced when present, as Kaldi's queue.pl does). --gpu N asks for N GPUs
(``--gres=gpu:N``), --gpu 0 for none; --num-threads is --cpus-per-task; --num-nodes K
allocates K nodes (``--nodes=K``: the command's srun runs on each, as ESPnet's launcher
uses it); options may be spelt with _ (--num_threads), as ESPnet does. Extra sbatch
arguments: $SLURM_PL_OPTS. Old logs are removed first and each log's dir is made (Slurm does
not make it: a task whose log dir is missing fails without a log). Exit status 1 when any
job failed (its log, named on stderr, has no ``# Ended (code 0)`` line) or the submission
failed (sbatch's error is shown); a TERM/INT/HUP cancels the job array (scancel).
"""

import os
import re
import shlex
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobcmd import ended_code, parse  # noqa: E402

SBATCH_OPTIONS = {"--gpu": "--gres=gpu:{}", "--mem": "--mem={}", "--num-threads":
                  "--cpus-per-task={}", "--time": "--time={}", "--partition": "--partition={}",
                  "--num-nodes": "--nodes={}"}
POLL_SECONDS = 0.5  # how often the logs are looked at while sbatch --wait waits


def batch_script(request) -> str:
    """The bash script every array task runs, writing run.pl's log lines around the command."""
    task = "${SLURM_ARRAY_TASK_ID}"
    command = request.substitute(request.command, task)
    # The log's first line is the command with the task's number (run.pl's form).
    shown = (f'"# ${{slurm_pl_cmd//{request.job_var}/$SLURM_ARRAY_TASK_ID}}"'
             if request.job_var else '"# $slurm_pl_cmd"')
    return (f"#!/usr/bin/env bash\ncd {shlex.quote(os.getcwd())} || exit 1\n"
            "[ ! -f ./path.sh ] || . ./path.sh\n"
            f"slurm_pl_cmd={shlex.quote(request.command)}\necho {shown}\n"
            "echo \"# Started at $(date)\"\n"
            f"( {command} )\nslurm_pl_code=$?\n"
            "echo \"# Accounting: time=$SECONDS threads=${SLURM_CPUS_PER_TASK:-1}\"\n"
            "echo \"# Ended (code $slurm_pl_code) at $(date), elapsed time $SECONDS seconds\"\n"
            "exit $slurm_pl_code\n")


def sbatch_argv(request, name: str, script: str) -> list[str]:
    argv = ["sbatch", "--wait", "--parsable", f"--job-name={name}"]
    argv += [fmt.format(request.options[opt]) for opt, fmt in SBATCH_OPTIONS.items()
             if opt in request.options and request.options[opt] != "0"]
    # --output is a filename pattern: a literal % is %%, the task number %a.
    log = os.path.abspath(request.log).replace("%", "%%")
    if request.job_var:
        limit = request.options.get("--max-jobs-run")
        argv.append(f"--array={request.first}-{request.last}" + (f"%{limit}" if limit else ""))
        log = request.substitute(log, "%a")
    argv.append("--output=" + log)
    argv += shlex.split(os.environ.get("SLURM_PL_OPTS", ""))
    return argv + [script]


def log_tail(log: str, size: int = 16384) -> str:
    """The end of a log ('' when there is none)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def ended(log: str) -> bool:
    """Whether the log's last line is its job's ``# Ended (code N)`` line (its task is done)."""
    lines = log_tail(log, 4096).rstrip("\n").split("\n")
    return ended_code(lines[-1]) is not None


def submit(argv: list[str], logs: list[str]) -> tuple[int | None, str | None, str]:
    """Runs sbatch --wait: (its exit status, the job id or None, its stderr); the status is None
    when every log had ended first. A TERM, INT or HUP meanwhile cancels the job (sbatch
    --wait alone would leave it running) and exits."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    job_id = None

    def cancel(signum, _frame):
        if job_id:
            try:  # (scancel retries for long when the controller is down)
                done = subprocess.run(["scancel", job_id], stderr=subprocess.DEVNULL,
                                      timeout=15).returncode == 0
            except subprocess.TimeoutExpired:
                done = False
            print(f"slurm.pl: {signal.Signals(signum).name}: "
                  + (f"cancelled job {job_id}" if done else f"could not cancel job {job_id}"),
                  file=sys.stderr)
        proc.terminate()
        sys.exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, cancel)
    # --parsable: "<job id>[;<cluster>]", printed at submission, before the wait
    first = proc.stdout.readline().strip()
    if re.match(r"^\d+(;\S+)?$", first):
        job_id = first.split(";")[0]
    code = None
    # sbatch --wait asks Slurm every 2 s, backing off to every 10 s: for short jobs (Kaldi's
    # kind) that is most of the time. Each log's last line is its "# Ended" line once its
    # task is done, so watching the logs ends the wait as soon as the last task has; sbatch
    # --wait remains the end for tasks that never write one (cancelled, killed, lost).
    pending = list(logs) if job_id else []
    while True:
        try:
            code = proc.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pending = [log for log in pending if not ended(log)]
            if job_id and not pending:
                proc.terminate()  # sbatch leaves the job alone on TERM: it has ended anyway
                proc.wait()
                code = None
                break
    stderr = proc.stderr.read()
    return code, job_id, stderr


def main():
    request = parse(sys.argv[1:], "slurm.pl")
    jobs = request.jobs()
    logs = [request.substitute(request.log, job) for job in jobs]
    for log in logs:  # an old log must not pass for this run's; Slurm does not make dirs
        if os.path.isfile(log):
            os.remove(log)
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    # The batch script goes to q/ beside the (first) log, named after the log without the
    # job variable and .log: log/stats.JOB.log -> log/q/stats.sh (as Kaldi's queue.pl).
    stem = os.path.basename(request.log)
    stem = re.sub(r"\.log$", "", stem)
    if request.job_var:
        stem = re.sub(rf"[._-]?{re.escape(request.job_var)}", "", stem)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "job"
    queue_dir = os.path.join(os.path.dirname(os.path.abspath(logs[0])), "q")
    os.makedirs(queue_dir, exist_ok=True)
    script = os.path.join(queue_dir, f"{stem}.sh")
    with open(script, "w") as f:
        f.write(batch_script(request))
    name = request.options.get("--name", stem)
    code, job_id, stderr = submit(sbatch_argv(request, name, script), logs)
    if job_id is None:
        gpus = request.options.get("--gpu", "0")
        hint = ("; no GPU on this cluster? (`sinfo -o %G` lists its GRES; --gpu 0 asks for "
                "none, e.g. a recipe's --ngpu 0)" if gpus != "0" and "gres" in stderr.lower()
                else "")
        print(f"slurm.pl: sbatch failed (exit {code}), no job submitted{hint}:\n"
              f"{stderr.rstrip()}\n  command: {shlex.join(sbatch_argv(request, name, script))}",
              file=sys.stderr)
        return 1
    # (the last "# Ended" line near the end: Slurm may append its own lines after it)
    failed = [log for log in logs if ended_code(log_tail(log)) != 0]
    if failed:
        first = failed[0]
        why = ("" if ended_code(log_tail(first)) is not None
               else " (no '# Ended' line: the job was killed, cancelled or never started)")
        extra = f"; sbatch said: {stderr.strip()}" if stderr.strip() else ""
        print(f"slurm.pl: {len(failed)} / {len(jobs)} failed (job {job_id}), log is in "
              f"{first}{why}{extra}", file=sys.stderr)
        return 1
    if code not in (0, None):  # every log ends with code 0, yet Slurm says the job failed
        print(f"slurm.pl: sbatch --wait exited {code} for job {job_id} although every log "
              f"ends with code 0 (first log {logs[0]}): {stderr.strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
