"""tools/utils/run.pl and slurm.pl: Kaldi's ``JOB=1:N LOG COMMAND`` semantics."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_PL = REPO / "tools" / "utils" / "run.pl"
SLURM_PL = REPO / "tools" / "utils" / "slurm.pl"


def call(argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=60)


def test_run_pl_runs_each_job_with_its_log(tmp_path):
    proc = call([RUN_PL, "JOB=1:3", "log/echo.JOB.log", "echo", "job", "JOB", "has a space",
                 "|", "tr", "a-z", "A-Z"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for job in (1, 2, 3):
        log = (tmp_path / "log" / f"echo.{job}.log").read_text()
        assert f"JOB {job} HAS A SPACE\n" in log
        assert "# Ended (code 0)" in log


def test_run_pl_reports_failed_jobs(tmp_path):
    proc = call([RUN_PL, "--max-jobs-run", "1", "JOB=1:3", "log/x.JOB.log",
                 "test", "JOB", "-ne", "2"], tmp_path)
    assert proc.returncode == 1
    assert "1 / 3 failed, log is in log/x.2.log" in proc.stderr
    assert "# Ended (code 1)" in (tmp_path / "log" / "x.2.log").read_text()


def test_run_pl_single_job_and_ignored_options(tmp_path):
    proc = call([RUN_PL, "--gpu", "1", "--mem", "2G", "out/single.log", "echo", "JOB"],
                tmp_path)
    assert proc.returncode == 0
    assert "\nJOB\n" in (tmp_path / "out" / "single.log").read_text()  # no job var: untouched
    assert call([RUN_PL, "--bogus", "1", "a.log", "true"], tmp_path).returncode == 2


FAKE_SBATCH = """#!/usr/bin/env python3
# Stand-in for sbatch --wait: runs the script for each array task, output to --output.
import os, subprocess, sys
args = sys.argv[1:]
opts = dict(a[2:].split("=", 1) for a in args[:-1] if a.startswith("--") and "=" in a)
open(os.environ["SBATCH_LOG"], "a").write(" ".join(args) + "\\n")
first, last = (opts["array"].split("%")[0].split("-") if "array" in opts else ("0", "0"))
worst = 0
for task in range(int(first), int(last) + 1):
    out = opts["output"].replace("%a", str(task))
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task))
    with open(out, "w") as f:
        worst = max(worst, subprocess.call(["bash", args[-1]], stdout=f, stderr=f, env=env))
sys.exit(worst)
"""


def test_slurm_pl_submits_one_waited_array(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               SBATCH_LOG=str(tmp_path / "sbatch.log"))
    proc = call([SLURM_PL, "--gpu", "1", "--mem", "4G", "JOB=1:2", "log/t.JOB.log",
                 "echo", "task", "JOB"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    submitted = (tmp_path / "sbatch.log").read_text()
    for flag in ("--wait", "--gres=gpu:1", "--mem=4G", "--array=1-2"):
        assert flag in submitted
    for job in (1, 2):
        log = (tmp_path / "log" / f"t.{job}.log").read_text()
        assert f"task {job}\n" in log and "# Ended (code 0)" in log
    failing = call([SLURM_PL, "JOB=1:2", "log/f.JOB.log", "test", "JOB", "-eq", "1"],
                   tmp_path, env)
    assert failing.returncode == 1 and "1 / 2 failed" in failing.stderr
