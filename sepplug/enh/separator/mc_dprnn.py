"""Multi-channel dual-path RNN (DPRNN-TasNet) separator working on raw waveforms.

Why this separator takes waveforms
----------------------------------
ESPnet's ``conv`` encoder asserts single-channel input, so a multi-channel
time-domain model cannot be written as ``encoder: conv`` + separator +
``decoder: conv``. Instead this separator owns its learned front end and back
end, and is used with ESPnet's pass-through components::

    encoder: same        # NullEncoder: returns the waveform (B, T[, C]) unchanged
    decoder: same        # NullDecoder: returns each (B, T) output unchanged
    separator: mc_dprnn
    separator_conf: {num_spk: 2, num_mics: 6, ...}

``NullEncoder.output_dim`` is 1; ESPnet passes it as ``input_dim`` and it is
ignored here.

Pipeline (default, ``use_tac: false``)::

    mixture (B, T, C)
      -> zero-pad the end so every sample is covered by a frame     (B, C, T_pad)
      -> Conv1d(C, N, kernel, stride) + ReLU: mixture weights w     (B, N, L)
      -> [gLN + 1x1 Conv1d(N, bottleneck)]                          (B, D, L)
      -> split_feature: chunks of `chunk_size`, 50 % overlap        (B, D, K, S)
      -> DPRNN: `num_layers` x (intra-chunk BLSTM + gLN, inter-chunk RNN + gLN),
         PReLU + 1x1 Conv2d to N * num_spk                          (B, N*spk, K, S)
      -> merge_feature: overlap-add back to frames                  (B, N*spk, L)
      -> nonlinear -> masks m_j; masked weights w * m_j             (B, N, L) each
      -> ConvTranspose1d(N, 1, kernel, stride), trimmed to T        (B, T) each

``split_feature``, ``merge_feature`` and ``DPRNN`` are ESPnet's
(``espnet2/enh/layers/dprnn.py``), exactly the layers of the stock ``dprnn``
separator. ``merge_feature`` sums the two half-overlapping chunk sets, so
``merge_feature(split_feature(x))`` is ``2 * x``; like ESPnet's separator we
leave that constant to the learned output layer. With one input channel and no
bottleneck this model computes the same function as ``encoder: conv`` +
``separator: dprnn`` + ``decoder: conv`` (tested by copying weights).

With ``use_tac: true`` (after DPRNN-TAC / FaSNet-TAC) every microphone is
encoded by the same single-channel Conv1d, the DPRNN blocks run per microphone
and exchange information through transform-average-concatenate after each
block (ESPnet's ``DPRNN_TAC``, TAC width 3 x ``hidden_dim``); the masks of
microphone ``ref_channel`` are applied to that microphone's encoding. The model
then accepts any microphone count (``num_mics`` may be left unset) and ignores
the order of the non-reference microphones; it costs about C times the RNN
compute of the default model (13.5 s vs 1.1 s per CPU step in the benchmark).

References and ``ref_channel``
------------------------------
The outputs are single-channel, (B, T). ``ESPnetEnhancementModel.forward``
accepts ``speech_ref{n}`` either as (B, T) (the image of source n at the
reference microphone) or as (B, T, C): for time-domain losses
``_align_ref_pre_channels`` then keeps channel ``separator.ref_channel`` of
every reference (a separator without that attribute gives channel 0). The
same rule is used by ``enh_scoring`` (``--ref_channel``, default 0). The
default model learns whatever the references hold; ``ref_channel`` only
chooses the reference channel there (and the mask microphone with TAC), so
keep it equal to the channel the model was trained on. Note that
``enh_inference --ref_channel`` overwrites ``separator.ref_channel``.

Use time-domain criterions (``si_snr``, ``snr``, ...): with ``encoder: same``
ESPnet's frequency-domain losses would "encode" waveforms with the NullEncoder,
and the ``mask_spk{n}`` entries of ``others`` live on this separator's learned
basis, not on an STFT.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from espnet2.enh.layers.dprnn import DPRNN, DPRNN_TAC, merge_feature, split_feature
from espnet2.enh.separator.abs_separator import AbsSeparator

_NONLINEARITIES = {
    "relu": torch.nn.ReLU,
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
}


class MCDPRNNSeparator(AbsSeparator):
    """Multi-channel DPRNN-TasNet: (B, T, C) waveform in, ``num_spk`` (B, T) waveforms out."""

    def __init__(
        self,
        input_dim: int = 1,
        num_spk: int = 2,
        num_mics: int | None = None,
        ref_channel: int = 0,
        num_filters: int = 64,
        kernel_size: int = 16,
        stride: int = 8,
        bottleneck_dim: int | None = 64,
        hidden_dim: int = 128,
        chunk_size: int = 100,
        num_layers: int = 6,
        rnn_type: str = "lstm",
        bidirectional: bool = True,
        nonlinear: str = "relu",
        dropout: float = 0.0,
        use_tac: bool = False,
    ):
        """Build the separator.

        Args:
            input_dim: feature size given by ESPnet's encoder; ignored (``encoder: same``
                gives 1, the separator does its own encoding).
            num_spk: number of output sources.
            num_mics: microphones C of the input. Required without TAC (it is the
                ``in_channels`` of the front-end Conv1d); with TAC, None accepts any count.
            ref_channel: reference microphone; read by ESPnet to select the channel of
                multi-channel references, and with TAC the microphone whose masks are used.
            num_filters: N, number of learned basis filters of encoder and decoder.
            kernel_size: encoder/decoder filter length in samples.
            stride: encoder/decoder hop in samples.
            bottleneck_dim: D, channels after gLN + 1x1 conv; None feeds the N encoder
                channels to the DPRNN directly (as ESPnet's ``dprnn`` separator does).
            hidden_dim: hidden units of each RNN direction.
            chunk_size: K, frames per chunk; chunks overlap by 50 %.
            num_layers: number of dual-path (intra + inter chunk) blocks.
            rnn_type: "lstm", "gru" or "rnn".
            bidirectional: whether the inter-chunk RNN is bidirectional (intra is always).
            nonlinear: mask nonlinearity, "relu", "sigmoid" or "tanh".
            dropout: dropout on the RNN outputs.
            use_tac: per-microphone encoding + transform-average-concatenate after each block.
        """
        super().__init__()
        where = "separator_conf of separator 'mc_dprnn'"
        if num_spk < 1:
            raise ValueError(f"{where}: num_spk must be >= 1, got {num_spk}")
        if num_mics is None and not use_tac:
            raise ValueError(
                f"{where}: num_mics is required when use_tac is false "
                "(it is the in_channels of the front-end Conv1d)"
            )
        if num_mics is not None and not 0 <= ref_channel < num_mics:
            raise ValueError(f"{where}: ref_channel={ref_channel} not in [0, {num_mics})")
        if kernel_size < 1 or not 1 <= stride <= kernel_size:
            raise ValueError(
                f"{where}: need kernel_size >= 1 and 1 <= stride <= kernel_size, "
                f"got kernel_size={kernel_size}, stride={stride}"
            )
        if chunk_size < 2:
            raise ValueError(f"{where}: chunk_size must be >= 2, got {chunk_size}")
        if nonlinear not in _NONLINEARITIES:
            raise ValueError(
                f"{where}: nonlinear must be one of {sorted(_NONLINEARITIES)}, got {nonlinear!r}"
            )
        if rnn_type.upper() not in ("LSTM", "GRU", "RNN"):
            raise ValueError(f"{where}: rnn_type must be lstm, gru or rnn, got {rnn_type!r}")

        self._num_spk = num_spk
        self.num_mics = num_mics
        self.ref_channel = ref_channel
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.chunk_size = chunk_size
        self.use_tac = use_tac

        # With TAC every microphone goes through the same single-channel encoder.
        encoder_in = 1 if use_tac else num_mics
        self.encoder = torch.nn.Conv1d(
            encoder_in, num_filters, kernel_size, stride=stride, bias=False
        )
        if bottleneck_dim is None:
            self.bottleneck = torch.nn.Identity()
            rnn_dim = num_filters
        else:
            self.bottleneck = torch.nn.Sequential(
                torch.nn.GroupNorm(1, num_filters, eps=1e-8),  # gLN
                torch.nn.Conv1d(num_filters, bottleneck_dim, 1),
            )
            rnn_dim = bottleneck_dim
        dprnn_class = DPRNN_TAC if use_tac else DPRNN
        self.dprnn = dprnn_class(
            rnn_type=rnn_type,
            input_size=rnn_dim,
            hidden_size=hidden_dim,
            output_size=num_filters * num_spk,
            dropout=dropout,
            num_layers=num_layers,
            bidirectional=bidirectional,
        )
        self.nonlinear = _NONLINEARITIES[nonlinear]()
        self.decoder = torch.nn.ConvTranspose1d(
            num_filters, 1, kernel_size, stride=stride, bias=False
        )

    @property
    def num_spk(self) -> int:
        return self._num_spk

    def forward(
        self,
        input: torch.Tensor,
        ilens: torch.Tensor,
        additional: dict | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, OrderedDict]:
        """Separate a (multi-channel) mixture waveform.

        Args:
            input: mixture waveform (B, T, C), or (B, T) for one microphone.
            ilens: input lengths in samples (B,).
            additional: unused (ESPnet interface).

        Returns:
            separated: ``num_spk`` waveforms at the reference microphone, each (B, T).
            ilens: (B,), unchanged.
            others: ``mask_spk{n}`` (B, L, N) masks on the encoder frames.
        """
        mixture = self._as_batch_channel_time(input)  # (B, C, T)
        batch, _, num_samples = mixture.shape
        mixture = self._pad_to_frames(mixture)  # (B, C, T_pad)

        if self.use_tac:
            weights, masks = self._masks_tac(mixture)
        else:
            weights, masks = self._masks_joint(mixture)
        # weights (B, N, L); masks (B, num_spk, N, L)

        masked = (weights.unsqueeze(1) * masks).flatten(0, 1)  # (B*spk, N, L)
        waves = self.decoder(masked).view(batch, self.num_spk, -1)[..., :num_samples]
        separated = list(waves.unbind(dim=1))  # num_spk x (B, T)
        others = OrderedDict(
            (f"mask_spk{n + 1}", masks[:, n].transpose(1, 2)) for n in range(self.num_spk)
        )
        return separated, ilens, others

    def _masks_joint(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One Conv1d over all microphones, then a standard DPRNN.

        Args:
            mixture: (B, C, T_pad).

        Returns:
            weights (B, N, L) and masks (B, num_spk, N, L).
        """
        weights = torch.relu(self.encoder(mixture))  # (B, N, L)
        features = self.bottleneck(weights)  # (B, D, L)
        chunks, rest = split_feature(features, segment_size=self.chunk_size)  # (B, D, K, S)
        processed = self.dprnn(chunks)  # (B, N*spk, K, S)
        frames = merge_feature(processed, rest)  # (B, N*spk, L)
        return weights, self._frames_to_masks(frames)

    def _masks_tac(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared per-microphone encoder, DPRNN blocks with TAC across microphones.

        Args:
            mixture: (B, C, T_pad).

        Returns:
            weights (B, N, L) and masks (B, num_spk, N, L) of microphone ``ref_channel``.
        """
        batch, channels, _ = mixture.shape
        if not 0 <= self.ref_channel < channels:
            raise ValueError(
                f"mc_dprnn: ref_channel={self.ref_channel} but the input has {channels} channels"
            )
        weights = torch.relu(self.encoder(mixture.reshape(batch * channels, 1, -1)))  # (BC, N, L)
        features = self.bottleneck(weights)  # (B*C, D, L)
        chunks, rest = split_feature(features, segment_size=self.chunk_size)  # (B*C, D, K, S)
        chunks = chunks.view(batch, channels, *chunks.shape[1:])  # (B, C, D, K, S)
        # All-zero mic counts tell DPRNN_TAC to average over every channel.
        all_mics = torch.zeros(batch, dtype=torch.long, device=mixture.device)
        processed = self.dprnn(chunks, all_mics)  # (B*C, N*spk, K, S)
        processed = processed.view(batch, channels, *processed.shape[1:])[:, self.ref_channel]
        frames = merge_feature(processed, rest)  # (B, N*spk, L)
        masks = self._frames_to_masks(frames)
        ref_weights = weights.view(batch, channels, self.num_filters, -1)[:, self.ref_channel]
        return ref_weights, masks

    def _frames_to_masks(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N*spk, L) DPRNN output -> (B, spk, N, L) masks.

        Channel n * num_spk + j is mask bin n of source j, the layout of ESPnet's
        ``dprnn`` separator (so that its weights can be loaded here).
        """
        batch, _, num_frames = frames.shape
        frames = frames.view(batch, self.num_filters, self.num_spk, num_frames)
        return self.nonlinear(frames.transpose(1, 2))

    def _as_batch_channel_time(self, input: torch.Tensor) -> torch.Tensor:
        """Check the mixture and return it as (B, C, T)."""
        if torch.is_complex(input) or not torch.is_floating_point(input):
            raise TypeError(
                f"mc_dprnn expects a real floating-point waveform (use encoder: same), "
                f"got dtype {input.dtype}"
            )
        if input.dim() == 2:
            input = input.unsqueeze(-1)  # (B, T) -> (B, T, 1)
        if input.dim() != 3:
            raise ValueError(
                f"mc_dprnn expects speech_mix of shape (B, T) or (B, T, C), got "
                f"{tuple(input.shape)}; is encoder 'same'?"
            )
        channels = input.shape[-1]
        if self.num_mics is not None and channels != self.num_mics:
            raise ValueError(
                f"mc_dprnn was built with separator_conf.num_mics={self.num_mics} but "
                f"speech_mix has {channels} channel(s), shape {tuple(input.shape)} (B, T, C)"
            )
        return input.transpose(1, 2)

    def _pad_to_frames(self, mixture: torch.Tensor) -> torch.Tensor:
        """Zero-pad (B, C, T) at the end so that the frames cover every sample.

        Returns (B, C, T_pad) with T_pad = kernel + stride * (L - 1) >= T.
        """
        num_samples = mixture.shape[-1]
        num_frames = max(0, -(-(num_samples - self.kernel_size) // self.stride)) + 1
        padded = self.kernel_size + self.stride * (num_frames - 1)
        return torch.nn.functional.pad(mixture, (0, padded - num_samples))
