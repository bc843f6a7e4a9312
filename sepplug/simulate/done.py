"""Done markers and atomic directory replacement for the data generators.

A generator writes into a temp dir beside its output, writes a done marker holding its
configuration, then renames the temp dir into place: an output dir either is complete
or does not exist. Rerunning with the same configuration is a no-op; with another one
it is an error (the old data would silently not match the options).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sepplug.errors import DataError

DONE_NAME = ".done.json"
WAV_MARKER = ".sepplug_wav"  #: marks a generator's wav dir as ours (safe to replace)


def is_done(out_dir: Path, config: dict[str, Any], marker: Path | None = None) -> bool:
    """True if ``out_dir`` was completed with ``config``.

    Raises:
        DataError: it was completed with another configuration, or it exists without a
            done marker (not ours, or not complete: we never leave those behind).
    """
    marker = marker or out_dir / DONE_NAME
    if not out_dir.exists():
        return False
    if not marker.is_file():
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            return False
        raise DataError(
            f"{out_dir} exists but has no done marker {marker.name}: it is not a complete "
            "output of this tool; remove it or choose another output dir"
        )
    previous = json.loads(marker.read_text(encoding="utf-8"))
    if previous != _jsonable(config):
        changed = sorted(
            k for k in set(previous) | set(config) if previous.get(k) != _jsonable(config).get(k)
        )
        raise DataError(
            f"{out_dir} was generated with other options (differences: {', '.join(changed)}); "
            "remove it or choose another output dir"
        )
    return True


def write_marker(marker: Path, config: dict[str, Any]) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(config), indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(marker)


def fresh_temp_dir(final: Path) -> Path:
    """An empty ``.<name>.tmp`` dir beside ``final`` (a stale one from a killed run is removed)."""
    tmp = final.parent / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, removing an (incomplete or empty) ``final`` first."""
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True))
