"""A disk cache for typeguard's ``@typechecked`` instrumentation: a faster ESPnet start.

ESPnet decorates about 200 functions and classes with typeguard's ``@typechecked``. For
each of them typeguard 4 reads its module's source, parses it, rewrites the function's AST
with type checks and compiles *the whole module* again to pick out the new code object:
about 5 of the ~8 s that ``import espnet2.tasks.enh, espnet2.bin.enh_train,
espnet2.bin.enh_inference`` takes on an idle CPU core (``espnet2.train.preprocessor`` and
``espnet2.tasks.abs_task`` are slow to import for that reason only), in every ESPnet process
a recipe starts.

:func:`cache_typeguard_instrumentation` replaces ``typeguard._decorators.instrument`` by a
copy that keeps each instrumented code object in a cache dir (``marshal``, as ``.pyc``
files keep code) keyed by the source file's path and content (sha256), the function's qualified
name and first line, and the typeguard and Python versions. A cached function gets the same
code, globals, closure, defaults and annotations as typeguard would give it, so the type
checks ESPnet runs are unchanged; a changed source file, typeguard or Python is a cache
miss. ``SEPPLUG_TYPEGUARD_CACHE=0`` turns the cache off.

Call it before ESPnet is first imported (``sepplug.utils.offline.prepare_espnet_import``
calls it).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import inspect
import marshal
import os
import sys
from pathlib import Path
from types import CodeType, FunctionType

# The typeguard releases whose ``instrument`` this module's copy follows.
SUPPORTED_TYPEGUARD = ("4.",)
_state: dict[str, object] = {}
_source_digests: dict[str, str] = {}  # source file -> sha256 of its bytes, once per process


def typeguard_cache_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sepplug" / "typeguard"


def _cache_key(f, module, version: str) -> str | None:
    path = getattr(module, "__file__", None)
    if not path or path != f.__code__.co_filename:
        return None  # source read from elsewhere than the function's file: no cache
    digest = _source_digests.get(path)
    if digest is None:
        try:
            digest = _source_digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            return None
    text = "\0".join([
        path, digest, f.__qualname__,
        str(f.__code__.co_firstlineno), version, sys.version,
        importlib.util.MAGIC_NUMBER.hex(),
    ])
    return hashlib.sha256(text.encode()).hexdigest()


def _load(root: Path, key: str):
    try:
        data = (root / f"{key}.bin").read_bytes()
        return marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _store(root: Path, key: str, value) -> None:
    tmp = root / f".{key}.{os.getpid()}.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(value))
        tmp.replace(root / f"{key}.bin")
    except OSError:  # a read-only or full cache dir: typeguard's work is simply not kept
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def cache_typeguard_instrumentation() -> bool:
    """Install the cached ``instrument`` (once per process); returns whether it is in place.

    Nothing is changed when typeguard is missing, is not a release this copy follows, or
    ``SEPPLUG_TYPEGUARD_CACHE`` is ``0``.
    """
    if "installed" in _state:
        return bool(_state["installed"])
    _state["installed"] = False
    if os.environ.get("SEPPLUG_TYPEGUARD_CACHE", "1") == "0":
        return False
    try:
        version = importlib.metadata.version("typeguard")
    except importlib.metadata.PackageNotFoundError:
        return False
    if not version.startswith(SUPPORTED_TYPEGUARD):
        return False
    try:
        from typeguard import _decorators
        from typeguard._config import global_config
        from typeguard._transformer import TypeguardTransformer
    except ImportError:
        return False
    if not callable(getattr(_decorators, "find_target_function", None)):
        return False
    try:
        root = typeguard_cache_dir()
    except RuntimeError:  # no HOME and no passwd entry: no cache dir to be had
        return False
    original = _decorators.instrument

    def instrument(f):
        """typeguard 4's ``instrument`` (``typeguard/_decorators.py``), the instrumented code
        object kept on disk. It must stay one frame below ``typechecked``, as typeguard's
        own is: a new closure's values are read two frames up."""
        if not getattr(f, "__code__", None):
            return "no code associated"
        elif not getattr(f, "__module__", None):
            return "__module__ attribute is not set"
        elif f.__code__.co_filename == "<stdin>":
            return "cannot instrument functions defined in a REPL"
        elif hasattr(f, "__wrapped__"):
            return (
                "@typechecked only supports instrumenting functions wrapped with "
                "@classmethod, @staticmethod or @property"
            )

        module = sys.modules[f.__module__]
        debug = global_config.debug_instrumentation
        key = None if debug else _cache_key(f, module, version)
        cached = _load(root, key) if key else None
        if isinstance(cached, str):
            return cached
        if (isinstance(cached, tuple) and len(cached) == 2
                and isinstance(cached[0], CodeType)):
            new_code, names_used_in_annotations = cached
        else:
            target_path = [item for item in f.__qualname__.split(".") if item != "<locals>"]
            module_source = inspect.getsource(module)
            module_ast = ast.parse(module_source)
            instrumentor = TypeguardTransformer(target_path, f.__code__.co_firstlineno)
            instrumentor.visit(module_ast)

            if not instrumentor.target_node or instrumentor.target_lineno is None:
                reason = "instrumentor did not find the target function"
                if key:
                    _store(root, key, reason)
                return reason

            module_code = compile(module_ast, f.__code__.co_filename, "exec",
                                  dont_inherit=True)
            new_code = _decorators.find_target_function(
                module_code, target_path, instrumentor.target_lineno
            )
            if not new_code:
                reason = "cannot find the target function in the AST"
                if key:
                    _store(root, key, reason)
                return reason
            names_used_in_annotations = tuple(sorted(instrumentor.names_used_in_annotations))
            if debug:
                print(
                    f"Source code of {f.__qualname__}() after instrumentation:"
                    "\n----------------------------------------------",
                    file=sys.stderr,
                )
                print(ast.unparse(instrumentor.target_node), file=sys.stderr)
                print("----------------------------------------------", file=sys.stderr)
            if key:
                _store(root, key, (new_code, names_used_in_annotations))

        closure = f.__closure__
        if new_code.co_freevars != f.__code__.co_freevars:
            # Create a new closure and find values for the new free variables
            frame = inspect.currentframe().f_back
            frame_locals = frame.f_back.f_locals
            cells = []
            for name in new_code.co_freevars:
                if name in names_used_in_annotations:
                    value = frame_locals.get(name) or _decorators.ForwardRef(name)
                    cells.append(_decorators.make_cell(value))
                else:
                    assert f.__closure__
                    cells.append(f.__closure__[f.__code__.co_freevars.index(name)])
            closure = tuple(cells)

        new_function = FunctionType(new_code, f.__globals__, f.__name__, closure=closure)
        new_function.__module__ = f.__module__
        new_function.__name__ = f.__name__
        new_function.__qualname__ = f.__qualname__
        new_function.__doc__ = f.__doc__
        new_function.__defaults__ = f.__defaults__
        new_function.__kwdefaults__ = f.__kwdefaults__
        if sys.version_info >= (3, 12):
            new_function.__type_params__ = f.__type_params__
        if sys.version_info >= (3, 14):
            new_function.__annotate__ = f.__annotate__
        else:
            new_function.__annotations__ = f.__annotations__
        return new_function

    instrument.__wrapped_original__ = original
    _decorators.instrument = instrument
    _state["installed"] = True
    return True
