"""ESPnet's enhancement task with sepplug's plugins registered.

Importing this module registers every entry-point component, so worker
processes that ESPnet spawns for multi-GPU training (they unpickle
``SepplugEnhancementTask.main_worker`` and re-import only this module) see the
plugins too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from espnet2.tasks.enh import EnhancementTask, preprocessor_choices

from sepplug.registry import plugin_preprocessor_names, register_all

register_all()


class SepplugEnhancementTask(EnhancementTask):
    """:class:`EnhancementTask` that also builds plugin preprocessors.

    ESPnet's ``build_preprocess_fn`` hard-codes its two stock preprocessors. A
    plugin preprocessor class is built with ``cls.from_task_args(args, train)``
    when it defines that classmethod, else with ``cls(train=train, **preprocessor_conf)``.
    """

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable | None:
        name = getattr(args, "preprocessor", None)
        if name is not None and name.lower() in plugin_preprocessor_names():
            pre_cls = preprocessor_choices.get_class(name.lower())
            if hasattr(pre_cls, "from_task_args"):
                return pre_cls.from_task_args(args, train)
            return pre_cls(train=train, **(args.preprocessor_conf or {}))
        return super().build_preprocess_fn(args, train)
