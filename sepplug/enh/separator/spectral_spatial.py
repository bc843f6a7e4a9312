"""Multi-channel full-band BLSTM: the reference mic's spectrum and the inter-mic cues.

Why this separator
------------------
FEABASE's premise is a separator that *can* use both cues of SpatialVCTK — where the
talkers are (inter-mic phase) and who they are (the spectrum, timbre) — and prefers the
easy one. At CPU scale, the narrow-band ``tf_dualpath`` never sees a spectrum and its
full-band branch joins through a few values per bin: neither learnt timbre (test_hard
stayed below 1 dB). The model that *did* learn it is ESPnet's stock ``rnn`` on one mic: a
BLSTM along time whose input is the whole magnitude spectrum of a frame. This separator is
that model with the spatial cue added beside the spectrum, so that on data where space
says nothing (D_hard) it is the 1-ch ``rnn`` plus an input it learns to ignore::

    STFT of every mic, X (B, T, C, F) complex  (ESPnet ``encoder: stft``)
      -> spectral: log(|X_ref| + eps) - its mean over the utterance's valid frames (B, T, F)
                   (``spectral_feature: mag``: |X_ref|, the stock ``rnn``'s input)
      -> spatial:  cos, sin of the phase difference of each other mic to the reference,
                   per bin [+ their log level differences] (B, T, k (C - 1) F)
                   -> Linear(k (C - 1) F, spatial_proj_dim) (0: no projection)
      -> concat -> ``layer`` BLSTMs along T, ``unit`` cells per direction
      -> Linear(2 unit, num_spk F) -> sigmoid: one mask per source on X_ref   (B, T, F)

The projection is what keeps the step cheap: the raw inter-mic features of 6 mics are
10 x F values per frame (1290 at n_fft 256), which made the first BLSTM layer cost ~4x the
1-ch model's; projected to 64, the step costs about what the 1-ch ``rnn``'s does (measured
in RESULTS.md). ``spatial_feature: none`` turns the model into the 1-ch ``rnn`` (a
timbre-only control with the same code and features).

Use ``encoder: stft`` / ``decoder: stft`` with the same ``n_fft`` / ``hop_length`` and a
time-domain criterion (``si_snr`` + ``pit``); the loss compares waveforms at the reference
mic (ESPnet keeps channel ``ref_channel`` of multi-channel references). A 1-channel input
(B, T, F) is accepted when ``num_mics`` is 1.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from espnet2.enh.separator.abs_separator import AbsSeparator
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sepplug.enh.layers.stft_features import inter_mic_differences, normalized_log_spectrum

#: inter-mic features per other mic and bin
SPATIAL_FEATURES = {"none": 0, "ipd": 2, "ipd+ild": 3}
SPECTRAL_FEATURES = ("log", "mag")


class SpectralSpatialSeparator(AbsSeparator):
    """Full-band BLSTM mask estimator over [reference spectrum, projected inter-mic cues].

    Args:
        input_dim: F, frequency bins of the STFT encoder (ESPnet passes it).
        num_spk: sources to estimate.
        num_mics: C, microphones of the input.
        ref_channel: the mic whose spectrum is masked and whose phase is the reference.
        spectral_feature: ``"log"`` (utterance-normalised log magnitude) or ``"mag"``.
        spatial_feature: ``"ipd"`` (cos, sin), ``"ipd+ild"`` (+ log level difference) or
            ``"none"`` (timbre only).
        spatial_proj_dim: width of the learned projection of the inter-mic features;
            0 feeds them to the BLSTM as they are.
        layer: BLSTM layers.
        unit: LSTM cells per direction.
        dropout: between BLSTM layers.
        eps: floor of the magnitudes.
    """

    def __init__(
        self,
        input_dim: int,
        num_spk: int = 2,
        num_mics: int = 6,
        ref_channel: int = 0,
        spectral_feature: str = "log",
        spatial_feature: str = "ipd",
        spatial_proj_dim: int = 64,
        layer: int = 2,
        unit: int = 256,
        dropout: float = 0.0,
        eps: float = 1.0e-8,
    ) -> None:
        super().__init__()
        if spectral_feature not in SPECTRAL_FEATURES:
            raise ValueError(f"spectral_feature must be one of {SPECTRAL_FEATURES}, "
                             f"got {spectral_feature!r}")
        if spatial_feature not in SPATIAL_FEATURES:
            raise ValueError(f"spatial_feature must be one of {sorted(SPATIAL_FEATURES)}, "
                             f"got {spatial_feature!r}")
        if not 0 <= ref_channel < num_mics:
            raise ValueError(f"ref_channel {ref_channel} is not one of the {num_mics} mics")
        if num_mics == 1:
            spatial_feature = "none"
        self._num_spk = num_spk
        self.num_mics = num_mics
        self.ref_channel = ref_channel
        self.spectral_feature = spectral_feature
        self.spatial_feature = spatial_feature
        self.eps = eps
        spatial_dim = SPATIAL_FEATURES[spatial_feature] * (num_mics - 1) * input_dim
        if spatial_dim and spatial_proj_dim > 0:
            self.spatial_proj = torch.nn.Linear(spatial_dim, spatial_proj_dim)
            spatial_dim = spatial_proj_dim
        else:
            self.spatial_proj = None
        self.blstm = torch.nn.LSTM(input_dim + spatial_dim, unit, num_layers=layer,
                                   batch_first=True, bidirectional=True, dropout=dropout)
        self.to_masks = torch.nn.Linear(2 * unit, num_spk * input_dim)

    @property
    def num_spk(self) -> int:
        return self._num_spk

    def spectral(self, ref: torch.Tensor, ilens: torch.Tensor) -> torch.Tensor:
        """(B, T, F) complex reference STFT -> (B, T, F) spectral feature (0 on padding)."""
        if self.spectral_feature == "log":
            return normalized_log_spectrum(ref, ilens, self.eps)
        valid = torch.arange(ref.shape[1], device=ref.device)[None, :] < ilens[:, None]
        return ref.abs() * valid.to(ref.real.dtype)[..., None]

    def spatial(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, T, C, F) complex -> (B, T, k (C - 1) F): cos, sin of each other mic's phase
        difference to the reference [and the log level difference]."""
        parts = inter_mic_differences(spec, self.ref_channel, self.eps,
                                      level=self.spatial_feature == "ipd+ild")
        return torch.cat(parts, dim=2).flatten(2)

    def forward(
        self, input: torch.Tensor, ilens: torch.Tensor, additional: dict | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor, OrderedDict]:
        """Estimate every source at the reference mic.

        Args:
            input: (B, T, C, F) or, with one mic, (B, T, F) complex STFT.
            ilens: (B,) valid frames.
            additional: unused (ESPnet's interface).

        Returns:
            num_spk masked spectra (B, T, F), ilens, and ``others`` with the masks
            (``mask_spk1`` ...).
        """
        if input.dim() == 3:
            input = input.unsqueeze(2)  # (B, T, 1, F)
        if input.shape[2] != self.num_mics:
            raise ValueError(f"input has {input.shape[2]} mics, the model was built for "
                             f"{self.num_mics} (separator_conf num_mics)")
        ref = input[:, :, self.ref_channel]  # (B, T, F)
        feats = [self.spectral(ref, ilens)]
        if self.spatial_feature != "none":
            spatial = self.spatial(input)
            feats.append(self.spatial_proj(spatial) if self.spatial_proj is not None else spatial)
        feats = torch.cat(feats, dim=-1)
        lengths = ilens.cpu()
        if bool((lengths < feats.shape[1]).any()):  # padded items: the BLSTM must not read it
            packed = pack_padded_sequence(feats, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.blstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=feats.shape[1])
        else:
            out, _ = self.blstm(feats)
        masks = torch.sigmoid(self.to_masks(out)).chunk(self._num_spk, dim=-1)  # (B, T, F) each
        others = OrderedDict((f"mask_spk{i + 1}", m) for i, m in enumerate(masks))
        return [m * ref for m in masks], ilens, others
