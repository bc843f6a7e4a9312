"""The ``sepplug`` console command.

    sepplug list [--load]        every enh choice table, stock and plugin components
                                 (read from ESPnet's source and the entry points; --load
                                 imports them all and reports plugins that fail to load)
    sepplug validate-data DIR    check a Kaldi-style data dir (like validate_data_dir.sh)
    sepplug bench NAME           run a benchmark from bench/ (ratios, not timed tests)
    sepplug select --model DIR --model DIR ... --data_dir DIR --out_dir DIR
                                 per mixture, keep the most confident model's output
    sepplug preference --model DIR --data_dir DIR [--fs_model DIR] [--timbre_model DIR]
                                 a model's SI-SDRi on easy/hard/both/FS(both): spatial or
                                 timbre cue (sepplug.bin.preference)
    sepplug --version
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from sepplug import __version__
from sepplug.registry import GROUP_TO_TABLE, PluginCollisionError
from sepplug.utils.offline import prepare_espnet_import

#: subcommand -> "module:function"; each function takes the remaining argv.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("sepplug.cli", "list_components", "print stock and plugin components"),
    "validate-data": ("sepplug.datadir.validate", "main", "check a Kaldi-style data dir"),
    "bench": ("sepplug.bench", "main", "run a benchmark (see bench/)"),
    "select": ("sepplug.bin.select", "main", "pick the most confident model per mixture"),
    "preference": ("sepplug.bin.preference", "main", "which cue a model uses (spatial/timbre)"),
}


def _stock_tables_from_source() -> dict[str, tuple[str, dict[str, str]]] | None:
    """ESPnet's stock enh choice tables read from ``espnet2/tasks/enh.py``'s source, not run.

    Returns ``{table: (label, {key: "module.Class"})}``, or None when the source does not
    have the expected shape (module-level ``X = ClassChoices(name=..., classes=dict(...))``
    with every class imported by name): the caller then imports ESPnet instead.
    """
    spec = importlib.util.find_spec("espnet2.tasks.enh")
    if spec is None or not spec.origin:
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text())
    except (OSError, SyntaxError):
        return None
    imported: dict[str, str] = {}
    tables: dict[str, tuple[str, dict[str, str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call, targets = node.value, node.targets
        if not (isinstance(call.func, ast.Name) and call.func.id == "ClassChoices"):
            continue
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            continue
        kw = {k.arg: k.value for k in call.keywords}
        label, classes = kw.get("name"), kw.get("classes")
        if not (isinstance(label, ast.Constant) and isinstance(label.value, str)):
            return None
        if not (isinstance(classes, ast.Call) and getattr(classes.func, "id", "") == "dict"):
            return None
        if classes.args:
            return None
        entries = {}
        for k in classes.keywords:
            if k.arg is None or not isinstance(k.value, ast.Name) or k.value.id not in imported:
                return None
            entries[k.arg.lower()] = imported[k.value.id]
        tables[targets[0].id] = (label.value, entries)
    if not all(tables.get(t, ("", {}))[1] for t in GROUP_TO_TABLE.values()):
        return None
    return tables


def _list_declared() -> bool:
    """Print the tables from ESPnet's source and the declared entry points, importing
    neither ESPnet nor the plugins. False (nothing printed) when that cannot be done
    faithfully: ESPnet's source has an unexpected shape, or a plugin name collides (the
    import path then reports it as :func:`sepplug.registry.register_all` does)."""
    stock = _stock_tables_from_source()
    if stock is None:
        return False
    lines = []
    for group, table_name in GROUP_TO_TABLE.items():
        label, classes = stock[table_name]
        rows = {key: (path, "espnet") for key, path in classes.items()}
        for ep in entry_points(group=group):
            key, path = ep.name.lower(), ep.value.replace(":", ".")
            if key in classes or (key in rows and rows[key][0] != path):
                return False
            dist = getattr(ep, "dist", None)
            rows[key] = (path, f"plugin: {dist.name if dist is not None else '?'}")
        lines.append(f"{label}  (entry-point group {group})")
        lines += [f"  {key:<20} {path}  [{origin}]" for key, (path, origin) in sorted(rows.items())]
    print("\n".join(lines))
    return True


def list_components(argv: Sequence[str]) -> int:
    """Print each enh choice table with its components and who provides them."""
    parser = argparse.ArgumentParser(prog="sepplug list", description=list_components.__doc__)
    parser.add_argument(
        "--load",
        action="store_true",
        help="import ESPnet and every plugin (slower): also reports plugins that fail to load",
    )
    args = parser.parse_args(argv)
    if not args.load and _list_declared():
        return 0
    prepare_espnet_import()
    import espnet2.tasks.enh as enh_task

    from sepplug.registry import register_all

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
    # Before any subcommand imports ESPnet: no nltk look-ups, no third-party FutureWarnings.
    prepare_espnet_import()
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        rc = func(ns.args)
    except PluginCollisionError as exc:
        print(f"sepplug: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
