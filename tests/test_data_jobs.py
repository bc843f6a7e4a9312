"""tools/utils/run.pl and slurm.pl: Kaldi's ``JOB=1:N LOG COMMAND`` semantics."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

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
# Stand-in for sbatch --wait --parsable: prints a job id, runs the script for each array
# task with its output to --output (%a: the task, %% a %; like Slurm, it makes no dirs);
# FAKE_SBATCH_NO_GPU=1: a cluster without GPUs (a --gres request is refused).
import os, subprocess, sys
args = sys.argv[1:]
opts = dict(a[2:].split("=", 1) for a in args[:-1] if a.startswith("--") and "=" in a)
open(os.environ["SBATCH_LOG"], "a").write(" ".join(args) + "\\n")
if "gres" in opts and os.environ.get("FAKE_SBATCH_NO_GPU"):
    sys.exit("sbatch: error: Invalid generic resource (gres) specification")
print("4242", flush=True)
first, last = (opts["array"].split("%")[0].split("-") if "array" in opts else ("0", "0"))
worst = 0
for task in range(int(first), int(last) + 1):
    out = opts["output"].replace("%a", str(task)).replace("%%", "%")
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task))
    if not os.path.isdir(os.path.dirname(out)):
        worst = 1
        continue
    with open(out, "w") as f:
        worst = max(worst, subprocess.call(["bash", args[-1]], stdout=f, stderr=f, env=env))
sys.exit(worst)
"""


@pytest.fixture
def fake_sbatch(tmp_path):
    """The environment that puts FAKE_SBATCH first on PATH (its calls go to sbatch.log)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
                SBATCH_LOG=str(tmp_path / "sbatch.log"))


def test_slurm_pl_submits_one_waited_array(tmp_path, fake_sbatch):
    env = fake_sbatch
    proc = call([SLURM_PL, "--gpu", "1", "--mem", "4G", "--max-jobs-run", "1", "JOB=1:2",
                 "log/t.JOB.log", "echo", "task", "JOB"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    submitted = (tmp_path / "sbatch.log").read_text()
    assert len(submitted.splitlines()) == 1  # one array for both jobs
    for flag in ("--wait", "--parsable", "--gres=gpu:1", "--mem=4G", "--array=1-2%1",
                 f"--output={tmp_path}/log/t.%a.log", f"{tmp_path}/log/q/t.sh"):
        assert flag in submitted.split()
    for job in (1, 2):
        log = (tmp_path / "log" / f"t.{job}.log").read_text()
        assert log.startswith(f"# echo task {job}\n")  # the command as the job ran it
        assert f"\ntask {job}\n" in log and "# Ended (code 0)" in log
    failing = call([SLURM_PL, "JOB=1:2", "log/f.JOB.log", "test", "JOB", "-eq", "1"],
                   tmp_path, env)
    assert failing.returncode == 1
    assert "1 / 2 failed (job 4242), log is in log/f.2.log" in failing.stderr


def test_slurm_pl_no_gres_for_gpu_0_and_literal_percent(tmp_path, fake_sbatch):
    proc = call([SLURM_PL, "--gpu", "0", "--num-threads", "2", "out/50%.log", "echo", "JOB"],
                tmp_path, fake_sbatch)
    assert proc.returncode == 0, proc.stderr
    submitted = (tmp_path / "sbatch.log").read_text().split()
    assert not any(a.startswith("--gres") or a.startswith("--array") for a in submitted)
    assert "--cpus-per-task=2" in submitted and f"--output={tmp_path}/out/50%%.log" in submitted
    assert "\nJOB\n" in (tmp_path / "out" / "50%.log").read_text()  # no job var: untouched


def test_slurm_pl_makes_log_dirs_and_drops_stale_logs(tmp_path, fake_sbatch):
    # the job variable in a dir name: each job's dir is made (Slurm would not make it)
    proc = call([SLURM_PL, "JOB=1:2", "split/JOB/log/run.log", "true"], tmp_path, fake_sbatch)
    assert proc.returncode == 0, proc.stderr
    assert "# Ended (code 0)" in (tmp_path / "split" / "2" / "log" / "run.log").read_text()
    # a log of an earlier, successful run must not pass for a job that never wrote one
    stale = tmp_path / "log" / "s.1.log"
    stale.parent.mkdir()
    stale.write_text("# Ended (code 0) at an earlier run\n")
    env = dict(fake_sbatch, PATH=f"{tmp_path / 'bin'}:/usr/bin:/bin")
    (tmp_path / "bin" / "sbatch").write_text("#!/bin/sh\necho 4243\nexit 1\n")  # runs nothing
    proc = call([SLURM_PL, "JOB=1:1", "log/s.JOB.log", "true"], tmp_path, env)
    assert proc.returncode == 1 and not stale.exists()
    assert "log is in log/s.1.log (no '# Ended' line" in proc.stderr


def test_slurm_pl_reports_a_refused_submission(tmp_path, fake_sbatch):
    env = dict(fake_sbatch, FAKE_SBATCH_NO_GPU="1")
    proc = call([SLURM_PL, "--gpu", "1", "JOB=1:2", "log/g.JOB.log", "true"], tmp_path, env)
    assert proc.returncode == 1
    assert "sbatch failed (exit 1), no job submitted; no GPU on this cluster?" in proc.stderr
    assert "Invalid generic resource" in proc.stderr and "--gpu 0" in proc.stderr
