"""Multi-channel STFT separator: narrow-band and cross-band BLSTMs over (frequency, time).

Why this separator
------------------
At CPU scale, ``mc_dprnn`` (waveform, learned basis) and a full-band BLSTM on
magnitude + phase-difference features both stop near +4 dB SI-SDRi on SpatialVCTK,
far below the oracle-mask headroom (10.7-13.4 dB; see RESULTS.md). A full-band network
must learn the direction-to-phase mapping separately at every frequency. A *narrow-band*
layer (one BLSTM along time, shared by all frequencies; Quan & Li, ICASSP 2022;
SpatialNet) learns it once: every training mixture gives it F sequences, and the
inter-channel phase and level differences of one bin are exactly the spatial cue. A
*cross-band* layer (one BLSTM along frequency per frame, as in TF-GridNet's intra-frame
path) links the frequencies, which keeps the output permutation consistent across them
(utterance-level PIT) and carries the spectral (timbre) cue that a narrow-band model
lacks. ESPnet's stock ``tfgridnetv2`` has the same two paths plus attention and
unfolding; this model is the minimum of it, at a fraction of the cost per step.

Pipeline::

    STFT of every mic, X (B, T, C, F) complex  (ESPnet ``encoder: stft``)
      -> scale s_f = mean_t |X_ref(t, f)| per frequency (valid frames only)
      -> features per bin: Re, Im of X_c / s_f for every mic c (2C values)
         [+ ri+ipd: cos, sin of the phase difference and the log level difference of
            every other mic to the reference mic (3 (C - 1) values)]
         [+ log(|X_ref| + eps) - mean log over the utterance, the spectral cue]
      -> Linear(feature, H) [+ a learned embedding of the frequency]    (B, F, T, H)
      -> num_blocks x [narrow-band BLSTM along T (per f), cross-band BLSTM along F
         (per t)], each pre-LayerNorm, projected back to H and added (residual)
      -> Linear(H, 2 * num_spk): complex spectrum of every source at the reference mic,
         in units of s_f (direct mapping, as SpatialNet)                 (B, T, F) each

With ``cross_band: false`` the model is purely narrow-band. A 1-channel input (B, T, F)
is accepted (C = 1): then only the spectral cue is left.

Full-band spectral branch (``full_band_dim > 0``)
------------------------------------------------
A narrow-band layer is spectrum-agnostic, and at CPU scale the cross-band layers did not
learn the timbre cue either (SpatialVCTK test_hard stayed at 0 dB, RESULTS.md). What did
learn it is ESPnet's stock ``rnn`` on one mic: a BLSTM along time whose input is the whole
magnitude spectrum of a frame. The branch is that model inside this one::

    log|X_ref| - utterance mean          (B, T, F)
      -> full_band_layers BLSTMs along T, full_band_dim units per direction
      -> Linear(2 U, F * full_band_bottleneck) -> Linear(bottleneck, H) per bin
      -> added to the embedded grid before the first block (early fusion)   (B, F, T, H)

so every narrow-band sequence starts from its spatial features *and* what the whole
spectrum of its frame says. ``output: mask`` (a complex mask on the reference mic) instead
of the direct mapping lets the spectral cue act as the stock ``rnn``'s masks do.

Use ``encoder: stft`` / ``decoder: stft`` with the same ``n_fft`` / ``hop_length`` and a
time-domain criterion (``si_snr`` + ``pit``); the loss then compares waveforms at the
reference mic (ESPnet keeps channel ``ref_channel`` of multi-channel references).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from espnet2.enh.separator.abs_separator import AbsSeparator

from sepplug.enh.layers.stft_features import inter_mic_differences, normalized_log_spectrum

#: spatial feature set -> its size per T-F bin for C mics. "ri": real and imaginary parts of
#: every mic (SpatialNet's input); "ri+ipd": plus cos / sin of the phase difference and the
#: log level difference of every other mic to the reference mic (direction made explicit).
SPATIAL_FEATURES = {
    "ri": lambda mics: 2 * mics,
    "ri+ipd": lambda mics: 2 * mics + 3 * (mics - 1),
}


class AxisBLSTM(torch.nn.Module):
    """Pre-norm residual BLSTM along one axis of a (B, F, T, H) grid.

    Args:
        hidden_dim: H, the width of the grid.
        rnn_dim: LSTM units per direction.
        axis: ``"time"`` (narrow-band: one sequence per frequency) or ``"freq"``
            (cross-band: one sequence per frame).
    """

    def __init__(self, hidden_dim: int, rnn_dim: int, axis: str) -> None:
        super().__init__()
        if axis not in ("time", "freq"):
            raise ValueError(f"axis must be 'time' or 'freq', got {axis!r}")
        self.axis = axis
        self.norm = torch.nn.LayerNorm(hidden_dim)
        self.rnn = torch.nn.LSTM(hidden_dim, rnn_dim, batch_first=True, bidirectional=True)
        self.proj = torch.nn.Linear(2 * rnn_dim, hidden_dim)

    def forward(self, grid: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F, T, H) -> (B, F, T, H).

        Args:
            lengths: (B,) valid frames. Along time, shorter items of a padded batch are
                packed, so that their padding does not reach their valid frames.
        """
        batch, freqs, frames, width = grid.shape
        if self.axis == "time":
            seq = self.norm(grid.reshape(batch * freqs, frames, width))
            if lengths is not None and bool((lengths < frames).any()):
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    seq, lengths.repeat_interleave(freqs).cpu(), batch_first=True,
                    enforce_sorted=False,
                )
                hidden = torch.nn.utils.rnn.pad_packed_sequence(
                    self.rnn(packed)[0], batch_first=True, total_length=frames
                )[0]
            else:
                hidden = self.rnn(seq)[0]
        else:
            seq = grid.transpose(1, 2).reshape(batch * frames, freqs, width)
            hidden = self.rnn(self.norm(seq))[0]
        out = self.proj(hidden)
        if self.axis == "time":
            out = out.reshape(batch, freqs, frames, width)
        else:
            out = out.reshape(batch, frames, freqs, width).transpose(1, 2)
        return grid + out


