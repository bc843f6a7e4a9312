"""A second training phase that continues another run: ``--continue_from <exp>/checkpoint.pth``.

Curriculum schemes train a model one way, then go on with other data or another loss (hard-
sample mining re-samples hard pairs once the model separates well). ESPnet has ``--resume``
(the same exp dir) and ``--init_param`` (weights only: the optimizer and the learning-rate
schedule restart). A continuation is ESPnet's resume across exp dirs: before the first epoch
of a new exp dir, :func:`seed_continuation` writes ``<exp>/checkpoint.pth`` from the source
run's checkpoint (model, optimizers, schedulers and the epoch counter), so that ESPnet's own
resume goes on from the source's epoch ``k`` at its learning rate, to ``max_epoch`` (the
total, in ESPnet's meaning). Two phase-2 runs from the same checkpoint differ only in what
their configs change (preprocessor, loss), and a run with the source's own config is the
source trained longer: the control at equal steps.

The reporter's per-epoch stats are *not* carried over (its epoch counter is): best-model
links, ``keep_nbest_models`` and n-best averaging of the new run see its own epochs
``k+1..max_epoch`` only, and its ``train.log`` starts with ESPnet's warning that epoch
``k``'s stats do not exist (the TensorBoard step count restarts at 0). ``<exp>/continued_from``
records the source (path and epoch). A rerun of a killed continuation resumes the new exp
dir's own checkpoint; it refuses a ``--continue_from`` other than the recorded one.
"""

from __future__ import annotations

from pathlib import Path

from sepplug.errors import DataError
from sepplug.train.resume import CHECKPOINT, epoch_files, load_problem
from sepplug.utils.atomic import atomic_torch_save, atomic_write_text

RECORD = "continued_from"  #: the file in the new exp dir naming the source checkpoint
NEEDED = ("model", "reporter", "optimizers", "schedulers")


def read_source(source: Path) -> dict:
    """The states of an ESPnet ``checkpoint.pth``; DataError names the file and the problem."""
    if not source.is_file():
        raise DataError(f"--continue_from {source}: no such checkpoint (train the first "
                        f"phase to its end first)")
    states, problem = load_problem(source)
    if problem is not None:
        raise DataError(f"--continue_from {source}: cannot be loaded ({problem})")
    missing = [key for key in NEEDED if not isinstance(states, dict) or key not in states]
    if missing:
        raise DataError(f"--continue_from {source}: not an ESPnet training checkpoint "
                        f"(no {', '.join(missing)}; a <N>epoch.pth holds weights only: "
                        f"give the run's checkpoint.pth)")
    return states


def seed_continuation(exp: Path | str, source: Path | str, max_epoch: int,
                      resume: bool = True) -> str | None:
    """Make ``exp`` continue ``source`` (module doc); a line for ``train.log``, or None when
    ``exp`` already has its own state (a rerun: ESPnet resumes it as usual).

    Raises:
        DataError: ``source`` missing, unloadable or not a checkpoint; ``max_epoch`` not
            beyond its epoch; ``resume`` false (ESPnet would not read the seeded state);
            ``exp`` continued from another source before.
    """
    exp, source = Path(exp), Path(source).resolve()
    record = exp / RECORD
    if (exp / CHECKPOINT).exists() or epoch_files(exp):
        if not record.is_file():
            raise DataError(f"{exp} holds a training of its own ({CHECKPOINT} or "
                            f"<N>epoch.pth), not a continuation of {source}: use a new "
                            f"exp dir")
        recorded = record.read_text(encoding="utf-8").split("\t")[0]
        if recorded != str(source):
            raise DataError(f"{exp} continues {recorded} ({record}), not --continue_from "
                            f"{source}: use a new exp dir")
        return None
    if not resume:
        raise DataError("--continue_from needs --resume true: the continued state is "
                        "ESPnet's resume checkpoint")
    states = read_source(source)
    epoch = int(states["reporter"].get("epoch", 0))
    if epoch >= max_epoch:
        raise DataError(f"--continue_from {source} ends at epoch {epoch}: --max_epoch "
                        f"{max_epoch} leaves nothing to train (max_epoch is the total: give "
                        f"more than {epoch})")
    exp.mkdir(parents=True, exist_ok=True)
    states["reporter"] = {"epoch": epoch, "stats": {}}
    atomic_torch_save(states, exp / CHECKPOINT)
    atomic_write_text(record, f"{source}\t{epoch}\n")
    return (f"continuing {source} (epoch {epoch}: model, optimizer, scheduler; its "
            f"per-epoch stats stay there) for epochs {epoch + 1}-{max_epoch}")
