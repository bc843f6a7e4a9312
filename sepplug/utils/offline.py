"""Offline-safe, fast settings for what ESPnet imports; call :func:`prepare_espnet_import`
before ESPnet's first import.

``espnet2.tasks.enh`` imports ``espnet2.text.phoneme_tokenizer``, which imports ``g2p_en``;
g2p_en's import looks up two nltk resources and, when they are missing, calls
``nltk.download`` — on a machine without internet that prints eight lines of
``[nltk_data] Error loading ...`` at every ESPnet start. The enhancement task never uses
g2p_en. :func:`prepare_offline_nltk` points nltk (``NLTK_DATA``) at a cache dir holding
empty, valid archives of those two resources, so the look-up succeeds and nothing is
downloaded or printed. A real nltk data dir on ``NLTK_DATA`` stays first in the search path.

:func:`defer_unused_imports` goes further. g2p_en and tacotron_cleaner (with nltk and
inflect) are most of the time ``import espnet2.tasks.enh`` takes, in every ESPnet process a
recipe starts, and the enhancement task never touches them. Each is registered as a
stand-in module: ``import g2p_en`` returns at once, and the real import runs when one of
its names is first read (``g2p_en.G2p``, should a tokenizer need it).

:func:`quiet_third_party_future_warnings` hides the FutureWarnings that ESPnet's import and
run raise from third-party code (e.g. ESPnet's own ``torch.cuda.amp.autocast`` decorators):
nothing a sepplug user can act on. The filter is by module: a FutureWarning that sepplug's
own code (or a script's ``__main__``) triggers is still shown.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import sys
import types
import warnings
import zipfile
from pathlib import Path

# The resources g2p_en 2.1 looks up at import (g2p_en/g2p.py).
G2P_EN_RESOURCES = ("taggers/averaged_perceptron_tagger_eng.zip", "corpora/cmudict.zip")
# Modules ESPnet's enh task imports at start but does not use: g2p_en (with nltk) through
# espnet2.text.phoneme_tokenizer, and tacotron_cleaner.cleaners (with inflect, ~6 s alone)
# through espnet2.text.cleaner.
LAZY_MODULES = ("g2p_en", "tacotron_cleaner.cleaners")
# Packages whose own FutureWarnings are hidden (the module a warning is attributed to, i.e.
# the caller of the deprecated API, is matched): ESPnet and what its enh task runs on.
QUIET_FUTURE_WARNING_PACKAGES = (
    "espnet",
    "espnet2",
    "torch",
    "torchaudio",
    "torch_complex",
    "librosa",
    "numba",
    "typeguard",
    "ci_sdr",
    "fast_bss_eval",
    "asteroid_filterbanks",
    "pyroomacoustics",
)


def offline_nltk_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sepplug" / "nltk_data"


def prepare_offline_nltk() -> Path:
    """Create the stand-in archives (once) and append their dir to ``NLTK_DATA``.

    Must run before nltk is first imported (nltk reads ``NLTK_DATA`` at import).
    """
    root = offline_nltk_dir()
    for resource in G2P_EN_RESOURCES:
        path = root / resource
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            zipfile.ZipFile(tmp, "w").close()
            tmp.replace(path)
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([*paths, str(root)])
    return root


class _DeferredModule(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is read.

    Not ``importlib.util.LazyLoader``: on Python 3.11 its module loads on *any* attribute
    read, and the import system itself reads ``__spec__`` at the next ``import`` statement
    (and torch reads module dunders at import). Here the dunders a real module has are plain
    attributes and other dunders are missing, so only a real name (``g2p_en.G2p``) imports.
    """

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        self.__file__ = spec.origin
        self.__path__ = list(spec.submodule_search_locations or [])

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)  # later reads through this object are plain
        return getattr(real, attr)


def _find_spec_without_import(name: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of a top-level module or of a package's direct submodule, without running
    the package's ``__init__`` (``importlib.util.find_spec`` would import the parent)."""
    parent, _, _ = name.rpartition(".")
    if not parent:
        return importlib.util.find_spec(name)
    if "." in parent or parent in sys.modules:
        return None  # deeper names are not needed; an imported parent has loaded it already
    parent_spec = importlib.util.find_spec(parent)
    if parent_spec is None or not parent_spec.submodule_search_locations:
        return None
    return importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)


def defer_unused_imports(names: tuple[str, ...] = LAZY_MODULES) -> list[str]:
    """Put a :class:`_DeferredModule` in ``sys.modules`` for each module in ``names`` that is
    installed and not imported yet; returns the names deferred. A module that is missing is
    left alone (ESPnet's import of it then fails as it would without this).
    """
    deferred = []
    for name in names:
        if name in sys.modules:
            continue
        spec = _find_spec_without_import(name)
        if spec is None:
            continue
        sys.modules[name] = _DeferredModule(spec)
        deferred.append(name)
    return deferred


def quiet_third_party_future_warnings(
    packages: tuple[str, ...] = QUIET_FUTURE_WARNING_PACKAGES,
) -> None:
    """Ignore FutureWarnings attributed to a module of ``packages`` (and only those)."""
    names = "|".join(re.escape(p) for p in packages)
    warnings.filterwarnings("ignore", category=FutureWarning, module=rf"(?:{names})(?:\.|$)")


def prepare_espnet_import() -> None:
    """Offline nltk stand-ins, lazy unused modules, quiet third-party FutureWarnings and
    typeguard's instrumentation from its disk cache (:mod:`sepplug.utils.espnet_import`),
    before ESPnet is first imported."""
    from sepplug.utils.espnet_import import cache_typeguard_instrumentation

    prepare_offline_nltk()
    defer_unused_imports()
    quiet_third_party_future_warnings()
    cache_typeguard_instrumentation()
