"""ESPnet's enhancement task with sepplug's plugins registered.

Importing this module registers every entry-point component, so worker
processes that ESPnet spawns for multi-GPU training (they unpickle
``SepplugEnhancementTask.main_worker`` and re-import only this module) see the
plugins too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sepplug.utils.offline import prepare_espnet_import

prepare_espnet_import()  # before ESPnet's import pulls in g2p_en (see sepplug.utils.offline)

from espnet2.tasks.enh import EnhancementTask, preprocessor_choices  # noqa: E402
from espnet2.train.preprocessor import DynamicMixingPreprocessor  # noqa: E402

from sepplug.enh.preprocessor.outside_training import OutsideTrainingMixing  # noqa: E402
from sepplug.registry import plugin_preprocessor_names, register_all  # noqa: E402
from sepplug.tasks.checked_data import CheckedPreprocess  # noqa: E402
from sepplug.train.trainer import SepplugTrainer  # noqa: E402

register_all()

MAX_LABEL_REFS = 100  # labels_ref1 .. labels_ref100, as ESPnet allows speech_ref1 .. 100


class SepplugEnhancementTask(EnhancementTask):
    """:class:`EnhancementTask` that also builds plugin preprocessors.

    ESPnet's ``build_preprocess_fn`` hard-codes its two stock preprocessors. A
    plugin preprocessor class is built with ``cls.from_task_args(args, train)``
    when it defines that classmethod, else with ``cls(train=train, **preprocessor_conf)``.
    Every preprocessor (or none) is wrapped in :class:`CheckedPreprocess`, which refuses
    NaN/Inf audio and all-zero references with the utterance and file named.

    A dynamic-mixing preprocessor (ESPnet's ``dynamic_mixing``, ``hard_dm``) mixes only in
    training, yet ESPnet's reads the training ``spk1.scp`` / ``utt2spk`` even with
    ``train=False``: outside training (validation, and inference from the saved config, when
    the training dir may be gone) it is replaced by
    :class:`~sepplug.enh.preprocessor.outside_training.OutsideTrainingMixing`, its
    ``train=False`` behaviour without the lists (``feabase`` and ``spatial_dm`` read nothing
    outside training themselves). Its ``__call__`` asserts that every example holds its
    mixing source (``speech_ref1``), which inference data (``speech_mix`` only) lacks: outside
    training, examples without it pass unchanged (they keep no ``category`` mapping either).

    Before the first epoch, training data too short to fill one batch of chunks is refused
    (:mod:`sepplug.tasks.chunk_check`). Training runs
    :class:`~sepplug.train.trainer.SepplugTrainer`: ESPnet's trainer with atomic checkpoint
    writes and a resume that survives a torn checkpoint; ``--continue_from`` starts a
    second training phase from another run's checkpoint (:mod:`sepplug.train.continuation`).
    """

    trainer = SepplugTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_task_arguments(parser)
        from espnet2.utils.types import str_or_none

        group = parser.add_argument_group("sepplug training")
        group.add_argument(
            "--continue_from", type=str_or_none, default=None,
            help="checkpoint.pth of another exp dir: this new exp dir goes on from its epoch, "
                 "model, optimizer and scheduler state to --max_epoch (a second training "
                 "phase; sepplug.train.continuation)")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        """ESPnet's, plus the weak class labels ``labels_ref<n>`` of each mixture (semantic
        MixIT, :mod:`sepplug.enh.loss.wrappers.semantic_mixit`)."""
        names = super().optional_data_names(train, inference)
        if inference:
            return names
        return names + tuple(f"labels_ref{n}" for n in range(1, MAX_LABEL_REFS + 1))

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        """ESPnet's model; :class:`~sepplug.enh.espnet_model.SepplugEnhancementModel` (the
        same model, whose loss wrappers also get the ``labels_ref<n>`` batch keys) when a
        loss wrapper reads batch keys (``mixit_semantic``)."""
        from espnet2.enh.espnet_model import ESPnetEnhancementModel

        from sepplug.enh.espnet_model import SepplugEnhancementModel, wants_side_info

        model = super().build_model(args)
        # ESPnet builds the model inline (no model table to register a class in): the
        # subclass adds no state, so the built object is re-classed rather than rebuilt.
        if type(model) is ESPnetEnhancementModel and wants_side_info(model):
            model.__class__ = SepplugEnhancementModel
        return model

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable | None:
        name = getattr(args, "preprocessor", None)
        if name is not None and name.lower() in plugin_preprocessor_names():
            pre_cls = preprocessor_choices.get_class(name.lower())
            if hasattr(pre_cls, "from_task_args"):
                inner = pre_cls.from_task_args(args, train)
            else:
                inner = pre_cls(train=train, **(args.preprocessor_conf or {}))
        elif name == "dynamic_mixing" and not train:
            # ESPnet's would read the training spk1.scp / utt2spk (gone at inference time)
            # only to never mix: its train=False behaviour without the lists
            inner = OutsideTrainingMixing.from_conf(name, getattr(args, "preprocessor_conf",
                                                                  None))
        else:
            inner = super().build_preprocess_fn(args, train)
        data_files = getattr(args, f"{'train' if train else 'valid'}_data_path_and_name_and_type",
                             None) or []
        needs = None
        if not train and isinstance(inner, (DynamicMixingPreprocessor, OutsideTrainingMixing)):
            needs = inner.mixture_source_name
        ref_lists = [path for mode in ("train", "valid")
                     for path, name, *_ in getattr(args, f"{mode}_data_path_and_name_and_type",
                                                   None) or []
                     if name.startswith("speech_ref")]
        return CheckedPreprocess(inner, {name: path for path, name, *_ in data_files}, needs,
                                 ref_lists)

    @classmethod
    def build_chunk_iter_factory(cls, args: argparse.Namespace, iter_options, mode: str):
        """ESPnet's chunk iterator, refused up front (before the first epoch) for training
        data whose mixtures cannot fill one batch of chunks: ESPnet would skip every mixture
        not longer than a chunk and train on no batch (see :mod:`sepplug.tasks.chunk_check`)."""
        from sepplug.tasks.chunk_check import check_chunk_supply

        if mode == "train":
            check_chunk_supply(args, iter_options)
        return super().build_chunk_iter_factory(args, iter_options, mode)
