"""The training data path's check of every utterance ESPnet reads.

``sepplug validate-data`` checks a data dir once; a file that changes later (or a data dir
that was never validated) would otherwise reach the model, and ESPnet would only log a NaN
loss far from the cause. :class:`CheckedPreprocess` runs before the task's preprocessor
and raises :class:`~sepplug.errors.DataError` naming the utterance, the data name,
its file list and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from sepplug.datadir.audio_checks import signal_problem
from sepplug.datadir.validate import declared_source_counts, is_padding
from sepplug.errors import DataError

# Data names holding reference sources: an all-zero one makes SI-SDR undefined.
REFERENCE_PREFIXES = ("speech_ref",)
# Data names holding audio: checked for NaN/Inf.
AUDIO_PREFIXES = ("speech_mix", "speech_ref", "noise_ref", "dereverb_ref")
_REF_INDEX = re.compile(r"speech_ref(\d+)$")


def declared_source_counts_near(ref_lists: Iterable[str]) -> dict[str, int]:
    """The padding declared by the ``utt2num_sources`` beside the reference lists (rule:
    :func:`sepplug.datadir.validate.declared_source_counts`): ``speech_ref<k>`` with ``k > K``
    may be silent (the supervised views of :mod:`sepplug.recipes.mixit.make_data`)."""
    counts: dict[str, int] = {}
    for data_dir in sorted({Path(path).parent for path in ref_lists}):
        table = data_dir / "utt2num_sources"
        if not table.is_file():
            continue
        lines = (line.split(maxsplit=1) for line in table.read_text(encoding="utf-8").splitlines())
        counts.update(declared_source_counts({f[0]: f[1] for f in lines if len(f) == 2}))
    return counts


class CheckedPreprocess:
    """Checks an utterance's audio, then applies ``inner`` (ESPnet's preprocessor or None).

    Args:
        inner: the task's preprocessor, ``inner(uid, data) -> data``, or None.
        sources: data name -> file it is read from (for the error message).
        needs: apply ``inner`` only to examples holding this data name, pass the others
            unchanged (a dynamic-mixing preprocessor outside training: see
            :class:`~sepplug.tasks.enh.SepplugEnhancementTask`).
        ref_lists: every reference file list the process may read (train and valid: ESPnet's
            stats pass reads both with one preprocessor), for :func:`declared_source_counts_near`.
    """

    def __init__(self, inner: Callable | None, sources: Mapping[str, str],
                 needs: str | None = None, ref_lists: Iterable[str] = ()) -> None:
        self.inner = inner
        self.sources = dict(sources)
        self.needs = needs
        self.num_sources = declared_source_counts_near(ref_lists)

    def _silent_ok(self, uid: str, name: str) -> bool:
        if not name.startswith(REFERENCE_PREFIXES):
            return True
        index = _REF_INDEX.match(name)
        return bool(index) and is_padding(self.num_sources, uid, int(index.group(1)))

    def __call__(self, uid: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, value in data.items():
            if not name.startswith(AUDIO_PREFIXES) or not isinstance(value, np.ndarray):
                continue
            problem = signal_problem(value, silent_ok=self._silent_ok(uid, name))
            if problem:
                where = self.sources.get(name, "?")
                raise DataError(
                    f"utterance {uid}: {name} (from {where}) {problem}; check the data dir "
                    "with `sepplug validate-data`"
                )
        if self.inner is None or (self.needs is not None and self.needs not in data):
            return data
        return self.inner(uid, data)

    def __getattr__(self, name: str):
        # ESPnet and plugins may read attributes of the preprocessor (e.g. its `train` flag).
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
