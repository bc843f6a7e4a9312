"""Atomic checkpoint saves under a real SIGKILL, and the resume that survives a torn checkpoint.

The recipe-level counterpart (a kill inside ESPnet's checkpoint write during a real training,
then the rerun) is in ``tests/test_recipe_resume.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sepplug.train.resume import prepare_resume, reporter_state
from sepplug.utils.atomic import atomic_torch_save, atomic_torch_saves

LOG_LINE = ("[vm] 2026-12-07 12:59:57,955 (trainer:394) INFO: {e}epoch results: [train] "
            "loss={t}, time=41.9 seconds, total_count={c}, [valid] loss={v}, "
            "time=2.35 seconds, total_count=9\n")


def tiny_training_state():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def espnet_checkpoint(model, optimizer, scheduler, epoch: int,
                      valid_losses: tuple[float, ...] = ()) -> dict:
    """ESPnet's checkpoint at ``epoch``; ``valid_losses``: epoch 1, 2, ...'s dev loss."""
    stats = {e: {"valid": {"loss": loss, "total_count": 9}}
             for e, loss in enumerate(valid_losses, 1)}
    return {"model": model.state_dict(), "reporter": {"epoch": epoch, "stats": stats},
            "optimizers": [optimizer.state_dict()], "schedulers": [scheduler.state_dict()],
            "scaler": None}


def write_torn(path: Path, contents) -> None:
    """What a kill or a full disk during ``torch.save(contents, path)`` leaves: its first half."""
    torch.save(contents, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_save_killed_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 1}, target)
    # The child writes half of the new checkpoint through the atomic save, then SIGKILLs itself.
    child = textwrap.dedent(f"""
        import os, signal, torch
        from sepplug.utils.atomic import atomic_torch_saves

        def killed_mid_write(obj, f, *args, **kwargs):
            with open(f, "wb") as out:
                out.write(b"PK" + bytes(4096))
                out.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        torch.save = killed_mid_write
        with atomic_torch_saves():
            torch.save({{"epoch": 2}}, {str(target)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert torch.load(target) == {"epoch": 1}
    temps = list(tmp_path.glob(".checkpoint.pth.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 4096


def test_atomic_saves_write_paths_and_pass_file_objects_through(tmp_path):
    import io

    with atomic_torch_saves():
        torch.save([1, 2], tmp_path / "a.pth")
        buffer = io.BytesIO()
        torch.save([3], buffer)
    assert torch.load(tmp_path / "a.pth") == [1, 2]
    assert torch.load(io.BytesIO(buffer.getvalue())) == [3]
    assert list(tmp_path.iterdir()) == [tmp_path / "a.pth"]
    assert torch.save.__module__.startswith("torch")  # restored


def test_a_failed_save_leaves_no_temp_file(tmp_path):
    def failing(obj, f):
        Path(f).write_bytes(b"x")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_torch_save({}, tmp_path / "c.pth", save=failing)
    assert list(tmp_path.iterdir()) == []


def test_an_intact_checkpoint_is_resumed_as_it_is(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    torch.save(espnet_checkpoint(model, optimizer, scheduler, 2), tmp_path / "checkpoint.pth")
    torch.save(model.state_dict(), tmp_path / "2epoch.pth")
    (tmp_path / ".checkpoint.pth.abc123.tmp").write_bytes(b"PK")  # an interrupted save
    before = (tmp_path / "checkpoint.pth").read_bytes()
    message = prepare_resume(tmp_path, [optimizer], [scheduler])
    assert message.startswith(f"resuming from {tmp_path}/checkpoint.pth (epoch 2")
    assert (tmp_path / "checkpoint.pth").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_epoch_file_lost_between_the_two_saves_is_rewritten(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    torch.save(espnet_checkpoint(model, optimizer, scheduler, 3), tmp_path / "checkpoint.pth")
    torch.save(model.state_dict(), tmp_path / "2epoch.pth")
    message = prepare_resume(tmp_path, [optimizer], [scheduler])
    assert "3epoch.pth was missing" in message
    weights = torch.load(tmp_path / "3epoch.pth")
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert (tmp_path / "latest.pth").resolve() == (tmp_path / "3epoch.pth").resolve()


def test_a_torn_checkpoint_resumes_from_the_newest_intact_epoch(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    write_torn(tmp_path / "checkpoint.pth", espnet_checkpoint(model, optimizer, scheduler, 3))
    torch.save(model.state_dict(), tmp_path / "1epoch.pth")
    torch.save(model.state_dict(), tmp_path / "2epoch.pth")
    write_torn(tmp_path / "3epoch.pth", model.state_dict())
    (tmp_path / "train.log.1").write_text(
        "".join(LOG_LINE.format(e=e, t=5.0 - e, c=10 * e, v=6.0 - e) for e in (1, 2, 3)))
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    message = prepare_resume(tmp_path, [fresh], [None])
    assert "checkpoint.pth cannot be loaded" in message and "checkpoint.pth.corrupt" in message
    assert "resuming from 2epoch.pth (epoch 2" in message
    assert (tmp_path / "checkpoint.pth.corrupt").is_file()
    assert (tmp_path / "3epoch.pth.corrupt").is_file() and not (tmp_path / "3epoch.pth").exists()
    states = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert states["reporter"]["epoch"] == 2
    assert states["reporter"]["stats"] == {
        1: {"train": {"loss": 4.0, "total_count": 10}, "valid": {"loss": 5.0, "total_count": 9}},
        2: {"train": {"loss": 3.0, "total_count": 20}, "valid": {"loss": 4.0, "total_count": 9}}}
    assert states["optimizers"] == [fresh.state_dict()] and states["schedulers"] == [None]
    assert all(torch.equal(states["model"][k], v) for k, v in model.state_dict().items())
    # ESPnet's own resume accepts what was written.
    from espnet2.train.reporter import Reporter
    from espnet2.train.trainer import Trainer

    reporter = Reporter()
    Trainer.resume(tmp_path / "checkpoint.pth", model, reporter, [fresh], [None], None)
    assert reporter.get_epoch() == 2
    assert reporter.get_best_epoch("valid", "loss", "min") == 2


def test_a_second_torn_checkpoint_does_not_overwrite_the_first_one_moved_aside(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    (tmp_path / "checkpoint.pth.corrupt").write_bytes(b"older")
    write_torn(tmp_path / "checkpoint.pth", espnet_checkpoint(model, optimizer, scheduler, 1))
    message = prepare_resume(tmp_path, [optimizer], [scheduler])
    assert "moved to checkpoint.pth.corrupt.1" in message
    assert "training starts from scratch" in message
    assert (tmp_path / "checkpoint.pth.corrupt").read_bytes() == b"older"
    assert not (tmp_path / "checkpoint.pth").exists()


def test_epoch_files_without_a_checkpoint_are_resumed_from(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    torch.save(model.state_dict(), tmp_path / "4epoch.pth")
    message = prepare_resume(tmp_path, [optimizer], [scheduler])
    assert message.startswith("no checkpoint.pth; resuming from 4epoch.pth")
    assert torch.load(tmp_path / "checkpoint.pth", weights_only=False)["reporter"]["epoch"] == 4


def test_a_new_exp_dir_has_nothing_to_resume(tmp_path):
    _, optimizer, scheduler = tiny_training_state()
    assert prepare_resume(tmp_path, [optimizer], [scheduler]) is None
    assert list(tmp_path.iterdir()) == []


def test_reporter_state_keeps_the_epochs_up_to_the_resumed_one(tmp_path):
    (tmp_path / "train.log.1").write_text(LOG_LINE.format(e=1, t=9.0, c=5, v=9.0)
                                          + LOG_LINE.format(e=2, t=8.0, c=10, v=8.0))
    (tmp_path / "train.log").write_text(LOG_LINE.format(e=2, t=7.0, c=10, v=7.5)
                                        + LOG_LINE.format(e=3, t=6.0, c=15, v=7.0))
    state = reporter_state(tmp_path, 2)
    assert sorted(state["stats"]) == [1, 2]
    assert state["stats"][2]["valid"]["loss"] == 7.5  # the newer log's epoch 2 wins


def test_links_lost_to_a_kill_between_unlink_and_symlink_are_made_again(tmp_path):
    model, optimizer, scheduler = tiny_training_state()
    torch.save(espnet_checkpoint(model, optimizer, scheduler, 3, (5.0, 4.0, 4.5)),
               tmp_path / "checkpoint.pth")
    for e in (2, 3):
        torch.save(model.state_dict(), tmp_path / f"{e}epoch.pth")
    (tmp_path / "valid.acc.best.pth").symlink_to("3epoch.pth")  # present: left alone
    message = prepare_resume(tmp_path, [optimizer], [scheduler],
                             [["valid", "loss", "min"], ["valid", "acc", "max"],
                              ["valid", "si_snr", "max"]])
    assert "links made or re-pointed: latest.pth, valid.loss.best.pth" in message
    assert (tmp_path / "latest.pth").readlink() == Path("3epoch.pth")
    assert (tmp_path / "valid.loss.best.pth").readlink() == Path("2epoch.pth")
    assert (tmp_path / "valid.acc.best.pth").readlink() == Path("3epoch.pth")
    assert not (tmp_path / "valid.si_snr.best.pth").exists()  # never reported


def test_links_left_at_the_previous_epoch_and_a_torn_epoch_file_are_repaired(tmp_path):
    """A kill after both saves of epoch 3 but before ESPnet moved its links."""
    model, optimizer, scheduler = tiny_training_state()
    torch.save(espnet_checkpoint(model, optimizer, scheduler, 3, (5.0, 4.0, 3.0)),
               tmp_path / "checkpoint.pth")
    torch.save(model.state_dict(), tmp_path / "2epoch.pth")
    write_torn(tmp_path / "3epoch.pth", model.state_dict())  # a non-atomic writer's
    for name in ("latest.pth", "valid.loss.best.pth"):
        (tmp_path / name).symlink_to("2epoch.pth")
    message = prepare_resume(tmp_path, [optimizer], [scheduler], [["valid", "loss", "min"]])
    assert "3epoch.pth could not be loaded: written from it" in message
    assert "links made or re-pointed: latest.pth, valid.loss.best.pth" in message
    for name in ("latest.pth", "valid.loss.best.pth"):
        assert (tmp_path / name).readlink() == Path("3epoch.pth")
    assert torch.load(tmp_path / "3epoch.pth").keys() == model.state_dict().keys()
