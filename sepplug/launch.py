"""Run any ``espnet2.bin`` tool with sepplug's plugins registered.

    python -m sepplug.launch -m espnet2.bin.enh_train --config conf.yaml ...

This is what ``--python "python3 -m sepplug.launch"`` makes ESPnet's own,
unmodified ``egs2/*/enh1/enh.sh`` run: every python call there is
``${python} -m espnet2.bin.<tool> ARGS``. The tool's module-level
``EnhancementTask`` is swapped for :class:`SepplugEnhancementTask` so that
inference rebuilds plugin preprocessors and multi-GPU workers re-register.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from collections.abc import Sequence

from sepplug.utils.offline import prepare_espnet_import


def run_tool(module_name: str, argv: Sequence[str]) -> None:
    """Register plugins, then run ``module_name`` as ``python -m`` would.

    The plugins are registered (a ~10 s import) only for tools that use ESPnet's enh task;
    ESPnet's other tools (``aggregate_stats_dirs``, ``launch``, ...) start at once.
    """
    prepare_espnet_import()
    module = importlib.import_module(module_name)
    if "espnet2.tasks.enh" in sys.modules:
        from sepplug.tasks.enh import SepplugEnhancementTask

        if getattr(module, "EnhancementTask", None) is not None:
            module.EnhancementTask = SepplugEnhancementTask
    if not hasattr(module, "main"):
        sys.argv = [module_name, *argv]
        runpy.run_module(module_name, run_name="__main__", alter_sys=True)
        return
    sys.argv = [module.__file__ or module_name, *argv]
    module.main(list(argv))


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "-m":
        sys.exit("usage: python -m sepplug.launch -m espnet2.bin.<tool> [ARGS...]")
    run_tool(argv[1], argv[2:])


if __name__ == "__main__":
    main()
