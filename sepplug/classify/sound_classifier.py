"""A small log-mel CNN sound classifier, differentiable w.r.t. its input waveform.

Made for semantic MixIT (Wisdom et al. 2021): a frozen classifier is applied to every
separated output, and the loss on its class predictions reaches the separator through the
waveform. Hence:

* the front end (STFT power -> mel -> log) is computed in torch, with no per-clip
  normalisation: ``log(mel + 1e-6)`` keeps the absolute level, so that a near-silent output
  looks silent (the recipe trains the classifier to predict no class on near-silence);
* the input batch norm over mel bins and the conv batch norms are plain affine maps in eval
  mode; :meth:`SoundClassifier.freeze` keeps the model in eval mode even when a trainer calls
  ``.train()`` on a parent module (ESPnet does, every epoch).

Cost (one CPU thread, default config): see ``sepplug/recipes/mixit_semantic/train_classifier``
and the report of issue #32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sepplug.errors import DataError
from sepplug.utils.atomic import atomic_torch_save

LOG_FLOOR = 1e-6  #: added to the mel power before the log (about -60 dB below a unit sine)
_FORMAT = "sepplug.sound_classifier.v1"


class SoundClassifier(nn.Module):
    """Log-mel front end, conv-BN-ReLU-pool blocks, global mean+max pooling, linear logits.

    Args:
        num_classes: K, the number of output logits (per-class sigmoids or a softmax).
        fs: sample rate the mel filterbank is built for (Hz).
        n_fft, hop_length: STFT size and hop (samples), Hann window, centred frames.
        n_mels: mel bands (0 Hz .. fs/2, librosa's Slaney filters).
        channels: output channels of the conv blocks; each block is a 3x3 conv, batch norm
            and ReLU. The first block's conv has stride 2 (it halves frames and mel bands:
            the full-resolution activations are most of the cost), the blocks after it but
            the last end with a 2x2 average pool.
        dropout: dropout before the linear layer (training only).
    """

    def __init__(
        self,
        num_classes: int,
        fs: int = 8000,
        n_fft: int = 256,
        hop_length: int = 128,
        n_mels: int = 40,
        channels: tuple[int, ...] = (16, 32, 64),
        dropout: float = 0.2,
    ):
        super().__init__()
        import librosa

        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not channels:
            raise ValueError("channels must name at least one conv block")
        self.config: dict[str, Any] = {
            "num_classes": int(num_classes), "fs": int(fs), "n_fft": int(n_fft),
            "hop_length": int(hop_length), "n_mels": int(n_mels),
            "channels": [int(c) for c in channels], "dropout": float(dropout),
        }
        self.num_classes = num_classes
        self.n_fft = n_fft
        self.hop_length = hop_length
        mel = librosa.filters.mel(sr=fs, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=fs / 2)
        self.register_buffer("mel_fb", torch.as_tensor(mel, dtype=torch.float32))  # (M, F)
        self.register_buffer("window", torch.hann_window(n_fft))
        self.input_norm = nn.BatchNorm1d(n_mels)  # over mel bins: a fixed affine in eval
        blocks: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(channels):
            blocks += [nn.Conv2d(c_in, c_out, 3, stride=2 if i == 0 else 1, padding=1,
                                 bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if 0 < i < len(channels) - 1:
                blocks.append(nn.AvgPool2d(2))
            c_in = c_out
        self.cnn = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * c_in, num_classes)
        self._frozen = False

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) waveform -> (B, n_mels, frames) log mel power, log(mel + 1e-6)."""
        spec = torch.stft(wav, self.n_fft, self.hop_length, window=self.window, center=True,
                          return_complex=True)  # (B, F, N)
        power = spec.real.square() + spec.imag.square()  # no sqrt: finite gradient at 0
        return torch.log(torch.matmul(self.mel_fb, power) + LOG_FLOOR)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) float waveform (full scale 1.0) at ``fs`` -> (B, K) logits."""
        if wav.dim() != 2:
            raise ValueError(f"expected a (B, T) waveform, got shape {tuple(wav.shape)}")
        feats = self.input_norm(self.log_mel(wav))  # (B, M, N)
        x = self.cnn(feats.transpose(1, 2).unsqueeze(1))  # (B, C, N', M')
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 2C)
        return self.head(self.dropout(pooled))

    def freeze(self) -> SoundClassifier:
        """No gradients to the weights, eval mode, and stay in eval mode on ``.train()``
        (the input gradient still flows). Returns self."""
        self.requires_grad_(False)
        self._frozen = True
        return super().train(False)

    def train(self, mode: bool = True) -> SoundClassifier:
        """As ``nn.Module.train``, except that a frozen classifier stays in eval mode."""
        return super().train(False if self._frozen else mode)


def save_classifier(path: Path | str, model: SoundClassifier, classes: list[str],
                    extra: dict | None = None) -> None:
    """Write the model (config, weights) and its class names atomically with torch.save."""
    if len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for a model of {model.num_classes} "
                         "classes")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"format": _FORMAT, "classes": list(classes),
                       "config": dict(model.config), "state_dict": state,
                       "extra": dict(extra or {})}, path)


def load_classifier(path: Path | str, map_location: str | torch.device = "cpu"
                    ) -> tuple[SoundClassifier, list[str]]:
    """Rebuild a classifier written by :func:`save_classifier`, in eval mode.

    Returns:
        (model, class names in label order).

    Raises:
        DataError: the file is missing, unreadable, or not a saved sound classifier.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"sound classifier file {path} does not exist")
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise DataError(f"cannot read sound classifier file {path}: {exc}") from exc
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        raise DataError(f"{path} is not a sound classifier written by "
                        "sepplug.classify.save_classifier")
    try:
        config = dict(saved["config"])
        config["channels"] = tuple(config["channels"])
        model = SoundClassifier(**config)
        model.load_state_dict(saved["state_dict"])
        classes = [str(c) for c in saved["classes"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"sound classifier file {path} is damaged: {exc}") from exc
    if len(classes) != model.num_classes:
        raise DataError(f"sound classifier file {path} names {len(classes)} classes for "
                        f"{model.num_classes} outputs")
    return model.to(map_location).eval(), classes
