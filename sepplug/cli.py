"""The ``sepplug`` console command.

    sepplug list                 every enh choice table, stock and plugin components
    sepplug validate-data DIR    check a Kaldi-style data dir (like validate_data_dir.sh)
    sepplug bench NAME           run a benchmark from bench/ (ratios, not timed tests)
    sepplug select --model DIR --model DIR ... --data_dir DIR --out_dir DIR
                                 per mixture, keep the most confident model's output
    sepplug --version
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sepplug import __version__

#: subcommand -> "module:function"; each function takes the remaining argv.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("sepplug.cli", "list_components", "print stock and plugin components"),
    "validate-data": ("sepplug.datadir.validate", "main", "check a Kaldi-style data dir"),
    "bench": ("sepplug.bench", "main", "run a benchmark (see bench/)"),
    "select": ("sepplug.bin.select", "main", "pick the most confident model per mixture"),
}


def list_components(argv: Sequence[str]) -> int:
    """Print each enh choice table with its components and who provides them."""
    parser = argparse.ArgumentParser(prog="sepplug list", description=list_components.__doc__)
    parser.parse_args(argv)
    import espnet2.tasks.enh as enh_task

    from sepplug.registry import GROUP_TO_TABLE, register_all

    state = register_all()
    by_key = {(r.table, r.name): r for r in state.plugins.values()}
    for group, table_name in GROUP_TO_TABLE.items():
        table = getattr(enh_task, table_name)
        print(f"{table.name}  (entry-point group {group})")
        for key, cls in sorted(table.classes.items()):
            record = by_key.get((table_name, key))
            origin = f"plugin: {record.distribution}" if record else "espnet"
            print(f"  {key:<20} {cls.__module__}.{cls.__qualname__}  [{origin}]")
    for where, err in state.failures:
        print(f"failed plugin {where}: {err}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sepplug", description="sepplug: ESPnet separation plugins and recipes"
    )
    parser.add_argument("--version", action="version", version=f"sepplug {__version__}")
    parser.add_argument("command", choices=sorted(SUBCOMMANDS), help="what to do")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    ns = parser.parse_args(argv)
    module_name, func_name, _ = SUBCOMMANDS[ns.command]
    from sepplug.registry import PluginCollisionError

    try:
        func = getattr(importlib.import_module(module_name), func_name)
        rc = func(ns.args)
    except PluginCollisionError as exc:
        print(f"sepplug: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
