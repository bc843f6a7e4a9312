"""Input features of the multi-channel STFT separators (``tf_dualpath``, ``spectral_spatial``).

Both read the same two cues: the inter-mic phase and level differences of every bin (where
the talkers are) and the reference mic's log spectrum (who they are).
"""

from __future__ import annotations

import torch


def inter_mic_differences(
    spec: torch.Tensor, ref_channel: int, eps: float, mags: torch.Tensor | None = None,
    level: bool = True,
) -> list[torch.Tensor]:
    """cos, sin of the phase difference and the log level difference of every other mic
    to the reference mic.

    Args:
        spec: (B, T, C, F) complex STFT.
        ref_channel: the reference mic.
        eps: floor of the magnitudes.
        mags: ``spec.abs()`` when the caller has it already.
        level: also the log level difference.

    Returns:
        [cos, sin(, level)], each (B, T, C - 1, F).
    """
    mags = spec.abs() if mags is None else mags
    others = [c for c in range(spec.shape[2]) if c != ref_channel]
    ref = slice(ref_channel, ref_channel + 1)
    cross = spec[:, :, others] * spec[:, :, ref].conj()  # (B, T, C - 1, F)
    unit = cross / (mags[:, :, others] * mags[:, :, ref] + eps)  # |cross| = product of mags
    parts = [unit.real, unit.imag]
    if level:
        parts.append(torch.log(mags[:, :, others] + eps) - torch.log(mags[:, :, ref] + eps))
    return parts


def normalized_log_spectrum(ref: torch.Tensor, ilens: torch.Tensor, eps: float) -> torch.Tensor:
    """Log magnitude of the reference mic less its mean over the utterance's valid frames
    and bins, 0 on padding.

    Args:
        ref: (B, T, F) complex STFT of the reference mic.
        ilens: (B,) valid frames.
        eps: floor of the magnitudes.

    Returns:
        (B, T, F).
    """
    valid = (torch.arange(ref.shape[1], device=ref.device)[None, :] < ilens[:, None])
    valid = valid.to(ref.real.dtype)[..., None]  # (B, T, 1)
    log_mag = torch.log(ref.abs() + eps)
    count = (valid.sum(dim=(1, 2)) * ref.shape[-1]).clamp(min=1)
    mean = (log_mag * valid).sum(dim=(1, 2)) / count
    return (log_mag - mean[:, None, None]) * valid
