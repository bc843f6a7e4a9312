"""Waveform CycleGAN for multi-channel source pairs: FEABASE's feature-suppression model.

FEABASE (Sec. 3.1) trains a WaveCycleGAN whose forward generator G maps the source
pairs of D_both (two speakers, any directions) to the distribution of the target
domain and whose reverse generator F maps back; discriminators D_Y and D_X tell real
from generated samples of each domain. G is the feature-suppression (FS) model.

Target domain. The paper suppresses the *easy* (spatial) feature and keeps the *hard*
(timbre) one, "resulting that each source sounds as if it is coming from the same
direction" (Sec. 4.2), and uses G to augment the set that only timbre can solve. That
set is D_hard: two different speakers less than 20 degrees apart. So Y = source pairs
of D_hard (``utt2category == hard``) — not D_easy, whose two sources are the *same*
speaker from two directions (G would then have to remove timbre and keep direction,
the opposite of suppressing the easy feature). The trainer makes the target categories
an option (``target_categories``); the paper's sizes are 5000 D_both vs 500 target.

Layout. A sample is both sources at all C mics, stacked ``(B, 2C, T)``: channels
``0..C-1`` are source 1 at mics ``0..C-1``, channels ``C..2C-1`` source 2. A mixture is
``x[:, :C] + x[:, C:]``.

Networks (WaveCycleGAN2-style, no up/down-sampling so any length T works):

* :class:`WaveGenerator` — input conv + GLU → residual blocks (gated conv, conv,
  instance norm) → output conv, added to the input. The output conv starts at zero,
  so G and F start as the identity (the cycle and identity losses are 0 at step 0 and
  the adversarial loss moves them away only as far as it needs).
* :class:`TimeDiscriminator` — dilated 1-D conv stack on the waveform (patch scores).
* :class:`STFTDiscriminator` — 2-D convs on log magnitudes *and* inter-mic phase
  differences of each source: the spatial cue lives in those phase differences.
* :class:`SpatialDiscriminator` — a conv stack along frequency on each source's
  time-pooled inter-mic coherence and on how well the two sources' coherences match.
* :class:`XCorrDiscriminator` — the same idea on energy-weighted inter-mic
  cross-correlations over lags, so that only moving speech energy moves the features.
* :class:`~sepplug.augment.srp_discriminator.SRPDiscriminator` — the angle offset
  between the two sources' SRP-PHAT maps (rotation- and swap-invariant).
* :class:`~sepplug.augment.steering_generator.SteeringGenerator` — a G that can only
  re-steer each source (``generator_conf.type: steering``).
* :class:`WaveCycleGAN` — the four networks and the LSGAN, cycle and identity losses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from sepplug.augment.srp_discriminator import SRPDiscriminator
from sepplug.augment.steering_generator import SteeringGenerator

#: ``conv(in_ch, out_ch, i)``: layer ``i`` of a :func:`_scorer_stack` (``None``: the last)
ConvFactory = Callable[[int, int, int | None], nn.Module]


def _check_odd(kernel_size: int) -> None:
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd to keep the length, got {kernel_size}")


def _scorer_stack(conv: ConvFactory, in_ch: int, hidden: int, n_layers: int,
                  use_weight_norm: bool) -> nn.Sequential:
    """The conv stack of the time, STFT and pooled discriminators: ``n_layers - 1`` ×
    (conv to ``hidden`` channels → LeakyReLU(0.2)), then a conv to one score channel;
    each conv built by ``conv(in_ch, out_ch, i)`` (``i = None`` for the last) and
    weight-normalized when ``use_weight_norm``.

    Shape: the convs', ``(B, in_ch, ...)`` → ``(B, 1, ...)``.
    """
    wn = _weight_norm if use_weight_norm else (lambda m: m)
    layers: list[nn.Module] = []
    for i in range(n_layers - 1):
        layers += [wn(conv(in_ch, hidden, i)), nn.LeakyReLU(0.2)]
        in_ch = hidden
    layers.append(wn(conv(in_ch, 1, None)))
    return nn.Sequential(*layers)


class GatedConv1d(nn.Module):
    """Conv1d → (instance norm) → GLU: ``(B, C_in, T)`` → ``(B, C_out, T)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, norm: bool = True,
                 dilation: int = 1):
        super().__init__()
        _check_odd(kernel_size)
        self.conv = nn.Conv1d(in_ch, 2 * out_ch, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size // 2))
        self.norm = nn.InstanceNorm1d(2 * out_ch, affine=True) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.norm(self.conv(x)), dim=1)


