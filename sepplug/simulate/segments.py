"""Sources as segments: load a corpus file at a rate, crop or pad it to a fixed length.

The one place where every data generator (the SpatialVCTK simulator, the MixIT and
dynamic-mixing sets, the domain mixtures) and the run-time mixers (``spatial_dm``) turn an
utterance into a fixed-length source, so that a crop position means the same everywhere.
"""

from __future__ import annotations

import logging

import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)


def load_source(path: str, fs: int) -> np.ndarray:
    """Mono float64 samples of a corpus file at ``fs`` (first channel; soxr-resampled).

    Returns:
        (T,) samples.
    """
    import soxr

    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    audio = audio[:, 0]
    if rate != fs:
        logger.debug("resampling %s from %d to %d Hz", path, rate, fs)
        audio = soxr.resample(audio, rate, fs, quality="HQ")
    return audio


def fit_segment(
    audio: np.ndarray, num_samples: int, position: float
) -> tuple[np.ndarray, int, bool]:
    """Crop (or zero-pad) ``audio`` to ``num_samples``.

    Args:
        audio: (T,) samples.
        position: in [0, 1): where the crop starts within the possible starts, or where the
            utterance sits inside the padded segment when it is shorter.

    Returns:
        ((num_samples,) segment, offset, padded): offset is the crop start in the
        utterance, or, when padded, the sample of the segment where the utterance starts.
    """
    slack = len(audio) - num_samples
    if slack >= 0:
        start = min(int(position * (slack + 1)), slack)
        return audio[start : start + num_samples], start, False
    lead = min(int(position * (-slack + 1)), -slack)
    out = np.zeros(num_samples)
    out[lead : lead + len(audio)] = audio
    return out, lead, True


def crop_or_pad(audio: np.ndarray, num_samples: int, position: float) -> np.ndarray:
    """A ``num_samples`` crop of ``(T,)`` audio at ``position`` in [0, 1), or zero-padding:
    :func:`fit_segment`'s segment alone, as a new array.

    A longer utterance is cropped at ``floor(position * (T - N + 1))``; a shorter one is
    placed at ``floor(position * (N - T + 1))`` in zeros.
    """
    return fit_segment(audio, num_samples, position)[0].copy()
