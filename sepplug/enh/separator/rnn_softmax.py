"""ESPnet's ``rnn`` mask separator with masks that compete: a softmax across the outputs.

ESPnet's ``RNNSeparator`` gives every output its own sigmoid (or ReLU/tanh) mask, so M
outputs can all keep the whole mixture. With MixIT's many outputs this is a trap: the
outputs assigned to one mixture receive the same gradient, stay alike, and the model
settles on a fixed split of the input (measured in ``egs/vctk/mixit``: M = 8, the remix
SI-SNR flat from the first epoch). Here the M masks of a T-F bin are a softmax over the
outputs (plus the noise output when ``predict_noise``), so they sum to one: the outputs
sum exactly to the input spectrum (mixture consistency in the STFT domain, the constraint
MixIT's published separators apply to their waveforms) and an output can only gain a bin
by taking it from the others. Everything else is ``RNNSeparator``'s: ``|X|`` features, the
RNN stack, one linear layer per output, the masks returned in ``others``.

YAML::

    encoder: stft
    encoder_conf: {n_fft: 256, hop_length: 64}
    decoder: stft
    decoder_conf: {n_fft: 256, hop_length: 64}
    separator: rnn_softmax
    separator_conf: {num_spk: 8, rnn_type: blstm, layer: 2, unit: 256}
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from espnet2.enh.layers.complex_utils import is_complex
from espnet2.enh.separator.rnn_separator import RNNSeparator


class SoftmaxRNNSeparator(RNNSeparator):
    """RNN mask separator whose masks are a softmax across the outputs per T-F bin.

    Args:
        input_dim: feature bins F of the encoder (``n_fft // 2 + 1`` for ``stft``).
        rnn_type: ``blstm``, ``lstm``, ``bgru``, ``gru`` (ESPnet's ``RNN``).
        num_spk: outputs M.
        predict_noise: one more output, returned as ``others["noise1"]``; it takes part
            in the softmax.
        layer, unit, dropout: the RNN stack.
        temperature: the softmax's temperature (``softmax(logits / temperature)``).
    """

    def __init__(
        self,
        input_dim: int,
        rnn_type: str = "blstm",
        num_spk: int = 2,
        predict_noise: bool = False,
        layer: int = 3,
        unit: int = 512,
        dropout: float = 0.0,
        temperature: float = 1.0,
    ):
        super().__init__(input_dim, rnn_type=rnn_type, num_spk=num_spk,
                         predict_noise=predict_noise, nonlinear="sigmoid", layer=layer,
                         unit=unit, dropout=dropout)
        if not temperature > 0:
            raise ValueError(f"rnn_softmax: temperature must be > 0, got {temperature}")
        self.nonlinear = torch.nn.Identity()  # the softmax below replaces it
        self.temperature = float(temperature)

    def masks(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        """``(B, T, unit)`` RNN output -> one ``(B, T, F)`` mask per output, summing to 1."""
        logits = torch.stack([linear(hidden) for linear in self.linear], dim=0)  # (M, B, T, F)
        return list((logits / self.temperature).softmax(dim=0).unbind(0))

    def _mask_outputs(self, spectrum, masks: list[torch.Tensor]):
        if self.predict_noise:
            *masks, mask_noise = masks
        masked = [spectrum * m for m in masks]
        others = OrderedDict((f"mask_spk{i + 1}", m) for i, m in enumerate(masks))
        if self.predict_noise:
            others["noise1"] = spectrum * mask_noise
        return masked, others

    def forward(self, input, ilens: torch.Tensor, additional: dict | None = None):
        """Separate.

        Args:
            input: encoded mixture ``(B, T, F)``, complex (STFT) or real.
            ilens: ``(B,)`` frame counts.
            additional: unused.

        Returns:
            ``(masked [(B, T, F)] * M, ilens, others {"mask_spk<k>": (B, T, F), ...})``.
        """
        feature = abs(input) if is_complex(input) else input
        hidden, ilens, _ = self.rnn(feature, ilens)
        masked, others = self._mask_outputs(input, self.masks(hidden))
        return masked, ilens, others

    def forward_streaming(self, input_frame: torch.Tensor, states=None):
        """One frame ``(B, 1, F)`` at a time (unidirectional ``rnn_type`` only)."""
        feature = abs(input_frame) if is_complex(input_frame) else input_frame
        ilens = torch.ones(feature.shape[0], device=feature.device)
        hidden, _, states = self.rnn(feature, ilens, states)
        masked, others = self._mask_outputs(input_frame, self.masks(hidden))
        return masked, states, others
