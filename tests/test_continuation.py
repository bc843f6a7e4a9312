"""A second training phase from another run's checkpoint (sepplug.train.continuation,
enh_train --continue_from)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sepplug.errors import DataError
from sepplug.train.continuation import RECORD, seed_continuation
from tests.enh_task import conv_tcn_config
from tests.test_checkpoint_resume import espnet_checkpoint, tiny_training_state

REPO = Path(__file__).resolve().parents[1]


def _source(tmp_path: Path, epoch: int = 3) -> Path:
    model, optimizer, scheduler = tiny_training_state()
    path = tmp_path / "phase1" / "checkpoint.pth"
    path.parent.mkdir()
    torch.save(espnet_checkpoint(model, optimizer, scheduler, epoch, (5.0, 4.0, 3.0)), path)
    return path


def test_the_new_exp_dir_gets_the_source_state_without_its_stats(tmp_path):
    source = _source(tmp_path)
    message = seed_continuation(tmp_path / "phase2", source, max_epoch=5)
    assert "epoch 3" in message and "epochs 4-5" in message
    seeded = torch.load(tmp_path / "phase2" / "checkpoint.pth", weights_only=False)
    original = torch.load(source, weights_only=False)
    assert seeded["reporter"] == {"epoch": 3, "stats": {}}
    assert seeded["optimizers"][0]["state"].keys() == original["optimizers"][0]["state"].keys()
    assert all(torch.equal(seeded["model"][k], v) for k, v in original["model"].items())
    assert (tmp_path / "phase2" / RECORD).read_text() == f"{source.resolve()}\t3\n"
    # a rerun (the new dir trains on its own state) changes nothing
    assert seed_continuation(tmp_path / "phase2", source, max_epoch=5) is None


@pytest.mark.parametrize(("case", "match"), [
    ("missing", "no such checkpoint"),
    ("torn", "cannot be loaded"),
    ("weights_only", "not an ESPnet training checkpoint"),
    ("max_epoch", "leaves nothing to train"),
    ("no_resume", "needs --resume true"),
    ("other_source", "use a new exp dir"),
    ("own_training", "holds a training of its own"),
])
def test_bad_continuations_are_refused_and_write_nothing(tmp_path, case, match):
    source, exp, max_epoch, resume = _source(tmp_path), tmp_path / "phase2", 5, True
    if case == "missing":
        source = tmp_path / "nowhere" / "checkpoint.pth"
    elif case == "torn":
        source.write_bytes(source.read_bytes()[:100])
    elif case == "weights_only":
        torch.save(torch.nn.Linear(3, 2).state_dict(), source)
    elif case == "max_epoch":
        max_epoch = 3
    elif case == "no_resume":
        resume = False
    elif case == "other_source":
        seed_continuation(exp, source, 5)
        other = tmp_path / "other.pth"
        other.write_bytes(source.read_bytes())
        source = other
    elif case == "own_training":
        exp.mkdir()
        (exp / "checkpoint.pth").write_bytes(source.read_bytes())
    before = sorted(p.name for p in exp.iterdir()) if exp.exists() else []
    with pytest.raises(DataError, match=match) as err:
        seed_continuation(exp, source, max_epoch, resume)
    assert str(source) in str(err.value) or case in ("no_resume", "own_training")
    assert (sorted(p.name for p in exp.iterdir()) if exp.exists() else []) == before


def _write_data(root: Path, n: int = 6, samples: int = 4000) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for name in ("wav", "spk1"):
        lines = []
        for i in range(n):
            sf.write(root / f"{name}_{i}.wav", 0.1 * rng.standard_normal(samples), 8000)
            lines.append(f"utt{i} {root / f'{name}_{i}.wav'}\n")
        (root / f"{name}.scp").write_text("".join(lines))
    (root / "speech_mix_shape").write_text("".join(f"utt{i} {samples}\n" for i in range(n)))


def _train(tmp_path: Path, exp: str, *extra: str) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    if not data.exists():
        _write_data(data)
    config = tmp_path / "config.yaml"
    config.write_text(conv_tcn_config(1, 8, 2, 8) + "criterions:\n"
                      "  - name: si_snr\n    conf: {eps: 1.0e-7}\n"
                      "    wrapper: fixed_order\n    wrapper_conf: {weight: 1.0}\n"
                      "optim: adam\noptim_conf: {lr: 0.01}\nscheduler: steplr\n"
                      "scheduler_conf: {step_size: 1, gamma: 0.5}\nkeep_nbest_models: 5\n")
    argv = ["--config", str(config), "--output_dir", str(tmp_path / exp), "--ngpu", "0",
            "--batch_size", "2", "--valid_batch_size", "2", "--num_workers", "0",
            "--use_tensorboard", "false", "--resume", "true", "--seed", "0",
            "--fold_length", "80000", *extra]
    for mode in ("train", "valid"):
        argv += [f"--{mode}_data_path_and_name_and_type", f"{data}/wav.scp,speech_mix,sound",
                 f"--{mode}_data_path_and_name_and_type", f"{data}/spk1.scp,speech_ref1,sound",
                 f"--{mode}_shape_file", f"{data}/speech_mix_shape"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "sepplug.bin.enh_train", *argv],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_a_continuation_matches_one_longer_run(tmp_path):
    """Phase 1: 2 epochs (lr 0.01 halved after each); phase 2 from its checkpoint to epoch
    4: epochs 3-4 only, at the rates the schedule had reached; the same as one 4-epoch run."""
    for exp, extra in (("phase1", ["--max_epoch", "2"]), ("whole", ["--max_epoch", "4"])):
        proc = _train(tmp_path, exp, *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _train(tmp_path, "phase2", "--max_epoch", "4", "--continue_from",
                  str(tmp_path / "phase1" / "checkpoint.pth"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stderr  # (enh.sh makes it train.log)
    assert "continuing" in log and "for epochs 3-4" in log
    assert "1epoch results" not in log and "3epoch results" in log and "4epoch results" in log
    assert sorted(p.name for p in (tmp_path / "phase2").glob("*epoch.pth")) == [
        "3epoch.pth", "4epoch.pth"]
    final = torch.load(tmp_path / "phase2" / "checkpoint.pth", weights_only=False)
    assert final["optimizers"][0]["param_groups"][0]["lr"] == pytest.approx(0.01 / 16)
    whole = torch.load(tmp_path / "whole" / "4epoch.pth")
    continued = torch.load(tmp_path / "phase2" / "4epoch.pth")
    assert all(torch.allclose(continued[k], v, atol=1e-6) for k, v in whole.items())
    # a continuation from a missing checkpoint fails with the path named
    proc = _train(tmp_path, "phase2b", "--max_epoch", "4", "--continue_from",
                  str(tmp_path / "nowhere.pth"))
    assert proc.returncode != 0 and "nowhere.pth: no such checkpoint" in proc.stderr
    assert not (tmp_path / "phase2b" / "checkpoint.pth").exists()
