"""Offline-safe settings for what ESPnet imports.

``espnet2.tasks.enh`` imports ``espnet2.text.phoneme_tokenizer``, which imports ``g2p_en``;
g2p_en's import looks up two nltk resources and, when they are missing, calls
``nltk.download`` — on a machine without internet that prints eight lines of
``[nltk_data] Error loading ...`` at every ESPnet start. The enhancement task never uses
g2p_en. :func:`prepare_offline_nltk` points nltk (``NLTK_DATA``) at a cache dir holding
empty, valid archives of those two resources, so the look-up succeeds and nothing is
downloaded or printed. A real nltk data dir on ``NLTK_DATA`` stays first in the search path.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

# The resources g2p_en 2.1 looks up at import (g2p_en/g2p.py).
G2P_EN_RESOURCES = ("taggers/averaged_perceptron_tagger_eng.zip", "corpora/cmudict.zip")


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
