"""Make an exp dir resumable after a kill, a torn checkpoint or a half-finished epoch save.

ESPnet's trainer resumes from ``<exp>/checkpoint.pth`` (model, reporter, optimizers,
schedulers, AMP scaler) when it exists, and fails on every rerun when that file cannot be
loaded. At the end of epoch ``k`` it writes ``checkpoint.pth``, then ``<k>epoch.pth`` (the
model's weights), then points ``latest.pth`` at it. :func:`prepare_resume` runs before
ESPnet's resume and leaves the exp dir in a state ESPnet resumes from correctly:

1. Temp files of an interrupted atomic save (``.<name>.<random>.tmp``) are removed.
2. A loadable ``checkpoint.pth`` is used as it is. If its epoch's ``<k>epoch.pth`` is
   missing (a kill between the two saves), it is written from the checkpoint's weights and
   ``latest.pth`` points at it.
3. A ``checkpoint.pth`` that cannot be loaded is moved aside (``checkpoint.pth.corrupt``,
   then ``.corrupt.1`` ...). Training then resumes from the newest loadable
   ``<N>epoch.pth``: a new ``checkpoint.pth`` is written from its weights, the optimizers'
   and schedulers' initial state (their state at epoch ``N`` is lost: it lived only in the
   torn file) and a reporter at epoch ``N`` whose per-epoch stats are read back from the
   train logs (:mod:`sepplug.train.train_log`; rounded as logged), so that ESPnet's
   best-model links and n-best clean-up still know epochs ``1..N``. An ``<M>epoch.pth``
   newer than ``N`` that cannot be loaded is moved aside as well; older ones are ignored.
   Without a loadable ``<N>epoch.pth`` training starts from scratch.
4. Without ``checkpoint.pth`` but with ``<N>epoch.pth`` files (a checkpoint moved aside by
   an earlier attempt that was killed again), the same as 3.
5. ``latest.pth`` and the ``<phase>.<key>.best.pth`` links of ``best_model_criterion`` that
   are missing or point at another epoch than the reporter's stats name (ESPnet moves them
   after both saves: a kill in between leaves them at epoch k - 1, or none, and ESPnet
   re-links a criterion only when a later epoch improves it) are made again, when the epoch
   file they name exists. An ``<k>epoch.pth`` of the checkpoint's epoch that cannot be
   loaded (torn by a writer without atomic saves) is rewritten from the checkpoint.

The returned line says which of these happened; the trainer logs it into ``train.log``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from espnet2.train.reporter import Reporter

from sepplug.train.train_log import read_epoch_stats
from sepplug.utils.atomic import atomic_torch_save

CHECKPOINT = "checkpoint.pth"
EPOCH_FILE = re.compile(r"(\d+)epoch\.pth$")
TEMP_FILE = re.compile(r"^\..+\.pth\..+\.tmp$")  # atomic_torch_save's temp names


def load_problem(path: Path) -> tuple[object | None, str | None]:
    """``(contents, None)`` if ``path`` loads with ``torch.load``, else ``(None, reason)``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False), None
    except Exception as exc:  # a torn zip, a pickle error, an empty file: all unusable
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<path>.corrupt`` (or ``.corrupt.<n>`` if taken)."""
    target, n = path.with_name(path.name + ".corrupt"), 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt.{n}")
    path.rename(target)
    return target


def epoch_files(exp: Path) -> dict[int, Path]:
    """``N -> <exp>/<N>epoch.pth`` for every regular epoch file (not a symlink)."""
    found = {}
    for path in exp.glob("*epoch.pth"):
        match = EPOCH_FILE.fullmatch(path.name)
        if match and not path.is_symlink():
            found[int(match.group(1))] = path
    return found


def relink(exp: Path, reporter: dict, criteria: Sequence[Sequence[str]]) -> list[str]:
    """Point ``latest.pth`` and the ``<phase>.<key>.best.pth`` links at the epochs the
    reporter names, where a link is missing or points elsewhere (module doc, 5); the names
    of those made or moved."""
    state = Reporter()
    state.load_state_dict(reporter)
    wanted = {"latest.pth": state.get_epoch()}
    for phase, key, mode in criteria:
        if state.has(phase, key):
            wanted[f"{phase}.{key}.best.pth"] = state.get_best_epoch(phase, key, mode)
    made = []
    for name, epoch in wanted.items():
        link, target = exp / name, f"{epoch}epoch.pth"
        if epoch <= 0 or not (exp / target).is_file():
            continue
        if link.is_symlink() and str(link.readlink()) == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        made.append(name)
    return made


def reporter_state(exp: Path, epoch: int) -> dict:
    """ESPnet ``Reporter.state_dict()`` at ``epoch`` with the logged stats of epochs
    ``1..epoch`` (``time`` is left out: it is a duration, not a stat)."""
    stats = {}
    for number, sections in read_epoch_stats(exp).items():
        if number > epoch:
            continue
        stats[number] = {
            section: {key: int(value) if key == "total_count" else value
                      for key, value in values.items() if key != "time"}
            for section, values in sections.items()}
    return {"epoch": epoch, "stats": stats}


def _from_epoch_file(exp: Path, optimizers: Sequence[torch.optim.Optimizer],
                     schedulers: Sequence, criteria: Sequence[Sequence[str]], why: str) -> str:
    """Write ``checkpoint.pth`` from the newest loadable ``<N>epoch.pth`` (module doc, 3)."""
    for number, path in sorted(epoch_files(exp).items(), reverse=True):
        weights, problem = load_problem(path)
        if problem is None and isinstance(weights, dict):
            reporter = reporter_state(exp, number)
            atomic_torch_save({
                "model": weights,
                "reporter": reporter,
                "optimizers": [o.state_dict() for o in optimizers],
                "schedulers": [s.state_dict() if s is not None else None for s in schedulers],
                "scaler": None,
            }, exp / CHECKPOINT)
            relink(exp, reporter, criteria)  # latest.pth -> <number>epoch.pth among them
            return (f"{why}; resuming from {path.name} (epoch {number}: the model's weights; "
                    f"the optimizer and scheduler start afresh; the stats of epochs 1-{number} "
                    f"are read back from the train logs)")
        moved = move_aside(path)
        logging.warning("%s cannot be loaded (%s): moved to %s", path, problem or "not a "
                        "state dict", moved.name)
    return f"{why}; no loadable <N>epoch.pth either: training starts from scratch"


def prepare_resume(exp: Path, optimizers: Sequence[torch.optim.Optimizer],
                   schedulers: Sequence,
                   criteria: Sequence[Sequence[str]] = ()) -> str | None:
    """Leave ``exp`` resumable by ESPnet (module doc); a line saying what will be resumed
    from, or None for a new exp dir (nothing to resume). ``criteria``: the trainer's
    ``best_model_criterion`` (``[phase, key, min|max]`` each)."""
    exp = Path(exp)
    for temp in exp.glob(".*.tmp"):
        if TEMP_FILE.match(temp.name):
            logging.warning("removing %s: a checkpoint save that was interrupted", temp)
            temp.unlink()
    checkpoint = exp / CHECKPOINT
    if not checkpoint.exists():
        if not epoch_files(exp):
            return None
        return _from_epoch_file(exp, optimizers, schedulers, criteria, f"no {CHECKPOINT}")
    states, problem = load_problem(checkpoint)
    if problem is None and isinstance(states, dict) and {"model", "reporter"} <= set(states):
        epoch = int(states["reporter"].get("epoch", 0))
        message = f"resuming from {checkpoint} (epoch {epoch}: model, optimizer, scheduler)"
        epoch_file = exp / f"{epoch}epoch.pth"
        if epoch > 0 and not epoch_file.exists():
            atomic_torch_save(states["model"], epoch_file)
            message += f"; {epoch_file.name} was missing: written from it"
        elif epoch > 0 and load_problem(epoch_file)[1] is not None:
            atomic_torch_save(states["model"], epoch_file)  # torn by a non-atomic writer
            message += f"; {epoch_file.name} could not be loaded: written from it"
        made = relink(exp, states["reporter"], criteria)
        if made:
            message += f"; links made or re-pointed: {', '.join(made)}"
        return message
    moved = move_aside(checkpoint)
    why = (f"{checkpoint} cannot be loaded ({problem or 'not an ESPnet checkpoint'}): "
           f"moved to {moved.name}")
    logging.warning(why)
    return _from_epoch_file(exp, optimizers, schedulers, criteria, why)
