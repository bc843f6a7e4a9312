"""ESPnet's trainer, with atomic checkpoint writes and a resume that survives a torn one.

:class:`SepplugTrainer` is ESPnet's :class:`~espnet2.train.trainer.Trainer` (the task's
``trainer``; see :class:`sepplug.tasks.enh.SepplugEnhancementTask`) with these additions
and nothing else changed:

* every ``torch.save`` to a path during ``run`` (``checkpoint.pth``, ``<N>epoch.pth``, the
  n-best averages) goes through a temp name, ``fsync`` and a rename
  (:func:`sepplug.utils.atomic.atomic_torch_saves`): a kill during the save of epoch ``k``
  leaves epoch ``k - 1``'s complete state;
* ``--continue_from <exp>/checkpoint.pth`` (:mod:`sepplug.train.continuation`) starts a
  new exp dir from another run's state (a second training phase) through ESPnet's resume;
* with ``--resume true``, :func:`sepplug.train.resume.prepare_resume` runs first: a torn
  ``checkpoint.pth`` is moved aside and training resumes from the newest intact state; the
  line saying what it resumed from goes into ``train.log``;
* after each training epoch, the components registered in
  :mod:`sepplug.train.epoch_reports` log what they did in it (e.g. ``hard_dm``'s draws);
* its training and validation epochs run inside
  :func:`sepplug.train.distributed.collective_steps`: under DDP every rank calls the model
  in step there, so a loss may gather across ranks (``wpit``'s global ranking).

ESPnet's own loop, logging, best-model links and clean-up run unchanged (we override
``run`` and ``train_one_epoch`` by calling ESPnet's; ESPnet's files are not patched).
Only rank 0 writes or repairs files, as only rank 0 saves in ESPnet.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from espnet2.train.trainer import Trainer, TrainerOptions
from espnet2.utils.build_dataclass import build_dataclass

from sepplug.train.continuation import seed_continuation
from sepplug.train.distributed import collective_steps
from sepplug.train.epoch_reports import log_epoch_reports
from sepplug.train.resume import prepare_resume
from sepplug.utils.atomic import atomic_torch_saves


@dataclass
class SepplugTrainerOptions(TrainerOptions):
    """ESPnet's trainer options + ``continue_from`` (a checkpoint.pth, or None)."""

    continue_from: str | None = None


class SepplugTrainer(Trainer):
    """ESPnet's trainer with atomic saves and a robust resume (module doc)."""

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> SepplugTrainerOptions:
        return build_dataclass(SepplugTrainerOptions, args)

    @classmethod
    def run(cls, model, optimizers, schedulers, train_iter_factory, valid_iter_factory,
            plot_attention_iter_factory, trainer_options, distributed_option) -> None:
        rank0 = not distributed_option.distributed or distributed_option.dist_rank == 0
        failure = None
        source = getattr(trainer_options, "continue_from", None)
        if source and rank0:
            try:
                message = seed_continuation(trainer_options.output_dir, source,
                                            trainer_options.max_epoch, trainer_options.resume)
            except Exception as exc:
                failure = exc
            else:
                if message:
                    logging.info(message)
        if trainer_options.resume and rank0 and failure is None:
            try:
                message = prepare_resume(Path(trainer_options.output_dir), optimizers,
                                         schedulers, trainer_options.best_model_criterion)
            except Exception as exc:  # (DDP: the other ranks must hear of it, not wait)
                failure = exc
            else:
                if message:
                    logging.info(message)
        if distributed_option.distributed:  # the other ranks read what rank 0 repaired
            import torch
            import torch.distributed

            device = ("cuda" if torch.distributed.get_backend() == "nccl" else "cpu")  # nccl:
            failed = torch.tensor([int(failure is not None)], device=device)  # GPU tensors
            torch.distributed.broadcast(failed, src=0)  # (also the barrier)
            if failed.item() and failure is None:
                raise RuntimeError("rank 0 could not prepare the resume (see its log)")
        if failure is not None:
            raise failure
        with atomic_torch_saves():
            super().run(model=model, optimizers=optimizers, schedulers=schedulers,
                        train_iter_factory=train_iter_factory,
                        valid_iter_factory=valid_iter_factory,
                        plot_attention_iter_factory=plot_attention_iter_factory,
                        trainer_options=trainer_options,
                        distributed_option=distributed_option)

    @classmethod
    def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter,
                        summary_writer, options, distributed_option) -> bool:
        with collective_steps():
            all_steps_are_invalid = super().train_one_epoch(
                model, iterator, optimizers, schedulers, scaler, reporter, summary_writer,
                options, distributed_option)
        log_epoch_reports(reporter.epoch)
        return all_steps_are_invalid

    @classmethod
    def validate_one_epoch(cls, model, iterator, reporter, options,
                           distributed_option) -> None:
        with collective_steps():
            super().validate_one_epoch(model, iterator, reporter, options, distributed_option)