class GLUResBlock(nn.Module):
    """``x + IN(conv(GatedConv(x)))``: ``(B, H, T)`` → ``(B, H, T)``; the gated conv is
    dilated by ``dilation``."""

    def __init__(self, hidden: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.gated = GatedConv1d(hidden, hidden, kernel_size, dilation=dilation)
        self.conv = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2)
        self.norm = nn.InstanceNorm1d(hidden, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.conv(self.gated(x)))


class WaveGenerator(nn.Module):
    """Fully convolutional waveform-to-waveform generator.

    Args:
        channels: audio channels of the whole sample (2 sources × C mics).
        hidden: channels inside the network.
        kernel_size: odd kernel of every conv.
        n_blocks: residual blocks.
        zero_init: start the output conv at zero, i.e. start as the identity.
        dilation_growth: block ``i`` dilates its gated conv by ``dilation_growth ** i``
            (1: WaveCycleGAN2's plain blocks). Growth 2 lets a few cheap blocks see
            ~100 ms, enough to compare the two sources' inter-mic delays, which
            steering one source towards the other's direction needs.

    Shape: ``(B, channels, T)`` → ``(B, channels, T)`` for any T.
    """

    def __init__(
        self,
        channels: int,
        hidden: int = 64,
        kernel_size: int = 15,
        n_blocks: int = 6,
        zero_init: bool = True,
        dilation_growth: int = 1,
    ):
        super().__init__()
        _check_odd(kernel_size)
        if dilation_growth < 1:
            raise ValueError(f"dilation_growth must be >= 1, got {dilation_growth}")
        self.channels = channels
        self.input = GatedConv1d(channels, hidden, kernel_size, norm=False)
        self.blocks = nn.Sequential(*[GLUResBlock(hidden, kernel_size, dilation_growth**i)
                                      for i in range(n_blocks)])
        self.output = nn.Conv1d(hidden, channels, kernel_size, padding=kernel_size // 2)
        if zero_init:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, T), got {tuple(x.shape)}")
        return x + self.output(self.blocks(self.input(x)))


GENERATOR_TYPES = {"wave": WaveGenerator, "steering": SteeringGenerator}


def build_generator(channels: int, conf: dict | None = None) -> nn.Module:
    """The generator named by ``conf["type"]`` (``wave``, the default, or ``steering``),
    built with the rest of ``conf``: ``(B, channels, T)`` → ``(B, channels, T)``."""
    conf = dict(conf or {})
    kind = conf.pop("type", "wave")
    if kind not in GENERATOR_TYPES:
        raise ValueError(f"generator_conf.type must be one of {sorted(GENERATOR_TYPES)}, "
                         f"got {kind!r}")
    return GENERATOR_TYPES[kind](channels, **conf)


