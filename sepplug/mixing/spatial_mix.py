"""Render one on-the-fly spatial mixture: crop, gain, RIR convolution, rotation, peak level.

The same steps as the SpatialVCTK simulator's offline renderer, with stored
RIRs (:mod:`sepplug.mixing.rir_bank`) instead of a room simulated per mixture: each dry
source is cropped (or zero-padded) to the segment, normalised to unit RMS, given
±``gain_db`` (a level difference of up to ``max_sir`` dB), convolved with its C-channel
RIR (one FFT per source, :func:`sepplug.simulate.room.convolve_rirs`, reverberant tail beyond
the segment dropped), and the two images are scaled so the mixture's peak is
U(0.3, 0.9). The mixture is the float32 sum of the float32 images (exact).

Rotation: the array is circular with mic ``m`` at ``m * 360/C`` degrees (mic 0 on +x,
:func:`sepplug.simulate.room.mic_positions`), so rotating the whole scene (room and
sources) by ``k * 360/C`` degrees about the array centre puts at mic ``m`` what mic
``m - k`` heard: the channels roll by ``k`` (:func:`rotate_channels`). The angle between
the sources, hence the category, is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sepplug.errors import DataError
from sepplug.simulate.room import convolve_rirs
from sepplug.simulate.segments import fit_segment

MIX_PEAK_RANGE = (0.3, 0.9)  #: the mixture peak is drawn from U(0.3, 0.9), as offline


@dataclass(frozen=True)
class MixParams:
    """The per-mixture draws besides the sampling policy's."""

    crops: tuple[float, float]  # crop positions in [0, 1) (see fit_segment)
    gain_db: float  # source a at +gain_db, source b at -gain_db, re unit RMS
    mix_peak: float  # peak of the mixture
    rotation: int  # channel steps of the rotation augmentation (0 = none)


def draw_mix_params(rng: np.random.Generator, max_sir: float, num_mics: int,
                    rotate: bool) -> MixParams:
    """Crops, gain and level as the simulator draws them; the rotation last (so that
    turning rotation on or off leaves the other draws unchanged)."""
    crops = rng.random(2)
    gain = rng.uniform(-max_sir / 2, max_sir / 2)
    peak = rng.uniform(*MIX_PEAK_RANGE)
    rotation = int(rng.integers(num_mics)) if rotate else 0
    return MixParams((float(crops[0]), float(crops[1])), float(gain), float(peak), rotation)


def rotate_channels(x: np.ndarray, steps: int, axis: int = -1) -> np.ndarray:
    """Channels of the scene rotated by ``steps * 360/C`` degrees: ``out[m] = x[m - steps]``.

    Args:
        x: (..., C) signals when ``axis=-1``, e.g. (T, C) or (S, T, C).
    """
    return np.roll(x, steps, axis=axis)


def render_mixture(
    dry: tuple[np.ndarray, np.ndarray], rirs: tuple[np.ndarray, np.ndarray],
    num_samples: int, params: MixParams, names: tuple[str, str] = ("a", "b"),
) -> tuple[np.ndarray, np.ndarray]:
    """One mixture.

    Args:
        dry: two (T_i,) dry utterances at the RIRs' sample rate.
        rirs: two (C, L) RIRs (positions of one room).
        num_samples: segment length T.
        names: the utterances' ids, for error messages.

    Returns:
        (mix, images): (T, C) float32 mixture and (2, T, C) float32 images, rotated by
        ``params.rotation``; ``mix == images[0] + images[1]`` exactly.

    Raises:
        DataError: a silent segment (the utterance is named).
    """
    segments = []
    for audio, crop, gain_db, name in zip(dry, params.crops, (params.gain_db, -params.gain_db),
                                          names, strict=True):
        segment, _, _ = fit_segment(audio, num_samples, crop)
        rms = np.sqrt(np.mean(segment**2))
        if rms == 0:
            raise DataError(f"source {name}: the {num_samples}-sample segment at crop "
                            f"position {crop:.3f} is silent")
        segments.append(segment / rms * 10 ** (gain_db / 20))
    num_mics = rirs[0].shape[0]
    images = convolve_rirs(np.stack(segments),
                           [[rirs[0][m], rirs[1][m]] for m in range(num_mics)])  # (2, C, T)
    scale = params.mix_peak / np.abs(images.sum(axis=0)).max()
    images = np.transpose(images * scale, (0, 2, 1)).astype(np.float32)  # (2, T, C)
    if params.rotation:
        images = rotate_channels(images, params.rotation, axis=-1)
    return images[0] + images[1], images
