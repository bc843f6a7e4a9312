"""A discriminator that looks at how far apart the two sources' directions are.

The pooled inter-mic features of :class:`~sepplug.augment.wave_cyclegan.XCorrDiscriminator`
carry each source's direction mixed with the array's orientation, so a small D has to
learn geometry before it can tell D_hard from D_both; with the re-steering generator it
stayed near chance for 100 steps and gave G no usable gradient. This one hands D the
quantity the domains differ in. For each source it computes the SRP-PHAT map over
``n_azimuths`` directions (differentiable: PHAT-normalized cross-spectra of all mic
pairs, pooled over the segment, steered by the plane-wave delays), and then the circular
cross-correlation of the two maps over the azimuth *offset*:

    ``R(k) = sum_a m_1(a) m_2(a + k)``,  symmetrized ``(R(k) + R(-k)) / 2``, ``k = 0..A/2``,

with ``m_s`` the source's map (:class:`~sepplug.augment.steering_generator.SRPPhat`)
normalized to zero mean and unit norm. ``R`` peaks at the
angle between the sources; it does not change when the scene is rotated or the sources
are swapped. A small MLP scores it.

Shape: ``(B, 2C, T)`` → scores ``(B, 1, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sepplug.augment.spatial_metrics import DEFAULT_MICS, DEFAULT_RADIUS, ArrayGeometry
from sepplug.augment.steering_generator import SRPPhat


class SRPDiscriminator(nn.Module):
    """Scores the angle-offset profile of a source pair (see the module docstring).

    Args:
        channels: 2 sources × C mics.
        sample_rate: Hz.
        mic_xy: mic positions ``(C, 2)`` in metres (default: SpatialVCTK's circular array).
        n_azimuths: directions of the maps (5° apart at 72).
        n_fft: STFT size (hop ``n_fft // 2``).
        hidden: MLP width.
        min_freq: lowest frequency used, Hz.
    """

    def __init__(self, channels: int, sample_rate: int = 8000,
                 mic_xy: Sequence[Sequence[float]] | None = None, n_azimuths: int = 72,
                 n_fft: int = 256, hidden: int = 64, min_freq: float = 100.0):
        super().__init__()
        n_mics = channels // 2
        if mic_xy is None:
            mic_xy = ArrayGeometry.circular(n_mics or DEFAULT_MICS, DEFAULT_RADIUS).mic_xy
        if channels % 2 or len(mic_xy) != n_mics:
            raise ValueError(f"channels must be 2 x {len(mic_xy)} mics, got {channels}")
        self.n_mics = n_mics
        self.srp = SRPPhat(mic_xy, sample_rate, n_fft, n_azimuths, min_freq)
        self.net = nn.Sequential(nn.Linear(n_azimuths // 2 + 1, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """SRP-PHAT maps, zero mean and unit norm: ``(B, 2C, T)`` → ``(B, 2, A)``."""
        power = self.srp.power(x.reshape(x.shape[0], 2, self.n_mics, -1))
        power = power - power.mean(-1, keepdim=True)
        return power / (power.norm(dim=-1, keepdim=True) + 1e-8)

    def offset_profile(self, x: torch.Tensor) -> torch.Tensor:
        """Swap- and rotation-invariant profile over the angle offset: ``(B, A/2 + 1)``."""
        maps = self.maps(x)
        n_az = maps.shape[-1]
        spec = torch.fft.rfft(maps, dim=-1)
        corr = torch.fft.irfft(spec[:, 0].conj() * spec[:, 1], n=n_az, dim=-1)  # (B, A)
        half = n_az // 2 + 1
        return 0.5 * (corr[:, :half] + corr.roll(-1, -1).flip(-1)[:, :half])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.offset_profile(x))[:, :, None]
