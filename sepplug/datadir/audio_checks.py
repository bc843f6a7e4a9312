"""What makes audio unusable for separation training and scoring.

NaN or Inf samples turn every loss into NaN far from the cause; an all-zero reference
source makes SI-SDR undefined (0/0). The data generators, ``sepplug validate-data`` and the
training data path (:mod:`sepplug.tasks.enh`) all ask the same question here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

NONFINITE = "holds NaN or Inf samples"
SILENT = "is all zeros (a silent source makes SI-SDR undefined)"


def signal_problem(x: np.ndarray, silent_ok: bool = True) -> str | None:
    """The problem of samples ``x`` (any shape), or None when usable.

    Args:
        silent_ok: an all-zero signal is acceptable (mixtures, noise); False for the
            reference sources.
    """
    if not np.all(np.isfinite(x)):
        return NONFINITE
    if not silent_ok and not np.any(x):
        return SILENT
    return None


def file_problem(path: str | Path, silent_ok: bool = True, blocksize: int = 1 << 16) -> str | None:
    """:func:`signal_problem` of an audio file, read in blocks (large files stay cheap)."""
    nonzero = False
    for block in sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True):
        if not np.all(np.isfinite(block)):
            return NONFINITE
        nonzero = nonzero or bool(np.any(block))
    return None if silent_ok or nonzero else SILENT
