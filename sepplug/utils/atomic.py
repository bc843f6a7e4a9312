"""Write files so that a killed process never leaves a half-written one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it
    (``/proc/self/status``): setting it to read it would, for an instant, give files other
    threads create (e.g. a tensorboard writer's) mode 0666."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)  # elsewhere: the old way
    os.umask(umask)
    return umask


def _usual_mode(tmp: str) -> None:
    """mkstemp creates 0600; give the file the mode a plain open() would (0666 & ~umask)."""
    os.chmod(tmp, 0o666 & ~_current_umask())


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_figure(fig, path: Path | str, **savefig_kwargs) -> None:
    """``fig.savefig`` to a uniquely named temp file beside ``path``, then rename it into place
    (two processes writing the same figure, e.g. parallel recipe runs, do not collide)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, **savefig_kwargs)
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj, path: Path | str, *args, save=None, **kwargs) -> None:
    """``torch.save(obj, path)`` through a temp file beside ``path``, synced, then renamed.

    A process killed (or a disk filling up) during the write leaves ``path`` as it was and a
    ``.<name>.<random>.tmp`` beside it, which the next resume removes
    (:func:`sepplug.train.resume.prepare_resume`). ``save``: the function that writes
    (default ``torch.save``; :func:`atomic_torch_saves` passes the one it replaced).
    """
    import torch

    save = torch.save if save is None else save
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save(obj, tmp, *args, **kwargs)
        with open(tmp, "rb") as written:  # on disk before the rename: a crash of the
            os.fsync(written.fileno())    # machine must not leave a renamed empty file
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_torch_saves() -> Iterator[None]:
    """Within the block, every ``torch.save`` to a path goes through :func:`atomic_torch_save`.

    ESPnet's trainer (and its n-best averaging) write checkpoints with ``torch.save`` in
    place; this makes those writes atomic without changing ESPnet's files. Saves to file
    objects are passed through unchanged.
    """
    import torch

    original = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            return atomic_torch_save(obj, f, *args, save=original, **kwargs)
        return original(obj, f, *args, **kwargs)

    torch.save = save
    try:
        yield
    finally:
        torch.save = original
