"""Shared part of run.pl / slurm.pl: Kaldi's ``<cmd> [opts] [JOB=1:N] LOG COMMAND...`` interface.

Kaldi semantics kept: the job variable (any upper-case name, usually JOB) is replaced by the
job number in the log path and the command; arguments without whitespace are passed as they
are (so ``"a|b"`` pipes work), others are quoted; the command runs under bash; each log gets
``# <command>``, ``# Started at``, and ``# Ended (code N) at ...`` lines; the exit status is
non-zero when any job failed.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field

_JOB_RANGE = re.compile(r"^([A-Z][A-Z0-9_]*)=(\d+)(?::(\d+))?$")
#: options taking a value; those a backend does not use are accepted and ignored (as Kaldi)
VALUE_OPTIONS = ("--max-jobs-run", "--gpu", "--mem", "--num-threads", "--time", "--config",
                 "--partition", "--name", "--num-nodes")


@dataclass
class JobRequest:
    """A parsed command line."""

    log: str
    command: str
    job_var: str | None = None
    first: int = 1
    last: int = 1
    options: dict[str, str] = field(default_factory=dict)

    def jobs(self) -> list[int | None]:
        return list(range(self.first, self.last + 1)) if self.job_var else [None]

    def substitute(self, text: str, job: int | str | None) -> str:
        return text if self.job_var is None else text.replace(self.job_var, str(job))


def parse(argv: list[str], prog: str) -> JobRequest:
    """Parse ``[--opt value ...] [VAR=a:b] LOG COMMAND...`` (exits with usage on errors)."""
    options: dict[str, str] = {}
    args = list(argv)
    while args and args[0].startswith("--"):
        name = args.pop(0)
        if "=" in name:  # (only the name's "_" become "-": --partition=gpu_long stays)
            name, value = name.split("=", 1)
            name = name.replace("_", "-")
        elif args:
            name = name.replace("_", "-")
            value = args.pop(0)
        else:
            _usage(prog, f"option {name} needs a value")
        if name not in VALUE_OPTIONS:
            _usage(prog, f"unknown option {name}")
        options[name] = value
    request_var, first, last = None, 1, 1
    if args and (match := _JOB_RANGE.match(args[0])):
        args.pop(0)
        request_var, first = match.group(1), int(match.group(2))
        last = int(match.group(3)) if match.group(3) else first
        if last < first:
            _usage(prog, f"empty job range {request_var}={first}:{last}")
    if len(args) < 2:
        _usage(prog, "need a log file and a command")
    log, command = args[0], " ".join(a if a and not re.search(r"\s", a) else shlex.quote(a)
                                     for a in args[1:])
    return JobRequest(log, command, request_var, first, last, options)


def _usage(prog: str, problem: str) -> None:
    print(f"{prog}: {problem}\nusage: {prog} [--max-jobs-run N] [--gpu N] [--mem M] "
          f"[--num-threads N] [--time T] [--partition P] [--name NAME] [--num-nodes K] "
          f"[JOB=1:N] <log-file> <command...>", file=sys.stderr)
    sys.exit(2)


def ended_code(log_text: str) -> int | None:
    """The exit code a job log reports, or None when it has no end line."""
    codes = re.findall(r"^# Ended \(code (-?\d+)\)", log_text, flags=re.M)
    return int(codes[-1]) if codes else None
