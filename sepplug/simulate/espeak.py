"""A ctypes driver for the espeak-ng library that ships inside the ``espeakng-loader`` wheel.

No system espeak-ng is needed: the wheel carries ``libespeak-ng.so`` and its voice data.
The PyPI wrappers (``espeakng``, ``espeak-py`` ...) call the system binary or only
phonemize, hence this small driver.

Two facts shape it:

* espeak-ng is a C library with global state (one voice, one callback per process), so
  a process drives one synthesis at a time; parallelise with processes.
* Its output depends on what the process synthesised before (the glottal source and
  filters keep their state across utterances: the same sentence said twice in a row
  differs by a few samples). :func:`run_isolated` therefore synthesises each utterance
  in a forked child of a freshly initialised process, which makes every utterance a
  pure function of (voice, text, rate, seed), whatever order or process it runs in.

Custom voices: espeak-ng looks voice variants up in ``<data>/voices/!v/``.
:func:`prepare_data_dir` builds a private copy of the data dir out of symlinks and adds
our variant files there; ``"en-us+spk001"`` then selects language ``en-us`` with the
variant file ``spk001``.
"""

from __future__ import annotations

import ctypes
import os
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

# espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS returns audio through the callback.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_PARAMETER values
PARAM_RATE = 1  # words per minute
PARAM_VOLUME = 2  # 0-200, 100 = normal
# espeak_Synth flags
_CHARS_UTF8 = 1
_POS_CHARACTER = 1

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def stock_data_dir() -> Path:
    """The ``espeak-ng-data`` dir inside the espeakng-loader wheel."""
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def prepare_data_dir(dest: Path, variants: Mapping[str, str]) -> Path:
    """Make ``dest/espeak-ng-data``: the wheel's data (symlinked) plus our voice variants.

    Args:
        dest: a writable dir (created); a previous copy there is updated in place.
        variants: variant name -> content of its voice file (see :mod:`sepplug.simulate.voices`).

    Returns:
        The data dir to pass to :class:`Espeak`.
    """
    stock = stock_data_dir()
    data = dest / "espeak-ng-data"
    variant_dir = data / "voices" / "!v"
    variant_dir.mkdir(parents=True, exist_ok=True)
    for entry in stock.iterdir():
        if entry.name != "voices" and not (data / entry.name).exists():
            (data / entry.name).symlink_to(entry)
    for entry in (stock / "voices").iterdir():
        if entry.name != "!v" and not (data / "voices" / entry.name).exists():
            (data / "voices" / entry.name).symlink_to(entry)
    for name, text in variants.items():
        (variant_dir / name).write_text(text, encoding="utf-8")
    return data


class Espeak:
    """The espeak-ng library of this process, initialised on a data dir.

    Args:
        data_dir: an ``espeak-ng-data`` dir (the wheel's or one from :func:`prepare_data_dir`).
    """

    def __init__(self, data_dir: Path | str | None = None) -> None:
        import espeakng_loader

        data_dir = Path(data_dir) if data_dir is not None else stock_data_dir()
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.sample_rate = int(
            self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_dir).encode(), 0)
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise on data dir {data_dir}")
        self._chunks: list[np.ndarray] = []
        # Keep a reference: ctypes frees the trampoline when the Python object dies.
        self._callback = _CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples: int, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0  # 0 = go on synthesising

    def synthesize(
        self, voice: str, text: str, rate: int = 175, volume: int = 70, seed: int = 0
    ) -> np.ndarray:
        """Say ``text`` with ``voice`` (e.g. ``"en-us+spk001"``).

        Args:
            rate: speaking rate in words per minute.
            volume: 0-200; 70 keeps every variant clear of clipping.
            seed: seed of espeak's noise sources (breath, Klatt frication).

        Returns:
            int16 samples, shape (T,), at :attr:`sample_rate`.
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice '{voice}'")
        self._lib.espeak_SetParameter(PARAM_RATE, int(rate), 0)
        self._lib.espeak_SetParameter(PARAM_VOLUME, int(volume), 0)
        self._lib.espeak_ng_SetRandSeed(int(seed))
        self._chunks = []
        payload = text.encode("utf-8") + b"\0"
        status = self._lib.espeak_Synth(
            payload, len(payload), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self._lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed (status {status}) on text {text!r}")
        if not self._chunks:
            raise RuntimeError(f"espeak-ng produced no audio for {text!r} with voice {voice}")
        return np.concatenate(self._chunks)


def run_isolated(func: Callable[[], None]) -> None:
    """Run ``func`` in a forked child and wait; raise if it failed.

    The child starts from this process's state, so the library state after
    :class:`Espeak` initialisation is the same for every call (see the module doc).
    ``func`` returns nothing: it writes its results to files.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            func()
        except BaseException:
            os.write(write_fd, traceback.format_exc().encode()[-4000:])
            code = 1
        os.close(write_fd)
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"isolated synthesis failed:\n{message or f'exit status {status}'}")
