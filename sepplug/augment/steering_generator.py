"""A feature-suppression generator that can only re-steer each source.

FEABASE's G must take the spatial cue away and keep the timbre. The free waveform
generator (:class:`~sepplug.augment.wave_cyclegan.WaveGenerator`) can do anything to the
audio, and on a CPU budget it either stayed the identity or leaked one source into the
other without moving either. :class:`SteeringGenerator` restricts G to the one change
the paper asks for ("each source sounds as if it is coming from the same direction"):

1. **where each source is** — the azimuth ``theta_s`` of source ``s`` by SRP-PHAT over
   the segment (the estimator of :mod:`sepplug.augment.spatial_metrics`, batched in
   torch; no gradient flows through it);
2. **where it should be** (learned) — ``phi_s = theta_s + delta_s``, the move ``delta_s``
   the angle of the 2-vector ``MLP([cos D_s, sin D_s, r_s, z])``, with
   ``D_s = theta_other - theta_s`` and the role ``r_s = +1`` for source 1, ``-1`` for
   source 2. The MLP sees only the angle *difference*, so rotating the scene rotates the
   result. Why a vector and a role: bringing two directions together is a map on the
   circle, and no continuous rule that treats both sources alike can do it for every
   pair (the midpoint jumps where the sources are 180° apart); "source 1 moves towards
   source 2" can, when the move is a unit vector rather than an angle. The training
   pairs are swapped at random, so the roles carry no meaning of their own. The last
   layer starts at (weights 0, bias (0.25, 0)): G starts as the identity;
3. **re-steering** (fixed) — every mic ``m`` of the source is delayed by
   ``d_m = (tau_m(phi) - tau_0(phi)) - (tau_m(theta) - tau_0(theta))`` samples, with
   ``tau_m(a) = -r_m . u(a) / c`` the far-field arrival time of a plane wave from ``a``:
   a fractional delay, applied as a phase ramp on the mic's own spectrum. This is the
   per-microphone filter the issue describes, in its smallest form (a pure delay; levels
   are left as they are, inter-mic level differences of a 7 cm array are < 0.5 dB).

What this buys, by construction: mic 0 (the reference of every separator target) is
never changed, so the timbre there is exactly kept; no audio path joins the two sources,
so nothing leaks. What G learns is only the choice of directions, pushed by the
discriminators towards pairs that look like D_hard.

Shape: ``(B, 2C, T)`` → ``(B, 2C, T)``: channels ``0..C-1`` source 1, ``C..2C-1`` source 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

SPEED_OF_SOUND = 343.0


class SRPPhat(nn.Module):
    """Batched SRP-PHAT of one source image over ``n_azimuths`` directions: the map
    (:meth:`power`, differentiable) and its peak (``forward``, no gradient).

    Args:
        mic_xy: mic positions in metres, ``(C, 2)``.
        sample_rate: Hz.
        n_fft: STFT size (Hann window, hop ``n_fft // 2``), as
            :func:`sepplug.augment.spatial_metrics.phat_cross_spectra`.
        min_freq: lowest frequency used, Hz.

    Shape: ``(B, C, T)`` → azimuths in radians ``(B,)`` in ``[0, 2 pi)``, on the grid.
    """

    def __init__(self, mic_xy: Sequence[Sequence[float]], sample_rate: int, n_fft: int = 1024,
                 n_azimuths: int = 720, min_freq: float = 100.0):
        super().__init__()
        xy = torch.as_tensor(mic_xy, dtype=torch.float64)
        i, j = torch.triu_indices(len(xy), len(xy), offset=1)
        self.register_buffer("pair_i", i, persistent=False)
        self.register_buffer("pair_j", j, persistent=False)
        self.n_fft = n_fft
        grid = torch.arange(n_azimuths, dtype=torch.float64) * 2 * math.pi / n_azimuths
        self.register_buffer("grid", grid.float(), persistent=False)
        u = torch.stack([grid.cos(), grid.sin()])  # (2, A)
        tdoa = -((xy[i] - xy[j]) @ u) * sample_rate / SPEED_OF_SOUND  # (P, A) samples
        freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        weight = (freqs * sample_rate / n_fft >= min_freq).double()
        steer = torch.polar(weight[None, None, :].expand(*tdoa.shape, -1),
                            2 * math.pi * tdoa[..., None] * freqs / n_fft)  # (P, A, F)
        self.register_buffer("steer", steer.to(torch.complex64), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def power(self, x: torch.Tensor) -> torch.Tensor:
        """Steered response power: ``(..., C, T)`` → ``(..., A)``."""
        *lead, n_mics, length = x.shape
        if length < self.n_fft:
            x = F.pad(x, (0, self.n_fft - length))
        spec = torch.stft(x.reshape(-1, x.shape[-1]), self.n_fft, self.n_fft // 2,
                          window=self.window, center=False, return_complex=True)
        spec = spec.reshape(-1, n_mics, *spec.shape[-2:])  # (B', C, F, N)
        cross = (spec[:, self.pair_i] * spec[:, self.pair_j].conj()).sum(-1)  # (B', P, F)
        cross = cross / (cross.abs() + 1e-12)
        power = torch.einsum("bpf,paf->ba", cross, self.steer).real
        return power.reshape(*lead, -1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid[self.power(x).argmax(-1)]


class SteeringGenerator(nn.Module):
    """Re-steering FS generator (see the module docstring).

    Args:
        channels: 2 sources × C mics.
        mic_xy: mic positions in metres, ``(C, 2)`` (the trainer fills it in from the data).
        sample_rate: Hz (filled in by the trainer).
        hidden: width of the direction MLP.
        n_noise: standard-normal inputs of the MLP (0: a deterministic G).
        n_fft: STFT size of the azimuth estimate.
    """

    def __init__(self, channels: int, mic_xy: Sequence[Sequence[float]], sample_rate: int,
                 hidden: int = 64, n_noise: int = 0, n_fft: int = 1024):
        super().__init__()
        if channels % 2 or channels // 2 != len(mic_xy):
            raise ValueError(f"channels must be 2 x {len(mic_xy)} mics, got {channels}")
        self.channels, self.n_mics, self.n_noise = channels, channels // 2, n_noise
        self.srp = SRPPhat(mic_xy, sample_rate, n_fft)
        self.register_buffer("mic_xy", torch.as_tensor(mic_xy, dtype=torch.float32),
                             persistent=False)
        self.delay_scale = sample_rate / SPEED_OF_SOUND
        self.direction = nn.Sequential(nn.Linear(3 + n_noise, hidden), nn.Tanh(),
                                       nn.Linear(hidden, hidden), nn.Tanh(),
                                       nn.Linear(hidden, 2))
        nn.init.zeros_(self.direction[-1].weight)
        with torch.no_grad():  # a short vector: its angle answers fast to the first updates
            self.direction[-1].bias.copy_(torch.tensor([0.25, 0.0]))
        self.register_buffer("role", torch.tensor([1.0, -1.0]), persistent=False)
        self.last_azimuths: tuple[torch.Tensor, torch.Tensor] | None = None

    def arrival(self, azimuth: torch.Tensor) -> torch.Tensor:
        """Plane-wave arrival time at each mic relative to mic 0, samples: ``(...,)`` →
        ``(..., C)``."""
        u = torch.stack([azimuth.cos(), azimuth.sin()], -1)  # (..., 2)
        tau = -(u @ self.mic_xy.T) * self.delay_scale
        return tau - tau[..., :1]

    @staticmethod
    def delay(x: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        """Fractional delay of each channel: ``x (..., T)`` by ``delays (...)`` samples
        (zero-padded, so nothing wraps around)."""
        length = x.shape[-1]
        pad = int(delays.detach().abs().max().ceil().item()) + 8 if delays.numel() else 8
        n = length + 2 * pad
        spec = torch.fft.rfft(F.pad(x, (pad, pad)), n=n)
        omega = 2 * math.pi * torch.arange(spec.shape[-1], device=x.device) / n
        ramp = torch.polar(torch.ones_like(omega), -omega * delays[..., None])
        out = torch.fft.irfft(spec * ramp, n=n)
        return out[..., pad:pad + length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, T), got {tuple(x.shape)}")
        batch, c = x.shape[0], self.n_mics
        sources = x.reshape(batch, 2, c, -1)
        theta = self.srp(sources.reshape(batch * 2, c, -1)).reshape(batch, 2)
        diff = theta.flip(1) - theta  # (B, 2): the other source's azimuth minus this one's
        feats = [diff.cos()[..., None], diff.sin()[..., None],
                 self.role.expand(batch, 2)[..., None]]
        if self.n_noise:
            feats.append(torch.randn(batch, 1, self.n_noise, device=x.device).expand(-1, 2, -1))
        move = self.direction(torch.cat(feats, -1))  # (B, 2, 2)
        phi = theta + torch.atan2(move[..., 1], move[..., 0])
        self.last_azimuths = (theta.detach(), phi.detach())
        delays = self.arrival(phi) - self.arrival(theta)  # (B, 2, C); mic 0: 0
        return self.delay(sources, delays).reshape_as(x)
