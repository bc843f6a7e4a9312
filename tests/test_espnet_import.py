"""typeguard's instrumentation kept on disk (sepplug.utils.espnet_import): the same type
checks, from the cache on a second start, and a changed source is instrumented anew."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

MODULE = '''
from typeguard import typechecked


@typechecked
def scale(x: int, factor: float = 2.0) -> float:
    return x * factor


def outer():
    class Local:
        pass

    @typechecked
    def inner(obj: Local) -> Local:
        return obj

    return Local, inner


@typechecked
class Box:
    def __init__(self, items: list[int]) -> None:
        self.items = items

    @classmethod
    def of(cls, n: int) -> "Box":
        return cls(list(range(n)))

    @property
    def size(self) -> int:
        return len(self.items)
'''

CHECK = '''
import sys
from sepplug.utils.espnet_import import cache_typeguard_instrumentation
print("installed", cache_typeguard_instrumentation())
import typeguard
import tgmod
assert tgmod.scale(3) == 6.0 and tgmod.scale(3, factor=0.5) == 1.5
Local, inner = tgmod.outer()
obj = Local()
assert inner(obj) is obj
assert tgmod.Box.of(3).size == 3
failures = 0
for bad in (lambda: tgmod.scale("3"), lambda: inner(1), lambda: tgmod.Box(["a"]),
            lambda: tgmod.Box.of("x")):
    try:
        bad()
    except typeguard.TypeCheckError:
        failures += 1
print("failures", failures)
'''


CHANGED = '''
from sepplug.utils.espnet_import import cache_typeguard_instrumentation
cache_typeguard_instrumentation()
import typeguard
import tgmod
try:
    tgmod.scale(3)
    print("int accepted")
except typeguard.TypeCheckError:
    print("int rejected")
'''


def run_check(tmp_path: Path, cache: bool = True, script: str = CHECK) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "src"), *sys.path]),
           "SEPPLUG_TYPEGUARD_CACHE": "1" if cache else "0"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def cached_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "sepplug" / "typeguard").glob("*.bin"))


def test_cached_instrumentation_checks_types_as_typeguard_does(tmp_path):
    src = tmp_path / "src" / "tgmod.py"
    src.parent.mkdir()
    src.write_text(textwrap.dedent(MODULE))

    plain = run_check(tmp_path, cache=False)
    assert "installed False" in plain and "failures 4" in plain
    assert cached_files(tmp_path) == []

    cold = run_check(tmp_path)
    assert "installed True" in cold and "failures 4" in cold
    first = cached_files(tmp_path)
    assert len(first) == 5  # scale, inner, Box.__init__, Box.of, Box.size
    stamps = [p.stat().st_mtime_ns for p in first]

    warm = run_check(tmp_path)  # every function from the cache, none written again
    assert "failures 4" in warm
    assert cached_files(tmp_path) == first
    assert [p.stat().st_mtime_ns for p in first] == stamps

    # A changed source is a cache miss: its new annotations are checked.
    src.write_text(textwrap.dedent(MODULE).replace("def scale(x: int,", "def scale(x: str,"))
    assert "int rejected" in run_check(tmp_path, script=CHANGED)
    assert len(cached_files(tmp_path)) == 5 + 4  # outer() is not called: no new inner