class FullBandBranch(torch.nn.Module):
    """BLSTM along time on whole-frame spectra, spread back over the (F, T) grid.

    Args:
        freqs: F.
        hidden_dim: H, the width of the grid.
        rnn_dim: LSTM units per direction.
        num_layers: stacked BLSTMs.
        bottleneck: values per bin between the branch and the grid.
    """

    def __init__(
        self, freqs: int, hidden_dim: int, rnn_dim: int, num_layers: int, bottleneck: int
    ) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        self.rnn = torch.nn.LSTM(freqs, rnn_dim, num_layers=num_layers, batch_first=True,
                                 bidirectional=True)
        self.spread = torch.nn.Linear(2 * rnn_dim, freqs * bottleneck)
        self.to_grid = torch.nn.Linear(bottleneck, hidden_dim)

    def forward(self, spectrum: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, F) log-spectra, (B,) valid frames -> (B, F, T, H)."""
        batch, frames, freqs = spectrum.shape
        if bool((lengths < frames).any()):
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                spectrum, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            hidden = torch.nn.utils.rnn.pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True, total_length=frames
            )[0]
        else:
            hidden = self.rnn(spectrum)[0]
        per_bin = self.spread(hidden).reshape(batch, frames, freqs, self.bottleneck)
        return self.to_grid(per_bin).transpose(1, 2)  # (B, F, T, H)


class TFDualPathSeparator(AbsSeparator):
    """Narrow-band + cross-band BLSTM separator on multi-channel STFTs (see module doc).

    Args:
        input_dim: F, frequency bins of the STFT encoder (``n_fft // 2 + 1``).
        num_spk: sources to output.
        num_mics: C, input channels (1 for a single-channel model).
        ref_channel: the mic whose source images are estimated (and normalise the input).
        hidden_dim: H, width of the (F, T) grid.
        rnn_dim: LSTM units per direction (default: H).
        num_blocks: narrow-band (+ cross-band) layer pairs.
        cross_band: add the cross-band BLSTM after every narrow-band one.
        spectral_feature: add the reference mic's normalised log-magnitude to the input.
        spatial_feature: one of ``SPATIAL_FEATURES``.
        freq_embedding: add a learned embedding of the frequency to the grid.
        full_band_dim: LSTM units per direction of the full-band spectral branch (0: none).
        full_band_layers: BLSTM layers of that branch.
        full_band_bottleneck: values per bin that the branch hands to the grid.
        output: ``"mapping"`` (each source's spectrum in units of the per-frequency scale)
            or ``"mask"`` (a complex mask on the reference mic's STFT).
        eps: floor of magnitudes and scales.
    """

    def __init__(
        self,
        input_dim: int,
        num_spk: int = 2,
        num_mics: int = 6,
        ref_channel: int = 0,
        hidden_dim: int = 64,
        rnn_dim: int | None = None,
        num_blocks: int = 2,
        cross_band: bool = True,
        spectral_feature: bool = True,
        spatial_feature: str = "ri",
        freq_embedding: bool = False,
        full_band_dim: int = 0,
        full_band_layers: int = 2,
        full_band_bottleneck: int = 8,
        output: str = "mapping",
        eps: float = 1.0e-8,
    ) -> None:
        super().__init__()
        if not 0 <= ref_channel < num_mics:
            raise ValueError(f"ref_channel {ref_channel} is not one of the {num_mics} mics")
        if spatial_feature not in SPATIAL_FEATURES:
            raise ValueError(
                f"spatial_feature must be one of {sorted(SPATIAL_FEATURES)}, "
                f"got {spatial_feature!r}"
            )
        if output not in ("mapping", "mask"):
            raise ValueError(f"output must be 'mapping' or 'mask', got {output!r}")
        self._num_spk = num_spk
        self.output_type = output
        self.spatial_feature = spatial_feature
        self.num_mics = num_mics
        self.ref_channel = ref_channel
        self.spectral_feature = spectral_feature
        self.eps = eps
        rnn_dim = rnn_dim or hidden_dim
        in_dim = SPATIAL_FEATURES[spatial_feature](num_mics) + int(spectral_feature)
        self.embed = torch.nn.Linear(in_dim, hidden_dim)
        # A narrow-band layer is shared by all frequencies; this tells it which one it is on
        # (a phase difference means a different direction at every frequency).
        self.freq_embedding = (
            torch.nn.Parameter(torch.zeros(input_dim, 1, hidden_dim)) if freq_embedding else None
        )
        self.full_band = (
            FullBandBranch(input_dim, hidden_dim, full_band_dim, full_band_layers,
                           full_band_bottleneck)
            if full_band_dim > 0 else None
        )
        layers: list[torch.nn.Module] = []
        for _ in range(num_blocks):
            layers.append(AxisBLSTM(hidden_dim, rnn_dim, "time"))
            if cross_band:
                layers.append(AxisBLSTM(hidden_dim, rnn_dim, "freq"))
        self.blocks = torch.nn.ModuleList(layers)
        self.out_norm = torch.nn.LayerNorm(hidden_dim)
        self.output = torch.nn.Linear(hidden_dim, 2 * num_spk)

    @property
    def num_spk(self) -> int:
        return self._num_spk

    def features(
        self, spec: torch.Tensor, ilens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input features and the per-frequency scale.

        Args:
            spec: (B, T, C, F) complex STFT.
            ilens: (B,) valid frames.

        Returns:
            features (B, F, T, D) (D: the spatial feature size [+1]) and scale (B, 1, F).
        """
        frames = spec.shape[1]
        valid = (torch.arange(frames, device=spec.device)[None, :] < ilens[:, None]).to(
            spec.real.dtype
        )  # (B, T)
        count = valid.sum(dim=1).clamp_min(1.0)[:, None]  # (B, 1)
        mags = spec.abs()  # (B, T, C, F)
        ref_mag = mags[:, :, self.ref_channel]  # (B, T, F)
        scale = (ref_mag * valid[..., None]).sum(dim=1) / count  # (B, F)
        scale = scale.clamp_min(self.eps)[:, None, :]  # (B, 1, F)
        normed = spec / scale[:, :, None, :]  # (B, T, C, F)
        parts = [normed.real, normed.imag]  # (B, T, C, F) each
        if self.spatial_feature == "ri+ipd" and spec.shape[2] > 1:
            parts.extend(inter_mic_differences(spec, self.ref_channel, self.eps, mags))
        if self.spectral_feature:
            log_mag = torch.log(ref_mag + self.eps)  # (B, T, F)
            mean = (log_mag * valid[..., None]).sum(dim=(1, 2)) / (count[:, 0] * spec.shape[-1])
            parts.append((log_mag - mean[:, None, None])[:, :, None, :])
        feats = torch.cat(parts, dim=2) * valid[:, :, None, None]  # (B, T, 2C[+1], F)
        return feats.permute(0, 3, 1, 2), scale

    def log_spectrum(self, spec: torch.Tensor, ilens: torch.Tensor) -> torch.Tensor:
        """The reference mic's log-magnitude less its utterance mean, 0 on padding: (B, T, C,
        F) complex, (B,) valid frames -> (B, T, F)."""
        return normalized_log_spectrum(spec[:, :, self.ref_channel], ilens, self.eps)

    def forward(
        self, input: torch.Tensor, ilens: torch.Tensor, additional: dict | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor, OrderedDict]:
        """Separate.

        Args:
            input: (B, T, C, F) or, with one mic, (B, T, F) complex STFT.
            ilens: (B,) valid frames.
            additional: unused.

        Returns:
            num_spk complex spectra (B, T, F) at the reference mic, ilens, and ``others``
            (empty: the outputs are spectra, not masks).
        """
        if input.dim() == 3:
            input = input.unsqueeze(2)
        if input.shape[2] != self.num_mics:
            raise ValueError(f"expected {self.num_mics} channels, got input {tuple(input.shape)}")
        feats, scale = self.features(input, ilens)
        grid = self.embed(feats)  # (B, F, T, H)
        if self.freq_embedding is not None:
            grid = grid + self.freq_embedding
        if self.full_band is not None:
            grid = grid + self.full_band(self.log_spectrum(input, ilens), ilens)
        for block in self.blocks:
            grid = block(grid, ilens)
        out = self.output(self.out_norm(grid))  # (B, F, T, 2 * spk)
        batch, freqs, frames, _ = out.shape
        out = out.reshape(batch, freqs, frames, self._num_spk, 2).permute(3, 4, 0, 2, 1)
        if self.output_type == "mask":
            ref = input[:, :, self.ref_channel]  # (B, T, F)
            masks = [torch.complex(o[0], o[1]) for o in out]
            return [m * ref for m in masks], ilens, OrderedDict(
                (f"mask_spk{n + 1}", m) for n, m in enumerate(masks)
            )
        sources = [torch.complex(o[0], o[1]) * scale for o in out]  # (B, T, F) each
        return sources, ilens, OrderedDict()
