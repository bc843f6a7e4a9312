"""Read and write the multi-channel audio of a Kaldi-style data dir.

``*.scp`` values are either a sound file path (read with soundfile) or a Kaldi
``ark:offset`` / pipe specifier (read with kaldiio). Errors name the scp file and key.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from sepplug.datadir.kaldi_dir import read_table


def read_scp(path: Path | str) -> dict[str, str]:
    """``<utt> <value>`` table of an scp file; a clear error when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    return read_table(path)


def _is_kaldi_spec(value: str) -> bool:
    return value.endswith("|") or ".ark:" in value or value.startswith("ark:")


def read_audio(value: str, key: str = "?", source: Path | str = "?") -> tuple[np.ndarray, int]:
    """Load one scp entry as float32 ``(T, C)`` and its sample rate.

    Args:
        value: the scp value (path or kaldiio specifier).
        key, source: utterance id and scp file, for error messages.
    """
    try:
        if _is_kaldi_spec(value):
            import kaldiio

            loaded = kaldiio.load_mat(value)
            if not isinstance(loaded, tuple):
                raise ValueError("not audio (kaldiio returned a matrix without a sample rate)")
            fs, raw = loaded
            audio = np.asarray(raw, dtype=np.float32)
            if np.issubdtype(np.asarray(raw).dtype, np.integer):
                audio = audio / 32768.0  # kaldiio returns wav arks as int16 PCM
        else:
            audio, fs = sf.read(value, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, ValueError, sf.LibsndfileError) as exc:
        raise OSError(f"{source}: cannot read '{key}' from {value}: {exc}") from exc
    if audio.ndim == 1:
        audio = audio[:, None]
    return audio, int(fs)


def audio_info(value: str, key: str = "?", source: Path | str = "?") -> tuple[int, int, int]:
    """``(n_samples, n_channels, sample_rate)`` of an scp entry without decoding it
    (soundfile paths; kaldiio entries are loaded)."""
    if _is_kaldi_spec(value):
        audio, fs = read_audio(value, key, source)
        return audio.shape[0], audio.shape[1], fs
    try:
        info = sf.info(value)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise OSError(f"{source}: cannot read '{key}' from {value}: {exc}") from exc
    return info.frames, info.channels, info.samplerate


def write_audio(path: Path | str, audio: np.ndarray, fs: int) -> None:
    """Write float32 audio ``(T,)`` or ``(T, C)`` as 32-bit float wav (no clipping of
    transformed signals), via a temp name and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, np.asarray(audio, dtype=np.float32), fs, subtype="FLOAT", format="WAV")
    os.replace(tmp, path)
