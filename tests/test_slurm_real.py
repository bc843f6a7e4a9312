"""tools/utils/slurm.pl against a real Slurm: the one-node cluster of tools/slurm_local.sh.

Opt-in, so that the normal suite stays fast and hermetic: with SEPPLUG_TEST_SLURM=1 the
module uses that cluster when it runs (egs/spatialvctk/local/ci_slurm.sh starts it, then runs
these tests) and otherwise starts it (root; Slurm is installed from the distribution's
packages when missing) and stops it again at the end. Each test takes a few seconds: sbatch
--wait polls its job every 2 s or more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM_PL = REPO / "tools" / "utils" / "slurm.pl"
SLURM_LOCAL = REPO / "tools" / "slurm_local.sh"

pytestmark = [
    pytest.mark.skipif(os.environ.get("SEPPLUG_TEST_SLURM") != "1",
                       reason="real-Slurm tests are opt-in: SEPPLUG_TEST_SLURM=1 runs them on "
                              "tools/slurm_local.sh's one-node cluster (needs root)"),
    pytest.mark.xdist_group("slurm_real"),  # one cluster, one worker
]


@pytest.fixture(scope="module")
def slurm_env():
    """The environment whose SLURM_CONF points at the local cluster (started when needed)."""
    state_dir = Path(os.environ.get("SEPPLUG_SLURM_DIR", "/tmp/sepplug_slurm"))
    running = subprocess.run([SLURM_LOCAL, "status"], capture_output=True).returncode == 0
    if not running:
        if os.geteuid() != 0:
            pytest.skip("tools/slurm_local.sh needs root to start a Slurm cluster")
        start = subprocess.run([SLURM_LOCAL, "start"], capture_output=True, text=True,
                               timeout=600)
        assert start.returncode == 0, f"tools/slurm_local.sh start failed:\n{start.stderr}"
    env = dict(os.environ, SLURM_CONF=str(state_dir / "slurm.conf"))
    try:
        yield env
    finally:
        if not running:
            subprocess.run([SLURM_LOCAL, "stop"], capture_output=True, timeout=120)


def call(argv, cwd, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def job_records(env: dict, job_id: str, final: bool = True) -> list[dict[str, str]]:
    """Slurm's records of an array job's tasks (scontrol: finished jobs stay MinJobAge s);
    final: once none is pending, running or completing (slurm.pl returns when the logs have
    ended, which can be a moment before Slurm has the tasks done)."""
    deadline = time.time() + 30
    while True:
        out = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, check=True,
                             capture_output=True, text=True).stdout
        records = [dict(field.split("=", 1) for field in line.split() if "=" in field)
                   for line in out.splitlines() if line.strip()]
        busy = {"PENDING", "RUNNING", "COMPLETING"} & {r["JobState"] for r in records}
        if not final or not busy:
            return records
        assert time.time() < deadline, f"job {job_id} still {busy} after 30 s"
        time.sleep(0.2)


def submitted_id(stderr_or_log: str) -> str:
    return stderr_or_log.split("(job ", 1)[1].split(")", 1)[0]


def last_job_id(env: dict, name: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%F"], env=env,
                         check=True, capture_output=True, text=True).stdout.split()
    assert out, f"no job named {name} in squeue -t all"
    return str(max(int(i) for i in out))


def test_array_runs_every_task_with_its_log_and_environment(tmp_path, slurm_env):
    env = dict(slurm_env, SEPPLUG_PROBE="exported")
    proc = call([SLURM_PL, "JOB=1:3", "exp/JOB/log/probe.JOB.log", "echo", "task", "JOB",
                 "$SEPPLUG_PROBE", "|", "tr", "a-z", "A-Z"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    for job in (1, 2, 3):
        log = (tmp_path / "exp" / str(job) / "log" / f"probe.{job}.log").read_text()
        assert log.startswith(f"# echo task {job} $SEPPLUG_PROBE | tr a-z A-Z\n")
        assert f"\nTASK {job} EXPORTED\n" in log and "# Ended (code 0)" in log
    assert (tmp_path / "exp" / "1" / "log" / "q" / "probe.sh").is_file()
    # one array of three tasks, all completed, on no GPU
    records = job_records(slurm_env, last_job_id(slurm_env, "probe"))
    assert sorted(r["ArrayTaskId"] for r in records) == ["1", "2", "3"]
    assert {r["ArrayJobId"] for r in records} == {records[0]["ArrayJobId"]}
    assert {r["JobState"] for r in records} == {"COMPLETED"}
    assert {r.get("TresPerNode", "") for r in records} == {""}


def test_a_failed_task_fails_the_call_and_names_its_log(tmp_path, slurm_env):
    proc = call([SLURM_PL, "JOB=1:3", "log.JOB", "test", "JOB", "-ne", "2", "||", "exit", "3"],
                tmp_path, slurm_env)
    assert proc.returncode == 1
    assert "1 / 3 failed" in proc.stderr and "log is in log.2" in proc.stderr
    assert "# Ended (code 3)" in (tmp_path / "log.2").read_text()
    records = job_records(slurm_env, submitted_id(proc.stderr))
    states = {r["ArrayTaskId"]: (r["JobState"], r["ExitCode"]) for r in records}
    assert states == {"1": ("COMPLETED", "0:0"), "2": ("FAILED", "3:0"), "3": ("COMPLETED", "0:0")}


def test_resources_gpu_and_throttle(tmp_path, slurm_env):
    # --gpu 1 on a cluster without GPUs: refused at once, with the way out
    proc = call([SLURM_PL, "--gpu", "1", "gpu.log", "true"], tmp_path, slurm_env)
    assert proc.returncode == 1 and not (tmp_path / "gpu.log").exists()
    assert "no job submitted; no GPU on this cluster?" in proc.stderr and "--gpu 0" in proc.stderr
    # --gpu 0 (what a recipe's --ngpu 0 passes after cmd.sh's --gpu 1): no GRES requested;
    # --max-jobs-run 1: the array runs one task at a time
    proc = call([SLURM_PL, "--gpu", "1", "--gpu", "0", "--num-threads", "2", "--mem", "100M",
                 "--max-jobs-run", "1", "JOB=1:2", "res.JOB.log",
                 "echo", "$SLURM_CPUS_PER_TASK", "$SLURM_MEM_PER_NODE"], tmp_path, slurm_env)
    assert proc.returncode == 0, proc.stderr
    assert "\n2 100\n" in (tmp_path / "res.2.log").read_text()
    record = job_records(slurm_env, last_job_id(slurm_env, "res"))[0]
    assert record.get("TresPerNode", "") == ""
    assert record["ArrayTaskThrottle"] == "1"


def test_a_killed_slurm_pl_cancels_its_jobs(tmp_path, slurm_env):
    proc = subprocess.Popen([str(SLURM_PL), "JOB=1:2", "sleep.JOB.log", "sleep", "300"],
                            cwd=tmp_path, env=slurm_env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "sleep.2.log").exists():  # both tasks started
        assert time.time() < deadline and proc.poll() is None, "the tasks did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    stderr = proc.stderr.read()
    assert "SIGTERM: cancelled job" in stderr
    job_id = stderr.split("cancelled job ", 1)[1].split()[0]
    assert {r["JobState"] for r in job_records(slurm_env, job_id)} == {"CANCELLED"}


def test_espnet_launcher_form_runs_srun_in_the_allocation(tmp_path, slurm_env):
    # espnet2.bin.launch's call for K nodes: slurm.pl --gpu 0 --num_threads 1 --num_nodes K
    # --name NAME LOG srun --export=ALL <training>; srun runs one task per node
    proc = call([SLURM_PL, "--gpu", "0", "--num_threads", "1", "--num_nodes", "1",
                 "--name", "launch", "launch.log", "srun", "--export=ALL",
                 "bash", "-c", "echo rank=$SLURM_PROCID of $SLURM_NTASKS"], tmp_path, slurm_env)
    assert proc.returncode == 0, proc.stderr
    assert "\nrank=0 of 1\n" in (tmp_path / "launch.log").read_text()
    assert job_records(slurm_env, last_job_id(slurm_env, "launch"))[0]["NumNodes"] == "1"
    # more nodes than the cluster has: refused at submission (EnforcePartLimits), not pending
    proc = call([SLURM_PL, "--num_nodes", "2", "two.log", "true"], tmp_path, slurm_env,
                timeout=30)
    assert proc.returncode == 1 and "Node count specification invalid" in proc.stderr