class TimeDiscriminator(nn.Module):
    """Dilated conv stack on the waveform (dilation 1, 2, 4, ...).

    Shape: ``(B, channels, T)`` → patch scores ``(B, 1, T)``.
    """

    def __init__(
        self,
        channels: int,
        hidden: int = 64,
        n_layers: int = 10,
        kernel_size: int = 3,
        use_weight_norm: bool = True,
    ):
        super().__init__()
        _check_odd(kernel_size)

        def conv(in_ch: int, out_ch: int, i: int | None) -> nn.Module:
            dilation = 1 if i is None else 2**i  # the scoring conv is not dilated
            return nn.Conv1d(in_ch, out_ch, kernel_size, dilation=dilation,
                             padding=dilation * (kernel_size - 1) // 2)

        self.net = _scorer_stack(conv, channels, hidden, n_layers, use_weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _PairSpectrumDiscriminator(nn.Module):
    """Base of the discriminators that look at the STFT of a source pair ``(B, 2C, T)``:
    checks the channel count, holds the window, gives the spectra and each mic's
    cross-spectrum with mic 0; subclasses define ``features`` and ``net``."""

    def __init__(self, channels: int, n_fft: int, hop_length: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels must be 2 x mics, got {channels}")
        self.channels, self.n_fft, self.hop_length = channels, n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def spectra(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2C, T)`` → complex ``(B, 2, C, F, N)``."""
        batch, channels, length = x.shape
        spec = torch.stft(x.reshape(batch * channels, length), self.n_fft, self.hop_length,
                          window=self.window, return_complex=True)
        return spec.reshape(batch, 2, channels // 2, *spec.shape[-2:])

    @staticmethod
    def cross_to_mic0(spec: torch.Tensor) -> torch.Tensor:
        """``X_m X_0^*`` for ``m = 1..C-1``: ``(B, 2, C, F, N)`` → ``(B, 2, C-1, F, N)``."""
        return spec[:, :, 1:] * spec[:, :, :1].conj()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.features(x))


class STFTDiscriminator(_PairSpectrumDiscriminator):
    """2-D conv stack on STFT features of a source pair.

    Features per frame and bin: ``log(|X| + eps)`` of all ``2C`` channels;
    ``cos``/``sin`` of the phase of mic m relative to mic 0 for each source and
    ``m = 1..C-1`` (``4(C-1)`` maps) — the spatial cue; with ``cross_source``, also
    ``cos``/``sin`` of the difference of the two sources' relative phases (``2(C-1)``
    maps, 1 + 0j where both come from one direction). Comparing the sources needs a
    product of their features; giving it to D directly made a small STFT D tell D_both
    from D_hard segments far sooner (88 % vs 60 % after 150 steps in a CPU check).

    Shape: ``(B, 2C, T)`` → patch scores ``(B, 1, F', N)``.
    """

    def __init__(
        self,
        channels: int,
        hidden: int = 32,
        n_layers: int = 4,
        n_fft: int = 512,
        hop_length: int = 128,
        cross_source: bool = True,
        use_weight_norm: bool = True,
    ):
        super().__init__(channels, n_fft, hop_length)
        self.cross_source = cross_source
        n_mics = channels // 2
        in_ch = channels + (6 if cross_source else 4) * (n_mics - 1)

        def conv(in_ch: int, out_ch: int, i: int | None) -> nn.Module:
            # halve the frequency axis after the first layer; the scoring conv keeps it
            return nn.Conv2d(in_ch, out_ch, (3, 3), stride=(2, 1) if i else (1, 1), padding=1)

        self.net = _scorer_stack(conv, in_ch, hidden, n_layers, use_weight_norm)

    def features(self, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """``(B, 2C, T)`` → ``(B, 2C + 4(C-1), F, N)``."""
        spec = self.spectra(x)  # (B, 2, C, F, N)
        log_mag = torch.log(spec.abs() + eps).flatten(1, 2)
        rel = self.cross_to_mic0(spec)
        rel = rel / (rel.abs() + eps)  # (B, 2, C-1, F, N) unit phasors
        maps = [log_mag, rel.real.flatten(1, 2), rel.imag.flatten(1, 2)]
        if self.cross_source:
            cross = rel[:, 0] * rel[:, 1].conj()  # (B, C-1, F, N): 1 when same direction
            maps += [cross.real, cross.imag]
        return torch.cat(maps, dim=1)


class _PooledPairDiscriminator(_PairSpectrumDiscriminator):
    """Base of the discriminators that pool each source's inter-mic features over the
    segment: ``maps_per_mic * (C-1)`` feature maps (subclasses set ``maps_per_mic`` and
    define ``features``) into a Conv1d stack (stride 2 after the first layer) along the
    feature axis (frequency or lag).

    Args:
        channels: 2 sources × C mics.
        hidden: channels of the conv stack.
        n_layers: convs, the scoring one included.
        n_fft, hop_length: the STFT.
        kernel_size: odd kernel of every conv.
        use_weight_norm: weight-normalize the convs.

    Shape: ``(B, 2C, T)`` → features ``(B, maps_per_mic (C-1), K)`` → scores ``(B, 1, K')``.
    """

    maps_per_mic: int

    def __init__(
        self,
        channels: int,
        hidden: int = 32,
        n_layers: int = 4,
        n_fft: int = 256,
        hop_length: int = 64,
        kernel_size: int = 5,
        use_weight_norm: bool = True,
    ):
        super().__init__(channels, n_fft, hop_length)
        _check_odd(kernel_size)

        def conv(in_ch: int, out_ch: int, i: int | None) -> nn.Module:
            return nn.Conv1d(in_ch, out_ch, kernel_size, stride=2 if i else 1,
                             padding=kernel_size // 2)

        self.net = _scorer_stack(conv, self.maps_per_mic * (channels // 2 - 1), hidden,
                                 n_layers, use_weight_norm)


class SpatialDiscriminator(_PooledPairDiscriminator):
    """Discriminator on segment-level inter-mic coherence of each source and their match.

    Direction is a property of a whole segment, not of one time-frequency bin: a single
    bin's phase is noise wherever that source is quiet. So the features pool over time.
    For source ``s`` and mic ``m = 1..C-1`` the normalized cross-spectrum against mic 0

        ``Phi_s(m, f) = sum_t X_sm X_s0^* / sum_t |X_sm| |X_s0|``   (|Phi| <= 1),

    whose phase follows the inter-mic delay of the source's direction, and the match
    ``Phi_1 Phi_2^*`` (real and near 1 at every f when both come from one direction).
    Real and imaginary parts of the three, ``6(C-1)`` maps over frequency, go through a
    1-D conv stack along frequency. (The per-patch STFT discriminator sees the same
    phases unpooled; in a CPU check it stayed at chance in 250 GAN steps.)

    Args: those of :class:`_PooledPairDiscriminator`.

    Shape: ``(B, 2C, T)`` → scores ``(B, 1, F')``.
    """

    maps_per_mic = 6

    def features(self, x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        """``(B, 2C, T)`` → ``(B, 6(C-1), F)``."""
        cross = self.cross_to_mic0(self.spectra(x))  # (B, 2, C-1, F, N)
        phi = cross.sum(-1) / (cross.abs().sum(-1) + eps)  # (B, 2, C-1, F)
        match = phi[:, 0] * phi[:, 1].conj()  # (B, C-1, F)
        maps = [phi.real.flatten(1, 2), phi.imag.flatten(1, 2), match.real, match.imag]
        return torch.cat(maps, dim=1)


class XCorrDiscriminator(_PooledPairDiscriminator):
    """Discriminator on the energy-weighted inter-mic cross-correlation of each source.

    For source ``s`` and mic ``m = 1..C-1``, the cross-correlation with mic 0 at lags
    ``-max_lag..max_lag`` samples (``lag_step`` apart, fractional lags through the
    spectrum), normalized to [-1, 1]:

        ``R_sm(l) = Re sum_f W_sm(f) e^{j 2 pi f l / n_fft} / sum_f |W_sm(f)|``,
        ``W_sm(f) = sum_t X_sm X_s0^*``.

    Its peak is the source's inter-mic delay. Unlike the per-bin coherence of
    :class:`SpatialDiscriminator` (every frequency counts the same, so a generator can
    fool it by rewriting the phase of near-silent high bins; in a CPU run it did,
    changing the waveform by ~7 dB SNR and the estimated directions not at all), the
    bins count by their cross-power: moving the peak means moving the speech energy.
    Features: both sources' curves and their product, ``3(C-1)`` channels over lags,
    into a 1-D conv stack.

    Args:
        channels: 2 sources × C mics.
        max_lag: largest lag in samples.
        lag_step: lag spacing in samples.
        conf: ``hidden``, ``n_layers``, ``n_fft``, ``hop_length``, ``kernel_size``,
            ``use_weight_norm`` of :class:`_PooledPairDiscriminator`.

    Shape: ``(B, 2C, T)`` → scores ``(B, 1, K')``.
    """

    maps_per_mic = 3

    def __init__(self, channels: int, *, max_lag: float = 6.0, lag_step: float = 0.25,
                 **conf: Any):
        super().__init__(channels, **conf)
        lags = torch.arange(-max_lag, max_lag + lag_step / 2, lag_step)
        freqs = torch.arange(self.n_fft // 2 + 1)
        phase = 2 * torch.pi * freqs[:, None] * lags[None, :] / self.n_fft  # (F, K)
        self.register_buffer("steer", torch.polar(torch.ones_like(phase), phase),
                             persistent=False)

    def features(self, x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        """``(B, 2C, T)`` → ``(B, 3(C-1), K)`` with K lags."""
        cross = self.cross_to_mic0(self.spectra(x)).sum(-1)  # (B, 2, C-1, F)
        corr = (cross @ self.steer).real / (cross.abs().sum(-1, keepdim=True) + eps)
        return torch.cat([corr.flatten(1, 2), corr[:, 0] * corr[:, 1]], dim=1)


class MultiDiscriminator(nn.Module):
    """Time, STFT, spatial, xcorr and/or srp discriminators; forward returns their score
    maps."""

    def __init__(
        self,
        channels: int,
        kinds: Sequence[str] = ("time", "stft"),
        time_conf: dict | None = None,
        stft_conf: dict | None = None,
        spatial_conf: dict | None = None,
        xcorr_conf: dict | None = None,
        srp_conf: dict | None = None,
    ):
        super().__init__()
        known = {"time": TimeDiscriminator, "stft": STFTDiscriminator,
                 "spatial": SpatialDiscriminator, "xcorr": XCorrDiscriminator,
                 "srp": SRPDiscriminator}
        confs = {"time": time_conf or {}, "stft": stft_conf or {}, "spatial": spatial_conf or {},
                 "xcorr": xcorr_conf or {}, "srp": srp_conf or {}}
        unknown = [k for k in kinds if k not in known]
        if unknown or not kinds:
            raise ValueError(f"discriminator kinds must be among {sorted(known)}, got {kinds}")
        self.discs = nn.ModuleDict({k: known[k](channels, **confs[k]) for k in kinds})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [d(x) for d in self.discs.values()]


def lsgan_real(scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss towards "real" (1), summed over discriminators."""
    return sum(((s - 1.0) ** 2).mean() for s in scores)


def lsgan_fake(scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss towards "fake" (0), summed over discriminators."""
    return sum((s**2).mean() for s in scores)


class WaveCycleGAN(nn.Module):
    """G (X→Y, the FS model), F (Y→X), D_X, D_Y and their losses.

    Args:
        n_mics: C; samples are ``(B, 2C, T)``.
        generator_conf: :func:`build_generator`'s ``conf`` (a :class:`WaveGenerator` by
            default, ``type: steering`` for a :class:`SteeringGenerator`).
        discriminator_conf: kwargs of :class:`MultiDiscriminator`.
    """

    def __init__(
        self, n_mics: int, generator_conf: dict | None = None,
        discriminator_conf: dict | None = None,
    ):
        super().__init__()
        self.n_mics = n_mics
        channels = 2 * n_mics
        self.gen_xy = build_generator(channels, generator_conf)
        self.gen_yx = build_generator(channels, generator_conf)
        self.disc_x = MultiDiscriminator(channels, **(discriminator_conf or {}))
        self.disc_y = MultiDiscriminator(channels, **(discriminator_conf or {}))

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.gen_xy.parameters(), *self.gen_yx.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.disc_x.parameters(), *self.disc_y.parameters()]

    def generator_loss(
        self, x: torch.Tensor, y: torch.Tensor, lambda_cycle: float, lambda_identity: float
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor, torch.Tensor]:
        """Adversarial + cycle + identity loss of both generators.

        Args:
            x: domain-X samples ``(B, 2C, T)``; y: domain-Y samples ``(B', 2C, T)``.
        Returns:
            ``(loss, stats, fake_y = G(x), fake_x = F(y))``.
        """
        fake_y, fake_x = self.gen_xy(x), self.gen_yx(y)
        adv = lsgan_real(self.disc_y(fake_y)) + lsgan_real(self.disc_x(fake_x))
        cycle = F.l1_loss(self.gen_yx(fake_y), x) + F.l1_loss(self.gen_xy(fake_x), y)
        loss = adv + lambda_cycle * cycle
        identity = torch.zeros((), device=x.device)
        if lambda_identity > 0:
            identity = F.l1_loss(self.gen_xy(y), y) + F.l1_loss(self.gen_yx(x), x)
            loss = loss + lambda_identity * identity
        stats = {"loss_g": loss.item(), "adv_g": adv.item(), "cycle": cycle.item(),
                 "identity": identity.item()}
        return loss, stats, fake_y, fake_x

    def discriminator_loss(
        self, x: torch.Tensor, y: torch.Tensor, fake_x: torch.Tensor, fake_y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """LSGAN loss of D_X and D_Y (generated samples are detached)."""
        loss_dx = 0.5 * (lsgan_real(self.disc_x(x)) + lsgan_fake(self.disc_x(fake_x.detach())))
        loss_dy = 0.5 * (lsgan_real(self.disc_y(y)) + lsgan_fake(self.disc_y(fake_y.detach())))
        loss = loss_dx + loss_dy
        return loss, {"loss_d": loss.item(), "d_x": loss_dx.item(), "d_y": loss_dy.item()}
