"""Kill the SpatialVCTK recipe with SIGKILL mid-stage, rerun the same command, check it resumes.

Stage 1 (simulation): the rerun completes the data, every dir passes ``validate-data`` and
no utterance is missing or duplicated; asking for other data options on the same data dir
is an error that leaves the data alone. Stage 5 (training): the rerun continues from the
last checkpoint through ESPnet's ``--resume`` (epoch 2 onwards), not from scratch. Stage 6
(separation) is skipped while the model is the one it used, and redone once it is trained on.
Then the checkpoint itself: a process killed in the middle of writing epoch k's
``checkpoint.pth`` (``tests/fault_injection``) is resumed from epoch k - 1's full state, and a
torn ``checkpoint.pth`` (what that kill leaves where saves are not atomic) is moved aside and
training resumes from the newest intact ``<N>epoch.pth``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sepplug.datadir.validate import validate

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "spatialvctk"
FAULTS = Path(__file__).resolve().parent / "fault_injection"
SETS = {"train": 60, "dev": 4, "test_easy": 4, "test_hard": 4, "test_both": 4,
        "train_hard_extra": 4}


def recipe_command(work: Path, *extra: str) -> list[str]:
    sizes = (f"--segment 2.0 --n_train {SETS['train']} --n_dev {SETS['dev']} "
             f"--n_test {SETS['test_easy']} --n_hard_extra {SETS['train_hard_extra']} "
             f"--wav_dir {work / 'wav'}")
    return ["./run.sh", "--nj", "2", "--datadir", str(work / "data"),
            "--dumpdir", str(work / "dump"), "--expdir", str(work / "exp"),
            "--corpus_dir", str(work / "corpus"),
            "--corpus_opts", "--num_speakers 12 --utts_per_speaker 4",
            "--local_data_opts", sizes, *extra]


def kill_when(command: list[str], ready: Callable[[], bool], log: Path,
              timeout: float = 400.0) -> None:
    """Start ``command`` in its own process group; SIGKILL the group once ``ready()``."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=RECIPE, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                if proc.poll() is not None:
                    pytest.fail(f"the recipe ended (rc {proc.returncode}) before the kill "
                                f"point: {log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"kill point not reached in {timeout} s: {log}")
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_to_end(command: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with open(log, "w") as out:
        rc = subprocess.call(command, cwd=RECIPE, stdout=out, stderr=subprocess.STDOUT,
                             timeout=900, env=env)
    if env is None:
        assert rc == 0, log.read_text()[-3000:]
    return rc


def killed_in_save(name: str, k: int) -> dict[str, str]:
    """The environment in which the k-th ``torch.save`` to a file named like ``name`` is
    killed halfway (``tests/fault_injection/sitecustomize.py``)."""
    path = os.pathsep.join(p for p in (str(FAULTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "SEPPLUG_KILL_SAVE": f"{name}:{k}"}


def keys(scp: Path) -> list[str]:
    return [line.split(" ", 1)[0] for line in scp.read_text().splitlines()]


def test_sigkill_in_stage_1_and_stage_5_then_resume(tmp_path):
    work = tmp_path

    # ---- stage 1, killed while the simulation jobs write their temp audio --------------
    stage1 = recipe_command(work, "--stage", "1", "--stop-stage", "1")
    temp_mix = work / "wav" / ".train.tmp" / "mix"
    kill_when(stage1, lambda: temp_mix.is_dir() and len(list(temp_mix.glob("*.wav"))) >= 3,
              work / "stage1_killed.log")
    assert not (work / "data" / ".done.data_8k").exists()
    assert not (work / "data" / "train" / "wav.scp").exists()
    run_to_end(stage1, work / "stage1_rerun.log")
    for name, size in SETS.items():
        data_dir = work / "data" / name
        assert validate(data_dir, expected_fs=8000, expected_channels=6) == [], name
        for table in ("wav.scp", "spk1.scp", "spk2.scp", "spk1_mc.scp", "spk2_mc.scp"):
            utts = keys(data_dir / table)
            assert len(utts) == size and len(set(utts)) == size, (name, table)
    leftovers = [p for d in (work / "data", work / "wav") for p in d.glob(".*.tmp")]
    assert leftovers == []

    # ---- stage 1 again with other data options: a clear error, the data untouched ------
    other = list(stage1)
    other[other.index("--local_data_opts") + 1] += " --n_test 5"
    before = (work / "data" / "test_easy" / "wav.scp").read_text()
    result = subprocess.run(other, cwd=RECIPE, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "was made with" in result.stderr and "--n_test 5" in result.stderr, result.stderr
    assert (work / "data" / "test_easy" / "wav.scp").read_text() == before

    # ---- stage 5, killed during epoch 2 (epoch 1's checkpoint is complete) -------------
    tiny = "--num_iters_per_epoch 3 --batch_size 2 --valid_batch_size 2 --chunk_length 8000"
    train = recipe_command(work, "--stage", "2", "--stop-stage", "5", "--enh_tag", "resume",
                           "--enh_args", f"--max_epoch 3 {tiny}")
    exp = work / "exp" / "enh_resume"
    log = exp / "train.log"
    kill_when(train, lambda: log.is_file() and "2/3epoch started" in log.read_text(),
              work / "stage5_killed.log")
    assert (exp / "checkpoint.pth").is_file()
    assert not (exp / ".done.train").exists()
    run_to_end(train, work / "stage5_rerun.log")
    assert (exp / ".done.train").exists()
    first, second = (exp / "train.log.1").read_text(), log.read_text()
    assert "1/3epoch started" in first
    assert f"The training was resumed using {exp}/checkpoint.pth" in second
    assert "1/3epoch started" not in second, "the rerun trained from scratch"
    assert "2/3epoch started" in second and "3/3epoch started" in second
    assert "resuming from" in (work / "stage5_rerun.log").read_text()

    # ---- stage 6: skipped while the model is the same, redone once it is trained on ----
    score = recipe_command(work, "--stage", "6", "--stop-stage", "6", "--enh_tag", "resume",
                           "--test_sets", "test_easy", "--inference_model", "latest.pth")
    marker = exp / "enhanced_test_easy" / ".done.separate"
    run_to_end(score, work / "stage6.log")
    made_from = marker.read_text()
    run_to_end(score, work / "stage6_again.log")
    assert "already scored, skipped" in (work / "stage6_again.log").read_text()
    (exp / ".done.train").unlink()
    run_to_end(recipe_command(work, "--stage", "5", "--stop-stage", "5", "--enh_tag", "resume",
                              "--enh_args", f"--max_epoch 4 {tiny}"), work / "stage5_more.log")
    run_to_end(score, work / "stage6_retrained.log")
    assert "stage 6: separate test_easy with" in (work / "stage6_retrained.log").read_text()
    assert marker.read_text() != made_from
    assert (exp / "enhanced_test_easy" / "scoring").is_dir()

    # ---- stage 5, killed while writing epoch 6's checkpoint: resumes from epoch 5 --------
    (exp / ".done.train").unlink()
    six = recipe_command(work, "--stage", "5", "--stop-stage", "5", "--enh_tag", "resume",
                         "--enh_args", f"--max_epoch 6 {tiny}")
    killed = work / "stage5_killed_in_save.log"
    rc = run_to_end(six, killed, env=killed_in_save("checkpoint.pth", 2))
    assert rc != 0, killed.read_text()[-3000:]
    assert "6/6epoch started" in log.read_text()  # the kill came at the end of epoch 6
    states = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert states["reporter"]["epoch"] == 5 and states["optimizers"][0]["state"]
    assert not (exp / "6epoch.pth").exists()
    run_to_end(six, work / "stage5_after_kill_in_save.log")
    resumed = log.read_text()
    assert f"resuming from {exp}/checkpoint.pth (epoch 5: model, optimizer, scheduler)" in resumed
    assert "5/6epoch started" not in resumed and "6/6epoch started" in resumed
    assert (exp / "6epoch.pth").is_file() and not list(exp.glob(".*.tmp"))

    # ---- a torn checkpoint.pth: moved aside, resumed from the newest intact epoch ------------
    (exp / ".done.train").unlink()
    torn = (exp / "checkpoint.pth").read_bytes()
    (exp / "checkpoint.pth").write_bytes(torn[: len(torn) // 2])
    run_to_end(recipe_command(work, "--stage", "5", "--stop-stage", "5", "--enh_tag", "resume",
                              "--enh_args", f"--max_epoch 7 {tiny}"), work / "stage5_torn.log")
    resumed = log.read_text()
    assert f"{exp}/checkpoint.pth cannot be loaded" in resumed
    assert "moved to checkpoint.pth.corrupt" in resumed
    assert (exp / "checkpoint.pth.corrupt").is_file()
    assert "resuming from 6epoch.pth (epoch 6" in resumed
    assert "6/7epoch started" not in resumed and "7/7epoch started" in resumed
    assert (exp / ".done.train").exists()
